"""A short-form family for the demo's tiny model: a few labelled containers each hold some
of one kind of thing, and the question asks for the count in one of them, named either by
its label ("in jar B") or by a comparison ("in the jar with the most"). The answer is read
off the statement, so a 2-layer byte-level model can learn it in minutes; the strategy
(which container to read, in the solution's own words, never the count) settles the
comparison for a guided rollout, which an unguided one has to make itself. The distractor
variant adds a count of another kind of thing to the same container.

    fam = SHORT_FAMILIES["lookup"]
    v = fam.numbers(rng, 2) | fam.names(rng)
    fam.original(v).question   # "Jar A has 4 pears. Jar B has 9 pears. How many pears are in the jar with the most?"

Its solutions are written by the short teacher (`pipeline.sample.short`), and it has the
numbers, names and distractor variants only (no reversed or extra-step form).
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import F, Calc, Family, Problem, Solution

THINGS = ("pears", "apples", "stamps", "marbles", "shells", "coins", "books", "pencils", "plums", "cards",
          "buttons", "kites", "candles", "stickers")
CONTAINERS = ("jar", "box", "bag", "tin", "crate", "basket")
LABELS = "ABCDEFGHJKLMNPRSTUVWXYZ"
ASKS = ("label", "most", "fewest")


class Lookup(Family):
    perturbations = ("numbers", "names", "distractor")
    short_form = True

    def __init__(self) -> None:
        super().__init__("lookup", {"backward_chaining": 1.0})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        # 2 or 3 containers, one-digit counts: a 2-layer byte-level model learns to copy a digit
        # within the demo's budget; two-digit counts and 4 containers it did not (measured)
        k = 2 + (difficulty == 3)
        counts = rng.sample(range(2, 10), k)
        return {"counts": counts, "ask": rng.choice(ASKS), "t": rng.randrange(k), "k_other": rng.randint(2, 9)}

    def names(self, rng: random.Random) -> dict:
        thing, other = rng.sample(THINGS, 2)
        return {"labels": rng.sample(LABELS, 4), "box": rng.choice(CONTAINERS), "thing": thing, "other": other}

    def _target(self, v: dict) -> int:
        counts = v["counts"]
        if v["ask"] == "most":
            return counts.index(max(counts))
        if v["ask"] == "fewest":
            return counts.index(min(counts))
        return v["t"] % len(counts)

    def _name(self, v: dict, i: int) -> str:
        return f"{v['box'].capitalize()} {v['labels'][i]}"

    def original(self, v: dict) -> Problem:
        counts, thing, box = v["counts"], v["thing"], v["box"]
        facts = tuple(f"{self._name(v, i)} has {c} {thing}." for i, c in enumerate(counts))
        t = self._target(v)
        which = {"label": f"{box} {v['labels'][t]}", "most": f"the {box} with the most",
                 "fewest": f"the {box} with the fewest"}[v["ask"]]
        calc = Calc(f"the number of {thing} in {box} {v['labels'][t]}", f"{self._name(v, t)} has {counts[t]} {thing}",
                    F(counts[t]))
        sol = Solution(plan=(f"decide which {box} the question means", "read off its count"), calcs=(calc,))
        return Problem(self.name, facts, f"How many {thing} are in {which}?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return f"{self._name(v, self._target(v))} has {v['k_other']} {v['other']}."

    def reversed(self, v: dict) -> Problem:
        raise NotImplementedError("the lookup family has no reversed form")

    def extra_step(self, v: dict) -> Problem:
        raise NotImplementedError("the lookup family has no extra-step form")
