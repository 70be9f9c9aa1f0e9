"""The annotate, describe and agreement stages on a real DuckLake in tmp_path, through the
stage functions and through the CLI.

    .venv/bin/pytest tests/test_annotate_stages.py
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotators import SpanOut, Tagger, TagResult, LLMUsage, get_describer, get_tagger
from annotators.leakage import leakage_flags
from pipeline.agreement import agreement
from pipeline.annotate import annotate
from pipeline.cli import app
from pipeline.describe import describe
from schemas import Problem, Span, Trajectory, Verdict, content_id, normalise_text, text_sha, to_arrow
from warehouse import Lake

QUESTIONS = [
    ("Ann buys 4 pens at $3 each. How much does she pay?", "12",
     "To solve this, I need to find the total cost. 4 x 3 = 12.\nLet me check: 12 / 3 = 4, which matches.\n"
     "The answer is \\boxed{12}."),
    ("A train goes 60 miles in 2 hours. What is its speed?", "30",
     "Recall that speed is distance divided by time. 60 / 2 = 30.\nWait, that's wrong? No, it is right.\n"
     "The answer is \\boxed{30}."),
    ("Bob has 5 apples and eats 2. How many are left?", "3",
     "Step 1: subtract. 5 - 2 = 3.\nThe answer is \\boxed{3}."),
]


def _problem_rows():
    problems, trajectories = [], []
    for i, (q, a, text) in enumerate(QUESTIONS):
        pid = content_id("problem", "test", normalise_text(q), a)
        problems.append(Problem(problem_id=pid, source="test" if i < 2 else "other", question=q,
                                reference_answer=a, family="shopping" if i == 0 else None))
        trajectories.append(Trajectory(
            trajectory_id=content_id("trajectory", pid, "teacher", text_sha(text)), problem_id=pid,
            teacher="teacher", text=text, text_sha=text_sha(text), n_chars=len(text)))
    return problems, trajectories


def _fill(lk: Lake) -> None:
    """The three problems, one trajectory each, every trajectory judged correct."""
    problems, trajectories = _problem_rows()
    lk.insert("problems", to_arrow(problems, Problem))
    lk.insert("trajectories", to_arrow(trajectories, Trajectory))
    lk.insert("verdicts", to_arrow([Verdict(trajectory_id=t.trajectory_id, extracted_answer="x", extraction="boxed",
                                            is_correct=True, checker_version="t", run_id="r")
                                    for t in trajectories], Verdict))


@pytest.fixture
def lake(lake_root: Path):
    with Lake.open(lake_root) as lk:
        _fill(lk)
        yield lk


def test_annotate_writes_validated_spans_and_is_idempotent(lake):
    tagger = get_tagger("rules")
    report = annotate(lake, tagger, batch_size=2)
    assert report.counts["read"] == 3 and report.counts["tagged"] == 3
    spans = lake.query("SELECT * FROM spans ORDER BY trajectory_id, start").to_pylist()
    assert spans and report.counts["written.spans"] == len(spans) == report.counts["spans.proposed"]
    texts = dict(lake.rows("SELECT trajectory_id, text FROM trajectories"))
    for s in spans:
        assert s["annotator"] == "rules" and s["annotator_kind"] == "rule" and s["annotator_version"] == tagger.version
        assert s["run_id"] == report.run_id and s["alignment"] == "segment"
        assert s["text_sha"] == text_sha(texts[s["trajectory_id"]]) and 0 <= s["start"] < s["end"] <= len(texts[s["trajectory_id"]])
    assert lake.scalar("SELECT status FROM runs WHERE run_id = ?", [report.run_id]) == "ok"
    again = annotate(lake, tagger)
    assert again.counts.get("read", 0) == 0 and lake.count("spans") == len(spans)


def test_annotate_filters_by_source_and_limit(lake):
    assert annotate(lake, get_tagger("rules"), source="other").counts["read"] == 1
    assert annotate(lake, get_tagger("rules"), limit=1).counts["read"] == 1


class BadTagger(Tagger):
    """Returns one good span, out-of-range and unknown-label spans, an error, and LLM calls."""

    kind, name, version = "llm", "fake-llm", "0"

    def tag(self, items):
        out = []
        for i, it in enumerate(items):
            calls = [LLMUsage(cache_key=f"k{it.item_id}", model="m", attempt=1, status="http_429", cost_usd=None),
                     LLMUsage(cache_key=f"k{it.item_id}", model="m", attempt=2, status="ok", tokens_in=10,
                              tokens_out=5, cost_usd=0.5)]
            if i == 0:
                out.append(TagResult(it.item_id, error="model gave up", calls=calls))
            else:
                out.append(TagResult(it.item_id, spans=[
                    SpanOut(0, 5, "planning", 0.9, "exact"), SpanOut(0, 10_000, "planning"),
                    SpanOut(0, 5, "astrology"), SpanOut(5, 5, "recall")], calls=calls))
        return out


def test_annotate_quarantines_bad_spans_and_errors_and_records_calls(lake):
    report = annotate(lake, BadTagger())
    c = report.counts
    assert c["read"] == 3 and c["tagged"] == 2 and c["failed"] == 1
    assert c["spans.proposed"] == 8 and c["spans.rejected"] == 6 and c["written.spans"] == 2
    assert c["quarantined"] == 7
    reasons = [r[0] for r in lake.rows("SELECT reason FROM quarantine ORDER BY reason")]
    assert sum("beyond text length" in r for r in reasons) == 2
    assert sum("unknown label 'astrology'" in r for r in reasons) == 2
    assert sum("start < end" in r for r in reasons) == 2
    assert sum("model gave up" in r for r in reasons) == 1
    assert lake.count("llm_calls") == 6
    assert (report.tokens_in, report.tokens_out, report.cost_usd) == (30, 15, None)  # one unpriced attempt


class QuietTagger(Tagger):
    """Finds nothing in the first item, fails on the second, one span in the rest."""

    kind, name, version = "rule", "quiet", "1"

    def tag(self, items):
        return [TagResult(it.item_id) if i == 0 else TagResult(it.item_id, error="flaky") if i == 1
                else TagResult(it.item_id, spans=[SpanOut(0, 4, "planning")]) for i, it in enumerate(items)]


def test_annotate_counts_a_pass_with_no_spans_as_done_and_retries_failures(lake):
    first = annotate(lake, QuietTagger())
    assert (first.counts["read"], first.counts["no_spans"], first.counts["failed"]) == (3, 1, 1)
    done = lake.rows("SELECT n_spans, annotator_kind, run_id FROM tagged ORDER BY n_spans")
    assert done == [(0, "rule", first.run_id), (1, "rule", first.run_id)]
    again = annotate(lake, QuietTagger())  # only the failed item is pending; it is now the first item
    assert again.counts["read"] == 1 and again.counts.get("failed", 0) == 0 and lake.count("tagged") == 3
    assert annotate(lake, QuietTagger()).counts.get("read", 0) == 0


def test_describe_writes_ranked_leak_free_candidates(lake):
    annotate(lake, get_tagger("rules"))
    report = describe(lake, get_describer("rules", k=3))
    assert report.counts["read"] == 3 and report.counts["described"] == 3
    rows = lake.query("SELECT s.*, p.question, p.reference_answer FROM strategies s JOIN problems p USING (problem_id)").to_pylist()
    assert len(rows) == report.counts["candidates"] and report.counts["leak_free"] == len(rows)
    for pid in {r["problem_id"] for r in rows}:
        mine = [r for r in rows if r["problem_id"] == pid]
        assert sorted(r["rank"] for r in mine) == list(range(1, len(mine) + 1))
        assert not any(r["selected"] for r in mine)
    for r in rows:
        assert r["leakage_flags"] == [] and r["annotator_kind"] == "rule"
        assert leakage_flags([r["problem_type"], r["approach"], *r["steps"]], r["question"], r["reference_answer"]) == []
    assert describe(lake, get_describer("rules", k=3)).counts.get("read", 0) == 0  # resumable: nothing left


class LeakyDescriber:
    kind, name, version = "llm", "leaky", "0"

    def describe(self, items):
        from annotators import DescribeResult, Description
        return [DescribeResult(it.problem_id, it.trajectory_id, candidates=[
            Description("t", f"the answer is {it.reference_answer}", ["add"], score=0.9, rank=1),
            Description("t", "add things", ["multiply by 977"], score=0.8, rank=2),
            Description("t", "combine the quantities", ["check"], score=0.1, rank=3)]) for it in items]


def test_describe_flags_and_never_ranks_leaking_candidates(lake):
    describe(lake, LeakyDescriber())
    rows = lake.query("SELECT approach, leakage_flags, rank FROM strategies ORDER BY problem_id, score DESC").to_pylist()
    assert len(rows) == 9
    for i in range(0, 9, 3):
        leak_answer, leak_number, clean = rows[i: i + 3]
        assert any(f.startswith("answer:") for f in leak_answer["leakage_flags"]) and leak_answer["rank"] is None
        assert leak_number["leakage_flags"] == ["number:977"] and leak_number["rank"] is None
        assert clean["leakage_flags"] == [] and clean["rank"] == 1


def test_agreement_against_gold_and_between_annotators(lake):
    annotate(lake, get_tagger("rules"))
    rule_spans = lake.query("SELECT * FROM spans").to_pylist()
    gold = [Span(**{**s, "span_id": s["span_id"] + "g", "annotator_kind": "gold", "annotator": "procedural-teacher",
                    "alignment": "gold", "annotator_version": "", "confidence": None}) for s in rule_spans]
    lake.insert("spans", to_arrow(gold, Span))
    result, meta = agreement(lake, "rules", "gold")
    assert meta["trajectories_both"] == 3 and result.exact.f1 == 1.0 and result.overall_kappa == 1.0
    assert all(r.alpha == 1.0 for r in result.labels.values())
    result, _ = agreement(lake, "procedural-teacher", "rules", label="planning")
    assert list(result.labels) == ["planning"] and result.labels["planning"].overlap.f1 == 1.0


runner = CliRunner()


def test_cli_annotate_describe_agreement(lake_root):
    with Lake.open(lake_root) as lk:
        _fill(lk)
    root = ["--root", str(lake_root)]
    r = runner.invoke(app, ["annotate", *root])
    assert r.exit_code == 0, r.output
    assert "written.spans" in r.output
    r = runner.invoke(app, ["describe", *root, "-k", "2"])
    assert r.exit_code == 0 and "leak_free" in r.output, r.output
    with Lake.open(lake_root) as lk:
        assert lk.scalar("SELECT max(n) FROM (SELECT count(*) AS n FROM strategies GROUP BY problem_id)") == 2
        lk.rows("DELETE FROM lake.strategies")
    r = runner.invoke(app, ["describe", *root])  # K defaults to 5
    assert r.exit_code == 0, r.output
    with Lake.open(lake_root, read_only=True) as lk:
        config = json.loads(lk.scalar("SELECT config FROM runs WHERE stage = 'describe' ORDER BY started_at DESC"))
        most = lk.scalar("SELECT max(n) FROM (SELECT count(*) AS n FROM strategies GROUP BY problem_id)")
    assert config["k"] == 5 and 2 < most <= 5
    r = runner.invoke(app, ["agreement", "--a", "rules", "--b", "rules", "--json", *root])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["overall_kappa"] == 1.0 and data["a"].startswith("rules@")
    r = runner.invoke(app, ["agreement", "--a", "rules", "--b", "rules", *root])
    assert r.exit_code == 0 and "kappa" in r.stdout and "alpha" in r.stdout and "planning" in r.stdout
    r = runner.invoke(app, ["agreement", "--a", "nobody", "--b", "gold", *root])
    assert r.exit_code == 2 and "no spans from annotator 'nobody'" in r.output


def test_cli_bad_input_is_one_line_exit_2(lake_root, tmp_path, monkeypatch):
    import annotators.base as base

    dup = tmp_path / "dup.toml"
    label = '[[labels]]\nname = "planning"\ndescription = "d"\ncolor = "#000000"\nhotkey = "{k}"\n'
    dup.write_text('name = "d"\nversion = "1"\n' + label.format(k="a") + label.format(k="b"))
    for cmd in (["annotate"], ["describe"]):
        r = runner.invoke(app, [*cmd, "--root", str(lake_root), "--taxonomy", str(dup)])
        assert r.exit_code == 2 and "duplicate name 'planning'" in r.output and len(r.output.strip().splitlines()) == 1
    monkeypatch.setattr(base, "_TAGGERS", {k: v for k, v in base._TAGGERS.items() if k != "llm"})
    r = runner.invoke(app, ["annotate", "--root", str(lake_root), "--annotator", "llm",
                            "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert r.exit_code == 2 and "annotator 'llm' is not available" in r.output
    r = runner.invoke(app, ["annotate", "--root", str(lake_root), "--annotator", "llm"])
    assert r.exit_code == 2 and "needs --base-url and --model" in r.output
    r = runner.invoke(app, ["agreement", "--a", "x", "--b", "gold", "--root", str(tmp_path / "nolake")])
    assert r.exit_code == 2 and "no lake" in r.output


def test_annotate_whitespace_and_megabyte_texts(lake):
    pid = lake.scalar("SELECT min(problem_id) FROM problems")
    big = ("Let me check the sum again.\n" + "x " * 80 + "\n") * 5300  # about 1 MB
    rows = [Trajectory(trajectory_id=f"ws-{i}", problem_id=pid, teacher="t", text=t, text_sha=text_sha(t), n_chars=len(t))
            for i, t in enumerate([" \n\t ", big])]
    lake.insert("trajectories", to_arrow(rows, Trajectory))
    report = annotate(lake, get_tagger("rules"))
    assert report.counts["read"] == 5 and report.counts["failed"] == 1 and report.counts["tagged"] == 4
    assert "empty or whitespace" in lake.scalar("SELECT reason FROM quarantine WHERE locator = 'ws-0'")
    assert lake.scalar("SELECT count(*) FROM spans WHERE trajectory_id = 'ws-1' AND label = 'verification'") == 5300


def test_cli_annotate_and_describe_with_the_llm_annotators(lake_root, monkeypatch):
    from llm_server import LLMTestServer  # tests/ is on sys.path (rootdir conftest)

    with Lake.open(lake_root) as lk:
        _fill(lk)
    monkeypatch.setenv("STRATAGEM_TEST_KEY", "sk-secret-never-stored")
    with LLMTestServer() as server:
        flags = ["--root", str(lake_root), "--annotator", "llm", "--base-url", server.url, "--model", "test-model",
                 "--api-key-env", "STRATAGEM_TEST_KEY", "--max-retries", "0", "--timeout", "10"]
        server.inject("bad_label", times=1)
        r = runner.invoke(app, ["annotate", *flags])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["describe", *flags, "-k", "2"])
        assert r.exit_code == 0, r.output
    with Lake.open(lake_root, read_only=True) as lk:
        counts = {stage: json.loads(c) for stage, c in lk.rows("SELECT stage, counts FROM runs")}
        assert counts["annotate"]["read"] == 3
        assert counts["annotate"]["tagged"] + counts["annotate"].get("failed", 0) == 3  # every item: spans or an error
        assert lk.scalar("SELECT count(*) FROM spans WHERE annotator_kind = 'llm'") > 0
        assert lk.scalar("SELECT count(*) FROM llm_calls") >= 3
        assert counts["describe"]["described"] + counts["describe"].get("failed", 0) == 3
        dump = " ".join(str(v) for row in lk.rows("SELECT * FROM runs") for v in row)
        assert "sk-secret" not in dump and "STRATAGEM_TEST_KEY" in dump


def test_cli_llm_endpoint_down_is_one_message_and_writes_nothing(lake_root):
    import socket

    with Lake.open(lake_root) as lk:
        _fill(lk)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for cmd in ("annotate", "describe"):
        r = runner.invoke(app, [cmd, "--root", str(lake_root), "--annotator", "llm", "--base-url",
                                f"http://127.0.0.1:{port}/v1", "--model", "m", "--max-retries", "0", "--timeout", "2"])
        assert r.exit_code == 1 and "cannot reach" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    with Lake.open(lake_root, read_only=True) as lk:
        assert lk.count("spans") == lk.count("strategies") == lk.count("runs") == 0


def test_llm_run_config_never_records_credentials():
    from pipeline.flags import llm_run_config

    config = llm_run_config({"base_url": "https://user:s3cret@api.example.com:8443/v1?key=s3cret", "model": "m",
                             "api_key_env": "OPENAI_API_KEY"})
    assert config == {"base_url": "https://api.example.com:8443/v1", "model": "m", "api_key_env": "OPENAI_API_KEY"}
