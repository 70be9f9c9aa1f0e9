"""The rules describer: a leak-free strategy description from the span sequence and the
problem family, so `stratagem describe` works offline with no LLM.

    describer = get_describer("rules", k=5)            # or RulesDescriber(k=5)
    [result] = describer.describe([DescribeItem(problem_id, question, answer, traj_id, text, spans, family)])
    result.candidates[0]   # Description(problem_type, approach, steps, leakage_flags, score, rank)

Candidates (up to k, distinct, best first):
  1. grounded: one step per run of equal labels, worded as the trajectory's own span (its
     first sentence up to a colon) when that holds no formula and passes the leakage filter, else the label's template;
  2. templated: the same sequence, one template sentence per label;
  3. general: each label once, in order of first use;
  4. compact: the general one cut to its first three steps;
  5. generic: a family-level recipe that ignores the spans.
Every candidate goes through the leakage filter (`annotators.leakage`): no number that is
not in the question, never the answer. Score: faithfulness to the span sequence, a
sensible number of steps, and a heavy penalty for any leak.
"""
from __future__ import annotations

import re
from typing import Sequence

from annotators.base import DescribeItem, DescribeResult, Describer, Description
from annotators.leakage import leakage_flags, strip_numbers
from schemas.taxonomy import Taxonomy, load_taxonomy

DESCRIBER_VERSION = "1"

STEP_TEMPLATES = {
    "planning": "Decide on the overall approach before doing any arithmetic.",
    "decomposition": "Break the problem into intermediate quantities and find each one in turn.",
    "recall": "Recall the fact, rate or formula that links the given quantities.",
    "case_analysis": "Split the situation into its possible cases and handle each case separately.",
    "exploration": "Try a simple example or a guess to see how the quantities behave.",
    "backward_chaining": "Work backwards from what the question asks for to the quantities it depends on.",
    "verification": "Check the result against every condition stated in the question.",
    "backtracking": "If an intermediate value looks inconsistent, go back and correct that step.",
}
IDENTIFY_STEP = "Identify what the question asks for and which given quantities it depends on."
APPROACH_PHRASES = {
    "planning": "plan the route to the answer first",
    "decomposition": "split the work into intermediate quantities",
    "recall": "bring in the relevant known facts",
    "case_analysis": "treat each case on its own",
    "exploration": "probe the problem with simple trial values",
    "backward_chaining": "reason backwards from the goal",
    "verification": "check the result at the end",
    "backtracking": "correct any step that turns out inconsistent",
}
_TYPE_HINTS = [
    (r"\bpercent|%", "percentage problem"), (r"\bprobabilit|\bchance\b", "probability problem"),
    (r"\barea\b|\bperimeter\b|\bvolume\b|\btriangle\b|\bcircle\b", "geometry problem"),
    (r"\bhow many ways\b|\barrange", "counting problem"), (r"\bspeed\b|\bmph\b|\bper hour\b|\brate\b", "rate problem"),
    (r"\byears? old\b|\bage\b", "age problem"), (r"\bcost|\bprice|\bbuys?\b|\bdollars?\b|\$", "money word problem"),
]
_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$|\\[a-zA-Z]+|[=+*/^<>×÷−]|\{|\}")


def problem_type(item: DescribeItem) -> str:
    if item.family:
        return strip_numbers(item.family.replace("_", " ").replace("-", " ")) + " word problem"
    for pattern, name in _TYPE_HINTS:
        if re.search(pattern, item.question, re.IGNORECASE):
            return name
    return "multi-step word problem"


def _label_runs(item: DescribeItem) -> list[tuple[str, int, int]]:
    runs: list[tuple[str, int, int]] = []
    for sp in sorted(item.spans, key=lambda s: (s.start, s.end)):
        if runs and runs[-1][0] == sp.label:
            runs[-1] = (sp.label, runs[-1][1], sp.end)
        else:
            runs.append((sp.label, sp.start, sp.end))
    return runs


def _grounded_step(text: str, item: DescribeItem) -> str | None:
    """A span's first sentence (or its part before a colon) as a step, when it holds no
    formula, does not leak and says enough."""
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0].strip()
    for cand in (first, re.split(r"[:=]", first, maxsplit=1)[0].strip(" ,;-")):
        if _MATH.search(cand) or not 5 <= len(cand.split()) <= 30:
            continue
        if sum(ch.isalpha() or ch.isspace() for ch in cand) < 0.85 * len(cand):
            continue
        if leakage_flags([cand], item.question, item.reference_answer):
            continue
        cand = cand[0].upper() + cand[1:]
        return cand if cand.endswith((".", "?", "!")) else cand + "."
    return None


def describer_version(taxonomy: Taxonomy) -> str:
    """The rules describer's version with this taxonomy (what `describe` and `status` key pending work on)."""
    return f"{DESCRIBER_VERSION}+{taxonomy.name}@{taxonomy.version}"


class RulesDescriber(Describer):
    kind = "rule"
    name = "rules"

    def __init__(self, k: int = 5, taxonomy: Taxonomy | None = None, **_ignored):
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k
        self.taxonomy = taxonomy or load_taxonomy()
        self.version = describer_version(self.taxonomy)

    def _template(self, label: str) -> str:
        if label in STEP_TEMPLATES:
            return STEP_TEMPLATES[label]
        try:
            return "Apply this strategy: " + strip_numbers(self.taxonomy.label(label).description)
        except KeyError:
            return "Work through the next part of the problem."

    def _approach(self, labels: Sequence[str]) -> str:
        phrases = [APPROACH_PHRASES.get(lab, lab.replace("_", " ")) for lab in dict.fromkeys(labels)]
        if not phrases:
            return "Identify the given quantities, combine them step by step, and check the result."
        body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        return body[0].upper() + body[1:] + "."

    def _candidates(self, item: DescribeItem) -> list[tuple[str, list[str], float]]:
        runs = _label_runs(item)
        labels = [r[0] for r in runs]
        distinct = list(dict.fromkeys(labels))
        text = item.trajectory or ""
        grounded = [_grounded_step(text[s:e], item) or self._template(lab) for lab, s, e in runs]
        out = []
        if len(grounded) == 1:  # one strategy seen: frame it with what every solution does
            grounded = [IDENTIFY_STEP, *grounded]
        if runs:
            out.append((self._approach(labels), grounded, 1.0))
            out.append((self._approach(labels), [self._template(lab) for lab in labels], 0.9))
            out.append((self._approach(distinct), [self._template(lab) for lab in distinct], 0.8))
            out.append((self._approach(distinct[:3]), [self._template(lab) for lab in distinct[:3]], 0.6))
        out.append((self._approach([]), [
            IDENTIFY_STEP,
            "Compute the intermediate quantities one at a time, in the order they are needed.",
            "Combine them into the requested quantity.",
            "Check the result against the conditions in the question."], 0.5))
        return out

    def _score(self, base: float, steps: list[str], flags: list[str]) -> float:
        shape = 1.0 if 2 <= len(steps) <= 8 else 0.7
        return round(base * shape - (1.0 if flags else 0.0), 4)

    def describe(self, items: Sequence[DescribeItem]) -> list[DescribeResult]:
        results = []
        for item in items:
            if not (item.question or "").strip():
                results.append(DescribeResult(item.problem_id, item.trajectory_id, error="empty question"))
                continue
            ptype = problem_type(item)
            seen: set[tuple] = set()
            cands = []
            for approach, steps, base in self._candidates(item):
                steps = list(dict.fromkeys(steps))  # a run repeated verbatim says nothing new
                key = (approach, tuple(steps))
                if key in seen:
                    continue
                seen.add(key)
                flags = leakage_flags([ptype, approach, *steps], item.question, item.reference_answer)
                cands.append(Description(problem_type=ptype, approach=approach, steps=steps,
                                         leakage_flags=flags, score=self._score(base, steps, flags)))
            cands.sort(key=lambda d: -d.score)
            ranked = [Description(d.problem_type, d.approach, d.steps, d.leakage_flags, d.score, rank=i + 1)
                      for i, d in enumerate(cands[: self.k])]
            results.append(DescribeResult(item.problem_id, item.trajectory_id, candidates=ranked))
        return results
