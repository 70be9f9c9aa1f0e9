"""`stratagem verify --judge llm` against the loopback server (tests/llm_server.py): only unknown
(and with --judge-low-confidence low-confidence) verdicts are sent, judge verdicts are written
with method "judge" and the model, a reply that is not the JudgeReply JSON is counted and
leaves the verdict unknown, every attempt lands in llm_calls, a rerun sends nothing new and
answers already received come from the cache, the API key appears nowhere; killed and rerun,
the judge verdicts and the spend equal an uninterrupted run's.

    .venv/bin/python -m pytest tests/test_verify_judge.py -q
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_server import LLMTestServer, kill_when_settled
from test_llm_kill import _check_spend_and_journal as check_spend_and_journal
from pipeline.cli import app
from schemas import Problem, Verdict, to_arrow
from test_verify import add
from warehouse import Lake

KEY = "sk-judge-secret-4711"
REPO = Path(__file__).resolve().parents[1]


class JudgeServer(LLMTestServer):
    """The loopback server taught the judge's requests (system prompt "answer judge"), scripted by
    the solution's words: "forty-two" -> correct, "give up" -> unknown, "(garbled)" -> a reply
    that is not JSON, anything else -> incorrect. Faults and every other kind as in LLMTestServer."""

    def _handler_class(self):
        base = super()._handler_class()

        class Handler(base):
            def _answer(self, body, kind, fault, options):
                if fault is not None or "answer judge" not in body["messages"][0]["content"]:
                    return super()._answer(body, kind, fault, options)
                first = next(m["content"] for m in body["messages"] if m["role"] == "user")  # re-asks append
                solution = first.split("Solution:\n", 1)[1]
                if "(garbled)" in solution:
                    content = "I would say it is probably right."
                else:
                    verdict = "correct" if "forty-two" in solution else "unknown" if "give up" in solution \
                        else "incorrect"
                    said = re.search(r"gives ([\w-]+)", solution)
                    content = json.dumps({"verdict": verdict, "final_answer": said.group(1) if said else None,
                                          "reason": "scripted"})
                usage = {"prompt_tokens": len(json.dumps(body["messages"])) // 4,
                         "completion_tokens": max(1, len(content) // 4)}
                payload = {"id": "chatcmpl-judge", "object": "chat.completion", "created": 0, "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}],
                           "usage": usage | {"total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}}
                self.usage = (usage["prompt_tokens"], usage["completion_tokens"])
                self._send(200, json.dumps(payload).encode())
                return 200

        return Handler


TEXTS = {"right": "Counting the pairs gives forty-two in the end.",
         "wrong": "Counting the pairs gives thirteen in the end.",
         "lost": "I give up on this one.",
         "garbled": "Counting the pairs (garbled) in the end.",
         "boxed": "So \\boxed{42}."}


def make_lake(root) -> dict[str, str]:
    with Lake.open(root) as lake:
        ids = add(lake, [Problem(problem_id="p", source="s", question="How many pairs?", reference_answer="42"),
                         Problem(problem_id="open", source="s", question="Anything?", reference_answer=None)],
                  [("p", t) for t in TEXTS.values()] + [("open", "no idea at all")])
    return dict(zip([*TEXTS, "open"], ids))


def judge_rows(root) -> dict[str, tuple]:
    with Lake.open(root, read_only=True) as lake:
        return {tid: rest for tid, *rest in lake.rows(
            "SELECT trajectory_id, outcome, extraction, extracted_answer, is_correct FROM verdicts "
            "WHERE judge_model = 'test-model'")}


def run_verify(root, server, *extra):
    result = CliRunner().invoke(app, ["verify", "--root", str(root), "--judge", "llm", "--base-url", server.url,
                                      "--model", "test-model", "--api-key-env", "JUDGE_KEY", *extra],
                                env={"JUDGE_KEY": KEY, "STRATAGEM_LLM_VALIDATION_RETRIES": "1"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert KEY not in result.output
    return result.output


def test_judge_only_unknowns_writes_judge_verdicts_and_survives_a_bad_reply(lake_root):
    ids = make_lake(lake_root)
    with JudgeServer() as server:
        output = run_verify(lake_root, server)
        sent = [r for r in server.log if r.status == 200]
        assert len(sent) == 3 + 2  # right, wrong, lost once; garbled asked and re-asked once
        assert re.search(r"failed\s+│\s+1\b", output) and re.search(r"requests\s+│\s+5\b", output)
        rows = judge_rows(lake_root)
        assert rows == {ids["right"]: ["correct", "judge", "forty-two", True],
                        ids["wrong"]: ["incorrect", "judge", "thirteen", False],
                        ids["lost"]: ["unknown", "judge", None, None]}
        with Lake.open(lake_root, read_only=True) as lake:
            current = dict(lake.rows("SELECT trajectory_id, outcome FROM current_verdicts"))
            assert current[ids["right"]] == "correct" and current[ids["garbled"]] == "unknown"
            assert current[ids["boxed"]] == "correct" and current[ids["open"]] == "no_reference"
            calls = lake.rows("SELECT status, count(*) FROM llm_calls GROUP BY 1 ORDER BY 1")
            assert calls == [("invalid", 2), ("ok", 3)]
            run = lake.rows("SELECT counts, config, tokens_in FROM runs WHERE config LIKE '%judge-v1%'")
            assert len(run) == 1 and run[0][2] > 0
            assert json.loads(run[0][0])["failed"] == 1
            reasons = lake.rows("SELECT locator, reason FROM quarantine WHERE stage = 'verify'")
            assert reasons and reasons[0][0] == ids["garbled"]
            stored = json.dumps([lake.rows(f"SELECT * FROM {t}") for t in ("runs", "quarantine", "llm_calls")],
                                default=str)
            assert KEY not in stored

        # rerun: only the item that failed is pending, and its answer failed validation: that answer
        # is cached, so the rerun records the same failure without a request
        n = len(server.log)
        output = run_verify(lake_root, server)
        assert len(server.log) == n
        assert re.search(r"failed\s+│\s+1\b", output) and re.search(r"cached\s+│\s+1\b", output)
        assert len(judge_rows(lake_root)) == 3
        # --retry-failed asks it again on purpose (asked and re-asked once); the others keep their verdict
        output = run_verify(lake_root, server, "--retry-failed")
        assert len([r for r in server.log[n:] if r.status == 200]) == 2
        assert len(judge_rows(lake_root)) == 3

        # judge verdicts lost (as by a kill after the answers were received): answers come from the cache,
        # the garbled one's failure too
        with Lake.open(lake_root) as lake, lake.transaction():
            lake.rows("DELETE FROM lake.verdicts WHERE judge_model IS NOT NULL")
        n = len(server.log)
        output = run_verify(lake_root, server)
        assert len(server.log) == n
        assert re.search(r"cached\s+│\s+4\b", output)
        assert judge_rows(lake_root) == rows


def test_low_confidence_verdicts_are_judged_only_when_asked(lake_root):
    ids = make_lake(lake_root)
    with JudgeServer() as server:
        run_verify(lake_root, server)
        with Lake.open(lake_root) as lake:  # a decided rule verdict of low extraction confidence
            with lake.transaction():
                lake.rows("DELETE FROM lake.verdicts WHERE trajectory_id = ?", [ids["wrong"]])
            version = lake.scalar("SELECT any_value(checker_version) FROM verdicts")
            lake.insert("verdicts", to_arrow([Verdict(
                trajectory_id=ids["wrong"], extracted_answer="13", extraction="last_number", outcome="incorrect",
                confidence=0.3, is_correct=False, checker_version=version, run_id="r")], Verdict))
        n = len(server.log)
        run_verify(lake_root, server)
        assert len(server.log) == n  # the garbled one's failed answer is cached; nothing else is pending
        output = run_verify(lake_root, server, "--judge-low-confidence")
        assert len(server.log) == n  # "wrong" was answered before: cached, as is the garbled failure
        assert re.search(r"cached\s+│\s+2\b", output)
        assert judge_rows(lake_root)[ids["wrong"]] == ["incorrect", "judge", "thirteen", False]


def test_an_unreachable_judge_keeps_the_rule_verdicts_and_fails_in_one_line(lake_root):
    from net import free_port

    make_lake(lake_root)
    result = CliRunner().invoke(app, ["verify", "--root", str(lake_root), "--judge", "llm", "--base-url",
                                      f"http://127.0.0.1:{free_port()}/v1", "--model", "m", "--max-retries", "0"],
                                terminal_width=200)
    assert result.exit_code == 1 and "cannot reach the LLM endpoint" in result.output
    assert "Traceback" not in result.output
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.count("verdicts") == len(TEXTS) + 1
        assert lake.scalar("SELECT count(*) FROM verdicts WHERE judge_model IS NOT NULL") == 0


@pytest.mark.parametrize("n", [3, 4])  # inside batch 1, at the batch boundary
def test_judge_killed_then_rerun_equals_an_uninterrupted_run(tmp_path, n):
    """SIGKILL the real CLI with n judge answers received, rerun: the judge verdicts equal an
    uninterrupted run's, no answer is asked for twice, llm_calls spend equals what was served."""
    texts = [f"Counting the pairs gives {'forty-two' if i % 2 else 'thirteen'} in case {i}." for i in range(8)]
    roots = {}
    for name in ("lake", "reference"):
        with Lake.open(tmp_path / name) as lake:
            add(lake, [Problem(problem_id="p", source="s", question="How many pairs?", reference_answer="42")],
                [("p", t) for t in texts])
        roots[name] = tmp_path / name
    flags = ["--judge", "llm", "--model", "test-model", "--judge-batch-size", "4", "--concurrency", "2",
             "--max-retries", "0"]
    with JudgeServer() as uninterrupted:
        result = CliRunner().invoke(app, ["verify", "--root", str(roots["reference"]), *flags,
                                          "--base-url", uninterrupted.url])
        assert result.exit_code == 0, result.output
    cmd = [sys.executable, "-m", "pipeline.cli", "verify", "--root", str(roots["lake"]), *flags]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with JudgeServer(hang_s=30) as server:
        server.hold_after(n)
        succeeded = kill_when_settled(cmd + ["--base-url", server.url], roots["lake"] / "cache" / "llm", n, server,
                                      cwd=REPO, env=env)
        assert len(succeeded) >= n
        n_first = len(server.log)
        server.release()
        rerun = subprocess.run(cmd + ["--base-url", server.url], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=180)
        assert rerun.returncode == 0, rerun.stderr
    assert [r for r in server.log[n_first:] if r.status != 0 and r.body_sha in succeeded] == []
    query = "SELECT trajectory_id, outcome, extracted_answer, judge_model FROM verdicts WHERE judge_model IS NOT NULL"
    assert sorted(judge_rows_of(roots["lake"], query)) == sorted(judge_rows_of(roots["reference"], query))
    assert len(judge_rows_of(roots["lake"], query)) == 8
    check_spend_and_journal(roots["lake"], server, uninterrupted)


def judge_rows_of(root, query: str) -> list[tuple]:
    with Lake.open(root, read_only=True) as lake:
        return lake.rows(query)
