"""The LLM judge of `stratagem verify --judge llm`: a second opinion on the verdicts the rule
checker could not decide.

    stratagem verify --judge llm --base-url http://127.0.0.1:8000/v1 --model M [--judge-low-confidence]

Sends each rule verdict of the current checker version whose outcome is `unknown` (with
`low_confidence`, also correct / incorrect ones whose extraction confidence is below
LOW_CONFIDENCE) and that has no verdict from this judge model yet, to an OpenAI-compatible
model through the project's client (llm/client.py: instructor schema `JudgeReply`,
request cache, retries, spend journal). Its answer becomes a verdict with method "judge",
`judge_model` the model and the same checker version; `current_verdicts` then prefers it.
A failed or malformed answer is counted (failed), quarantined with the scrubbed error and
written nowhere, so the verdict stays unknown. The next run asks again after a transport
failure (timeout, 429, 5xx); an answer that failed validation is cached and recorded as the
same failure without a request, unless `retry_failed` (llm/client.py FINAL_FAILURES). Every
attempt is an `llm_calls` row; tokens and cost are summed on the run.

Counts: read = correct + incorrect + unknown + failed; requests, cached (answers from the cache).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from annotators.answers import CORRECT, INCORRECT, UNKNOWN
from llm import public_url
from llm.client import LLMClient
from pipeline import pending as pending_rows
from pipeline.pending import checker_version
from pipeline.shards import Shard
from pipeline.stage import BatchedStage, BatchOut
from pipeline.verify.stage import LOW_CONFIDENCE
from schemas import Verdict
from warehouse import Lake, RunReport

PROMPT_VERSION = "judge-v1"
MAX_QUESTION_CHARS = 4_000
MAX_SOLUTION_CHARS = 8_000  # the end of a solution is kept: that is where its answer is
BATCH = 64  # verdicts judged per committed batch

SYSTEM = (
    "You are an answer judge for math solutions. Given a problem, its reference answer and a "
    "solution, decide whether the solution's FINAL answer is equivalent to the reference answer "
    "(the same value or set, possibly in another form; for multiple choice the same option). "
    "Judge only the final answer, not the reasoning. Say unknown when the solution states no "
    "final answer. Answer with JSON only: "
    '{"verdict": "correct" | "incorrect" | "unknown", "final_answer": "<the solution\'s final answer, '
    'or null>", "reason": "<one short sentence>"}.')


class JudgeReply(BaseModel):
    """What the judge model must answer (the instructor response model)."""

    verdict: Literal["correct", "incorrect", "unknown"]
    final_answer: str | None = Field(default=None, max_length=1000)
    reason: str = Field(default="", max_length=1000)


@dataclass(frozen=True)
class JudgeItem:
    trajectory_id: str
    question: str
    reference: str
    text: str


class LLMJudge:
    """The judge's client and prompt. Args: the `LLMClient` arguments (base_url, model,
    concurrency, max_retries, timeout_s, api_key_env, cache_dir, ...), max_tokens."""

    def __init__(self, *, base_url: str, model: str, max_tokens: int = 256, **client_kwargs):
        self.client = LLMClient(base_url, model, **client_kwargs)
        self.model = model
        self.sampling = {"temperature": 0.0, "max_tokens": max_tokens}

    def config(self) -> dict:
        c = self.client
        return {"judge": "llm", "base_url": public_url(c.base_url), "model": self.model,
                "prompt_version": PROMPT_VERSION, "checker_version": checker_version(),
                "concurrency": c.concurrency, "max_retries": c.max_retries, "timeout_s": c.timeout_s}

    @staticmethod
    def messages(item: JudgeItem) -> list[dict]:
        text = item.text if len(item.text) <= MAX_SOLUTION_CHARS else "..." + item.text[-MAX_SOLUTION_CHARS:]
        user = (f"Problem:\n{item.question[:MAX_QUESTION_CHARS]}\n\nReference answer: {item.reference}\n\n"
                f"Solution:\n{text}")
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    async def ask(self, session, item: JudgeItem):
        return await session.chat(self.messages(item), sampling=self.sampling, prompt_version=PROMPT_VERSION,
                                  response_model=JudgeReply)

    def judge(self, items: list[JudgeItem], on_done=None) -> list:
        return self.client.run(self.ask, items, on_done, item_ids=[it.trajectory_id for it in items])


def pending(lake: Lake, model: str, low_confidence: bool, shard: Shard | None = None) -> list[JudgeItem]:
    """The verdicts `model` would judge now (pipeline.pending.judge_rows), of `shard` when given."""
    rows = pending_rows.judge_rows(lake, checker_version(), model, low_confidence=low_confidence,
                                   threshold=LOW_CONFIDENCE, shard=shard)
    return [JudgeItem(*row) for row in rows]


class Judge(BatchedStage):
    """The pending verdicts (module docstring) sent to `judge`; recorded as a verify run."""

    name = "verify"

    def __init__(self, judge: LLMJudge, *, low_confidence: bool, batch_size: int, shard: Shard | None = None):
        self.judge, self.low_confidence, self.batch_size, self.shard = judge, low_confidence, batch_size, shard
        self.client = judge.client

    def config(self) -> dict:
        return self.judge.config() | {"low_confidence": self.low_confidence, "low_confidence_below": LOW_CONFIDENCE,
                                      "batch_size": self.batch_size}

    def label(self) -> str:
        return f"judge ({self.judge.model})"

    def pending(self, lake: Lake) -> list[JudgeItem]:
        return pending(lake, self.judge.model, self.low_confidence, self.shard)

    def process(self, items: list[JudgeItem], on_done) -> list:
        return self.judge.judge(items, on_done)

    def item_id(self, item: JudgeItem) -> str:
        return item.trajectory_id

    def failure(self, item, o) -> str | None:
        return None if o.error is None else f"llm judge {self.judge.model} failed: {o.status}"

    def quarantined_raw(self, item, o) -> str:
        return o.error

    def start(self, run) -> None:
        for outcome in (CORRECT, INCORRECT, UNKNOWN, "failed"):
            run.count(outcome, 0)

    def accept(self, item: JudgeItem, o, out: BatchOut) -> None:
        reply: JudgeReply = o.value
        out.count(reply.verdict)
        out.add("verdicts", [Verdict(
            trajectory_id=item.trajectory_id, extracted_answer=reply.final_answer, extraction="judge",
            outcome=reply.verdict, confidence=None, is_correct={CORRECT: True, INCORRECT: False}.get(reply.verdict),
            checker_version=checker_version(), run_id=out.run.run_id, judge_model=self.judge.model)])


def judge_verdicts(lake: Lake, judge: LLMJudge, *, low_confidence: bool = False, batch_size: int = BATCH,
                   progress=None, shard: Shard | None = None) -> RunReport:
    """Ask `judge` about every pending verdict (module docstring; of `shard` when given); returns
    the run report. Raises llm.client.EndpointUnreachable (the batch in progress rolled back)."""
    return Judge(judge, low_confidence=low_confidence, batch_size=batch_size, shard=shard).run(
        lake, progress=progress)
