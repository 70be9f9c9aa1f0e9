"""A short-form family for the demo's tiny model: several people each own some of one kind
of thing, and the question asks for one person's count. The answer is read off the
statement, so a 2-layer byte-level model can learn it in minutes; the strategy (which
quantity the question asks for, worded as the solution will word it) tells a guided
rollout where to look, and the distractor variant adds another count for the same person.

    fam = SHORT_FAMILIES["lookup"]
    v = fam.numbers(rng, 2) | fam.names(rng)
    fam.original(v).question   # "Ava has 4 pears. Ben has 9 pears. ... How many pears does Ben have?"

Its solutions are written by the short teacher (`pipeline.sample.short`), and it has the
numbers, names and distractor variants only (no reversed or extra-step form).
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import PEOPLE, F, Calc, Family, Problem, Solution

THINGS = ("pears", "apples", "stamps", "marbles", "shells", "coins", "books", "pencils", "plums", "cards",
          "buttons", "kites", "candles", "stickers")


class Lookup(Family):
    perturbations = ("numbers", "names", "distractor")
    short_form = True

    def __init__(self) -> None:
        super().__init__("lookup", {"backward_chaining": 1.0})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        k = 1 + difficulty                               # 2, 3 or 4 people
        counts = rng.sample(range(2, 10 + 10 * difficulty), k)
        return {"counts": counts, "t": rng.randrange(k), "k_other": rng.randint(2, 9 + 10 * difficulty)}

    def names(self, rng: random.Random) -> dict:
        thing, other = rng.sample(THINGS, 2)
        return {"people": rng.sample(PEOPLE, 4), "thing": thing, "other": other}

    def _target(self, v: dict) -> str:
        return v["people"][v["t"]]

    def original(self, v: dict) -> Problem:
        people, counts, thing = v["people"], v["counts"], v["thing"]
        facts = tuple(f"{p} has {c} {thing}." for p, c in zip(people, counts))
        who, count = self._target(v), counts[v["t"]]
        calc = Calc(f"the number of {thing} {who} has", f"{who} has {count} {thing}", F(count))
        sol = Solution(plan=(f"find the sentence about {who}'s {thing}", "read off the count"), calcs=(calc,))
        return Problem(self.name, facts, f"How many {thing} does {who} have?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return f"{self._target(v)} has {v['k_other']} {v['other']}."

    def reversed(self, v: dict) -> Problem:
        raise NotImplementedError("the lookup family has no reversed form")

    def extra_step(self, v: dict) -> Problem:
        raise NotImplementedError("the lookup family has no extra-step form")
