"""GSM-Plus-style variants of a seed problem, each with its answer computed exactly.

    problem = make_variant(family, v, seed_problem, "distractor", rng, difficulty)

- numbers:    the same story with new numbers
- names:      the same numbers with new people and objects
- distractor: an irrelevant sentence (with a number) added to the statement
- reversed:   a given quantity becomes the unknown and the seed's answer becomes given
- extra_step: one more operation after the seed's answer
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import PERTURBATIONS, Family, Problem


def _redraw(family: Family, v: dict, seed_question: str, draw) -> Problem:
    """Redraw part of `v` until the question text changes (a few tries; the last one stands)."""
    problem = None
    for _ in range(8):
        problem = family.original(v | draw())
        if problem.question != seed_question:
            break
    return problem


def make_variant(family: Family, v: dict, seed_problem: Problem, perturbation: str, rng: random.Random,
                 difficulty: int) -> Problem:
    """The `perturbation` variant of `seed_problem` (= family.original(v))."""
    seed_question = seed_problem.question
    if perturbation == "numbers":
        return _redraw(family, v, seed_question, lambda: family.numbers(rng, difficulty))
    if perturbation == "names":
        return _redraw(family, v, seed_question, lambda: family.names(rng))
    if perturbation == "distractor":
        return seed_problem.with_distractor(family.distractor(v, rng), rng.randint(1, len(seed_problem.facts)))
    if perturbation == "reversed":
        return family.reversed(v)
    if perturbation == "extra_step":
        return family.extra_step(v)
    raise ValueError(f"unknown perturbation {perturbation!r} (known: {', '.join(PERTURBATIONS)})")
