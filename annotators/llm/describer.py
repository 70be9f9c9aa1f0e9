"""The LLM strategy describer: K candidate descriptions of how to solve a problem, ranked.

From a problem and a correct teacher trajectory (and its spans, when there are any), the
model writes `problem_type`, `approach` and `steps[]`: how to reason, never what to answer.
K candidates (default 5) are sampled as K separate requests (sample index in the cache
key), each validated by the pydantic answer model (re-asked on failure). Every candidate is
checked for leaks (the gold answer, or numbers not in the question, after numeric
normalisation; annotators/leakage.py) and flagged; ranking puts leak-free candidates first, then by a score for
being general and clear. The describe stage excludes flagged ones.

    describer = get_describer("llm", k=5, base_url=URL, model=M, cache_dir=root / "cache" / "llm")  # after `import llm`
    [result] = describer.describe([DescribeItem(problem_id, question, "42", traj_id, text, spans)])
    result.candidates[0]   # best Description, leakage_flags == [] when leak-free
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, Field, field_validator

from annotators.base import Description, DescribeItem, DescribeResult, Describer, LLMUsage
from annotators.leakage import leakage_flags
from annotators.llm.annotator import LLMAnnotator
from schemas import Taxonomy

PROMPT_VERSION = "describe-v1"
MAX_TRAJECTORY_CHARS = 12_000

class StrategyAnswer(BaseModel):
    problem_type: str = Field(min_length=3, max_length=200, description="What kind of problem this is, in general terms.")
    approach: str = Field(min_length=10, max_length=1000, description="The overall approach, without any numbers worked out.")
    steps: list[str] = Field(min_length=1, max_length=12, description="Ordered steps of the method, no computed values.")

    @field_validator("steps")
    @classmethod
    def _steps_nonempty(cls, steps: list[str]) -> list[str]:
        steps = [s.strip() for s in steps]
        if any(not s for s in steps):
            raise ValueError("every step must be a non-empty sentence")
        return steps


def score(d: StrategyAnswer, seen_labels: Sequence[str] = ()) -> float:
    """Higher is better. Clear: a moderate number of concise steps and a substantive approach;
    faithful: a small bonus per strategy seen in the solution's spans that the text names
    (leaks are ranked apart, by their flags)."""
    n = len(d.steps)
    s = 0.8 - 0.1 * max(0, 2 - n) - 0.05 * max(0, n - 8)
    s -= 0.1 * sum(len(step) > 300 for step in d.steps)
    s -= 0.1 * (len(d.approach) < 30)
    text = " ".join([d.approach, *d.steps]).lower()
    s += min(0.2, 0.05 * sum(_LABEL_WORDS.get(label, label) in text for label in set(seen_labels)))
    return round(max(0.0, s), 4)


_LABEL_WORDS = {"planning": "plan", "decomposition": "break", "recall": "recall", "case_analysis": "case",
                "exploration": "try", "backward_chaining": "backward", "verification": "check",
                "backtracking": "revis"}


def system_prompt(taxonomy: Taxonomy) -> str:
    labels = ", ".join(taxonomy.names)
    return (
        "You are a strategy describer for math problems. Given a problem and a correct worked solution, "
        "describe HOW to solve problems like it: the problem type, the approach, and the ordered steps of the "
        "method. Never include the final answer, intermediate results or any number that is not already in "
        f"the problem. Useful strategy words: {labels}. Answer with JSON only: "
        '{"problem_type": "...", "approach": "...", "steps": ["...", "..."]}.')


class LLMDescriber(LLMAnnotator, Describer):
    """Strategy descriptions from any OpenAI-compatible chat model (see module docstring).

    Args: client (annotators/llm/annotator.py), k (candidates per problem), taxonomy,
    temperature (for sampling the K candidates), max_tokens per answer.
    """

    def __init__(self, client, *, k: int = 5, taxonomy: Taxonomy | str | Path | None = None,
                 temperature: float = 0.7, max_tokens: int = 512):
        if k < 1:
            raise ValueError("k must be >= 1")
        self.setup(client, taxonomy, PROMPT_VERSION, temperature, max_tokens)
        self.k = k
        self._system = system_prompt(self.taxonomy)

    def describe(self, items, on_done=None) -> list[DescribeResult]:
        items = list(items)
        return self.client.run(self._describe_one, items, on_done, item_ids=[it.problem_id for it in items])

    async def _describe_one(self, session, item: DescribeItem) -> DescribeResult:
        if not (item.question or "").strip():
            return DescribeResult(item.problem_id, item.trajectory_id, error="empty question")
        messages = self._messages(item)
        candidates: list[tuple[StrategyAnswer, list[str]]] = []
        calls: list[LLMUsage] = []
        errors: list[str] = []
        for i in range(self.k):
            outcome = await session.chat(messages, sampling=self.sampling, prompt_version=self.version,
                                         response_model=StrategyAnswer, key_extra={"candidate": i})
            calls.extend(outcome.calls)
            if outcome.error is not None:
                errors.append(outcome.error)
                continue
            d = outcome.value
            candidates.append((d, leakage_flags([d.problem_type, d.approach, *d.steps], item.question,
                                                item.reference_answer)))
        if not candidates:
            return DescribeResult(item.problem_id, item.trajectory_id, error=f"no valid candidate: {errors[0]}",
                                  calls=calls)
        seen = [s.label for s in item.spans]
        ranked = sorted(candidates, key=lambda c: (bool(c[1]), -score(c[0], seen)))
        out = [Description(d.problem_type, d.approach, list(d.steps), flags, score(d, seen), rank)
               for rank, (d, flags) in enumerate(ranked, start=1)]
        return DescribeResult(item.problem_id, item.trajectory_id, candidates=out, calls=calls)

    def _messages(self, item: DescribeItem) -> list[dict]:
        parts = [f"Problem:\n{item.question.strip()}"]
        if item.family:
            parts.append(f"Problem family: {item.family}")
        if item.trajectory:
            parts.append(f"Correct solution:\n{item.trajectory[:MAX_TRAJECTORY_CHARS]}")
        if item.spans:
            used = list(dict.fromkeys(s.label for s in sorted(item.spans, key=lambda s: s.start)))
            parts.append("Strategies seen in the solution, in order: " + ", ".join(used))
        return [{"role": "system", "content": self._system}, {"role": "user", "content": "\n\n".join(parts)}]
