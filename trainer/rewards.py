"""Reward functions with TRL's signature `f(prompts, completions, **kwargs) -> list[float]`, so
the same functions run under TRL's GRPOTrainer (dataset column `solution` = reference answer).

    correctness_reward(prompts, completions, solution=["42", ...])          # 1.0 / 0.0 via the answer checker
    strategy_alignment_reward(prompts, completions, solution=[...], strategy_plan=[[...], ...])
    combined = make_reward([correctness_reward, strategy_alignment_reward], [1.0, 0.2])

The strategy-alignment reward is the optional extension of DESIGN section 7: the rules tagger
(registered as "rules" in annotators, when present) labels the rollout; the reward is the
Jaccard overlap of its label set with the labels of the reference plan, and 0 unless the
rollout is correct.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

from annotators.answers import is_correct

RewardFn = Callable[..., list[float]]


def completion_text(completion) -> str:
    """A completion as TRL passes it: a string, or a list of chat messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role", "assistant") == "assistant")


def _references(n: int, solution=None, answer=None) -> list[str]:
    refs = solution if solution is not None else answer
    if refs is None:
        raise ValueError("reward needs the reference answers as `solution=` (or `answer=`)")
    if len(refs) != n:
        raise ValueError(f"{len(refs)} references for {n} completions")
    return [str(r) for r in refs]


def correctness_reward(prompts: Sequence, completions: Sequence, solution=None, answer=None, **kwargs) -> list[float]:
    refs = _references(len(completions), solution, answer)
    return [1.0 if is_correct(completion_text(c), r) else 0.0 for c, r in zip(completions, refs)]


@functools.lru_cache(maxsize=1)
def rules_tagger():
    """The rules tagger, built once per process (the strategy reward and `eval --strategies`).
    It needs polars; where that is missing the error says so, rather than a reward of 0.0."""
    try:
        import annotators.rules  # noqa: F401  (registers "rules")
        from annotators import get_tagger
    except ImportError as exc:
        raise RuntimeError(f"the strategy reward and `eval --strategies` need the rules tagger, which could not "
                           f"be imported ({exc}); install stratagem with its dependencies, or set "
                           f"strategy_reward_weight=0") from exc
    return get_tagger("rules")


def strategy_alignment_reward(prompts: Sequence, completions: Sequence, solution=None, answer=None,
                              strategy_plan=None, **kwargs) -> list[float]:
    refs = _references(len(completions), solution, answer)
    if strategy_plan is None:
        return [0.0] * len(completions)
    tagger = rules_tagger()
    from annotators import TagItem

    texts = [completion_text(c) for c in completions]
    results = tagger.tag([TagItem(str(i), t) for i, t in enumerate(texts)])
    out = []
    for text, ref, plan, result in zip(texts, refs, strategy_plan, results):
        want = {s["label"] if isinstance(s, dict) else s.label for s in (plan or [])}
        got = {s.label for s in result.spans}
        if not is_correct(text, ref) or not (want or got):
            out.append(0.0)
        else:
            out.append(len(want & got) / len(want | got))
    return out


def make_reward(functions: Sequence[RewardFn], weights: Sequence[float]) -> RewardFn:
    def reward(prompts, completions, **kwargs) -> list[float]:
        total = [0.0] * len(completions)
        for fn, w in zip(functions, weights):
            if w:
                for i, r in enumerate(fn(prompts, completions, **kwargs)):
                    total[i] += w * r
        return total
    return reward


__all__ = ["completion_text", "correctness_reward", "make_reward", "rules_tagger", "strategy_alignment_reward"]
