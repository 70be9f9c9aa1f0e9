"""The generate stage: sample teacher trajectories for problems from any OpenAI-compatible endpoint.

    report = generate(lake, LLMClient(url, "gpt-4o-mini", cache_dir=root / "cache" / "llm"), samples=4)
    (the command, pipeline/generate/command.py: stratagem generate --base-url URL --model M ...)

For each selected problem it asks for K samples with the shared prompt
(question + "Solve the problem step by step. Put the final answer in \\boxed{}.") through the
LLM client (llm/client.py: concurrency, retry-after backoff, timeouts,
request cache under <root>/cache/llm, per-attempt tokens and cost). Each answer lands in
`trajectories` with teacher = the model and the sampling parameters (and sample index) in
`sampling`; `finish_reason: length` marks it `truncated`. Every HTTP attempt (and every
cached answer) becomes an `llm_calls` row; tokens and cost are summed on the run.

Resume / idempotency: a (problem, sample) is done when a trajectory with the same teacher and
sampling exists, so a rerun only asks for what is missing; batches commit as they finish and
the request cache holds every answer received, so a killed run never pays twice. Counts
satisfy read = accepted + duplicates + quarantined + failed (failed requests are retried by
the next run). An endpoint that cannot be reached stops the run with one message and
rolls back the batch in progress. Paid attempts are journalled the moment they are read and a
killed run's journal is replayed into `llm_calls` by the next run (pipeline/stage.py),
so llm_calls holds every token paid for, once. `verify` then judges the new trajectories.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from llm import public_url
from pipeline.pending import shard_condition, shard_params
from pipeline.shards import Shard
from pipeline.stage import BatchedStage, BatchOut
from schemas import Trajectory, content_id, normalise_text, text_sha
from schemas.export import PROMPT_SUFFIX
from warehouse import Lake, RunReport

PROMPT_VERSION = "generate-v1"


def prompt_messages(question: str) -> list[dict]:
    return [{"role": "user", "content": question + PROMPT_SUFFIX}]


def select_problem_ids(lake: Lake, where: str) -> list[str]:
    """problem_ids matching a user's SQL condition, checked to be a single SELECT (use a read-only
    lake); a condition DuckDB rejects raises LakeError with its first line."""
    return lake.select(f"SELECT problem_id FROM problems WHERE ({where})").column(0).to_pylist()


@dataclass(frozen=True)
class Work:
    problem_id: str
    question: str
    sample: int


def pending_work(lake: Lake, teacher: str, sampling: dict, samples: int, problem_ids: list[str] | None,
                 shard: Shard | None = None) -> list[Work]:
    """(problem, sample index) pairs with no trajectory from this teacher and sampling yet, of the
    problems in `shard` when given (pipeline.pending.shard_condition)."""
    sql = f"SELECT problem_id, question FROM problems p WHERE {shard_condition('p')}"
    params: dict = shard_params(shard)
    if problem_ids is not None:
        sql += " AND problem_id IN (SELECT unnest(CAST($ids AS VARCHAR[])))"
        params["ids"] = problem_ids
    problems = lake.rows(sql + " ORDER BY problem_id", params)
    done = set()
    for problem_id, stored in lake.rows("SELECT problem_id, sampling FROM trajectories WHERE teacher = ?", [teacher]):
        try:
            s = json.loads(stored) if isinstance(stored, str) else (stored or {})
        except ValueError:
            continue
        if {k: s.get(k) for k in sampling} == sampling and "sample" in s:
            done.add((problem_id, s["sample"]))
    return [Work(p, q, k) for p, q in problems for k in range(samples) if (p, k) not in done]


class Generate(BatchedStage):
    name = "generate"

    def __init__(self, client, *, samples: int, temperature: float, max_tokens: int,
                 problem_ids: list[str] | None, batch_size: int, shard: Shard | None = None):
        self.client, self.samples, self.problem_ids, self.batch_size = client, samples, problem_ids, batch_size
        self.shard = shard
        self.api = {"temperature": temperature, "max_tokens": max_tokens}
        self.sampling = self.api | {"prompt_version": PROMPT_VERSION}

    def config(self) -> dict:
        c = self.client
        return {"base_url": public_url(c.base_url), "model": c.model, "samples": self.samples,
                "temperature": self.api["temperature"], "max_tokens": self.api["max_tokens"],
                "concurrency": c.concurrency, "max_retries": c.max_retries, "timeout_s": c.timeout_s,
                "prompt_version": PROMPT_VERSION, "problems": "all" if self.problem_ids is None else len(self.problem_ids)}

    def pending(self, lake: Lake) -> list[Work]:
        return pending_work(lake, self.client.model, self.sampling, self.samples, self.problem_ids, self.shard)

    async def _ask(self, session, w: Work):
        return await session.chat(prompt_messages(w.question), sampling=self.api, prompt_version=PROMPT_VERSION,
                                  key_extra={"sample": w.sample})

    def process(self, items: list[Work], on_done) -> list:
        return self.client.run(self._ask, items, on_done, item_ids=[w.problem_id for w in items])

    def item_id(self, item: Work) -> str:
        return item.problem_id

    def accept(self, w: Work, o, out: BatchOut) -> None:
        text = normalise_text(o.value or "")
        if not text.strip():
            out.quarantine(f"{w.problem_id}#sample{w.sample}", "empty completion from the model",
                           json.dumps({"finish_reason": o.finish_reason}))
            return
        truncated = o.finish_reason == "length"
        if truncated:
            out.count("truncated")
        teacher = self.client.model
        out.add("trajectories", [Trajectory(
            trajectory_id=content_id("trajectory", w.problem_id, teacher, text_sha(text)),
            problem_id=w.problem_id, teacher=teacher, text=text, text_sha=text_sha(text), n_chars=len(text),
            truncated=truncated, sampling={**self.sampling, "sample": w.sample, "finish_reason": o.finish_reason},
            run_id=out.run.run_id)], new="accepted", duplicates="duplicates")

    def start(self, run) -> None:
        run.count("accepted", 0)
        run.count("duplicates", 0)


def generate(lake: Lake, client, *, samples: int = 1, temperature: float = 0.0, max_tokens: int = 1024,
             problem_ids: list[str] | None = None, batch_size: int = 64, progress=None,
             shard: Shard | None = None) -> RunReport:
    """Sample `samples` trajectories per problem (of `shard`, when given) from `client` (an
    llm.client.LLMClient).

    Raises llm.client.EndpointUnreachable (batch in progress rolled back) when the
    endpoint cannot be reached.
    """
    return Generate(client, samples=samples, temperature=temperature, max_tokens=max_tokens,
                    problem_ids=problem_ids, batch_size=batch_size, shard=shard).run(lake, progress=progress)
