"""Counting and area families: outfits with a forbidden pairing (solved by cases), and
the area of a path around a rectangular garden.

    from pipeline.sample.families.counting import Outfits, GardenPath
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import F, Calc, Family, Guess, Problem, Solution, money, num, two_people

CLOTHES = (("shirts", "shirt", "pairs of pants", "pair of pants"), ("blouses", "blouse", "skirts", "skirt"),
           ("jackets", "jacket", "pairs of trousers", "pair of trousers"), ("sweaters", "sweater", "pairs of jeans", "pair of jeans"),
           ("t-shirts", "t-shirt", "pairs of shorts", "pair of shorts"), ("tunics", "tunic", "pairs of leggings", "pair of leggings"))
EXTRAS = ("hats", "scarves", "belts", "caps")
COLOURS = ("red", "green", "yellow", "purple", "orange", "striped", "checked", "white")
PLOTS = ("garden", "lawn", "vegetable patch", "flower bed", "pond", "playground")


class Outfits(Family):
    def __init__(self) -> None:
        super().__init__("combinatorics", {"planning": 0.5, "decomposition": 0.3, "recall": 0.6, "verification": 0.6,
                                           "backward_chaining": 0.1, "exploration": 0.45})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        return {"s": rng.randint(3, 4 + 2 * difficulty), "p": rng.randint(2, 3 + 2 * difficulty),
                "h": rng.randint(2, 4) if difficulty >= 2 else 1, "mins": rng.randint(2, 6), "k_other": rng.randint(2, 9)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        top, top1, bottom, bottom1 = rng.choice(CLOTHES)
        c1, c2 = rng.sample(COLOURS, 2)
        return {"P": p, "Q": q, "top": top, "top1": top1, "bottom": bottom, "bottom1": bottom1,
                "extra": rng.choice(EXTRAS), "c1": c1, "c2": c2}

    def _one(self, v: dict, which: str) -> str:
        return f"the {v['c1']} {v['top1']}" if which == "top" else f"the {v['c2']} {v['bottom1']}"

    def _statement(self, v: dict, shirts: str | None = None) -> tuple[str, ...]:
        s = shirts or str(v["s"])
        facts = [f"{v['P']} has {s} {v['top']}, one of them {v['c1']}, and {v['p']} {v['bottom']}, one of them {v['c2']}."]
        if v["h"] > 1:
            facts.append(f"{v['P']} also has {v['h']} {v['extra']} and wears exactly one with every outfit.")
        facts.append(f"{v['P']} never wears {self._one(v, 'top')} with {self._one(v, 'bottom')}.")
        return tuple(facts)

    def _calcs(self, v: dict) -> list[Calc]:
        s, p, h = v["s"], v["p"], v["h"]
        hx = f" × {h}" if h > 1 else ""
        c1 = Calc(f"the outfits with {self._one(v, 'top')}", f"({p} − 1){hx}" if h > 1 else f"{p} − 1", F((p - 1) * h), fact=0,
                  case=f"{v['P']} wears {self._one(v, 'top')}")
        c2 = Calc(f"the outfits with one of the other {v['top']}", f"({s} − 1) × {p}{hx}", F((s - 1) * p * h), fact=0,
                  case=f"{v['P']} wears one of the other {s - 1} {v['top']}")
        total = Calc("the number of outfits", f"{num(c1.value)} + {num(c2.value)}", c1.value + c2.value)
        return [c1, c2, total]

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("by the multiplication principle, the number of ways to make independent choices is the product of the numbers of options",)

    def _check(self, v: dict) -> str:
        s, p, h = v["s"], v["p"], v["h"]
        hx = f" × {h}" if h > 1 else ""
        return f"without the rule there would be {s} × {p}{hx} = {s * p * h} outfits, and the banned pairing removes {h}, leaving {s * p * h - h}"

    def original(self, v: dict) -> Problem:
        top = v["top"]
        sol = Solution(plan=(f"split on whether {self._one(v, 'top')} is worn", "count each case and add"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v),
                       case_split=f"which {v['top1']} {v['P']} picks",
                       guesses=(Guess(f"a smaller wardrobe of 2 {top} and 2 {v['bottom']} with the same ban",
                                      "there are 2 × 2 = 4 pairings and the banned one leaves 3, one less than the product", True),))
        return Problem(self.name, self._statement(v), f"How many different outfits can {v['P']} make?", sol)

    def reversed(self, v: dict) -> Problem:
        s, p, h = v["s"], v["p"], v["h"]
        total = s * p * h - h
        hx = f" × {h}" if h > 1 else ""
        calcs = [Calc("the outfits without the rule", f"{total} + {h}", F(total + h)),
                 Calc(f"the number of {v['top']}", f"{total + h} ÷ ({p}{hx})", F(s), fact=0)]
        sol = Solution(plan=("add back the banned combinations", f"divide by the choices of {v['bottom']}" + (f" and {v['extra']}" if h > 1 else "")),
                       calcs=tuple(calcs), facts=self._facts(v), check=self._check(v),
                       need=(f"the number of {v['top']}", "the number of outfits there would be without the rule"))
        facts = self._statement(v, shirts="some") + (f"In all, {v['P']} can make {total} different outfits.",)
        return Problem(self.name, facts, f"How many {v['top']} does {v['P']} have?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        t = Calc("the time for all the photos", f"{num(calcs[-1].value)} × {v['mins']}", calcs[-1].value * v["mins"], unit=" minutes")
        sol = Solution(plan=("count the outfits case by case", "multiply by the minutes per photo"),
                       calcs=tuple(calcs + [t]), facts=self._facts(v), check=self._check(v),
                       case_split=f"which {v['top1']} {v['P']} picks")
        facts = self._statement(v) + (f"Photographing one outfit takes {v['mins']} minutes.",)
        return Problem(self.name, facts, "How many minutes does it take to photograph every possible outfit once?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"{v['Q']} owns {v['k_other']} pairs of shoes.", f"{v['P']}'s wardrobe has {v['k_other']} shelves.",
                           f"{v['P']} bought {v['k_other']} of the {v['top']} on sale."])


class GardenPath(Family):
    def __init__(self) -> None:
        super().__init__("geometry", {"planning": 0.6, "decomposition": 0.8, "recall": 0.9, "verification": 0.55,
                                      "backward_chaining": 0.15, "exploration": 0.1})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        widths = (F(1), F(2)) if difficulty < 3 else (F(1, 2), F(1), F(3, 2), F(2))
        length = rng.randint(6, 10 + 5 * difficulty)
        return {"L": F(length), "W": F(rng.randint(3, length - 1)), "w": rng.choice(widths),
                "cost": F(rng.choice((8, 12, 15, 20, 25, 30))), "k_other": rng.randint(3, 20)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "plot": rng.choice(PLOTS), "stone": rng.choice(("gravel", "brick", "stone", "wooden"))}

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("the area of a rectangle is its length times its width",
                "a path of even width around a rectangle adds twice its width to each side length")

    def _statement(self, v: dict, length: str | None = None) -> tuple[str, ...]:
        return (f"{v['P']}'s rectangular {v['plot']} is {length or num(v['L'])} meters long and {num(v['W'])} meters wide.",
                f"A {v['stone']} path {num(v['w'])} meter{'' if v['w'] == 1 else 's'} wide runs all the way around the outside of it.")

    def _calcs(self, v: dict) -> list[Calc]:
        L, W, w = v["L"], v["W"], v["w"]
        ol = Calc("the outer length", f"{num(L)} + 2 × {num(w)}", L + 2 * w, unit=" m", fact=1)
        ow = Calc("the outer width", f"{num(W)} + 2 × {num(w)}", W + 2 * w, unit=" m", fact=1)
        oa = Calc("the outer area", f"{num(ol.value)} × {num(ow.value)}", ol.value * ow.value, unit=" square meters", fact=0)
        ga = Calc(f"the area of the {v['plot']}", f"{num(L)} × {num(W)}", L * W, unit=" square meters", fact=0)
        pa = Calc("the area of the path", f"{num(oa.value)} − {num(ga.value)}", oa.value - ga.value, unit=" square meters")
        return [ol, ow, oa, ga, pa]

    def _path(self, v: dict) -> F:
        return (v["L"] + 2 * v["w"]) * (v["W"] + 2 * v["w"]) - v["L"] * v["W"]

    def _check(self, v: dict) -> str:
        L, W, w = v["L"], v["W"], v["w"]
        return (f"cutting the path into two long strips and two short ones gives 2 × {num(L)} × {num(w)} + "
                f"2 × {num(W + 2 * w)} × {num(w)} = {num(2 * L * w)} + {num(2 * (W + 2 * w) * w)} = {num(self._path(v))}")

    def original(self, v: dict) -> Problem:
        sol = Solution(plan=("find the area of the big rectangle including the path", f"subtract the area of the {v['plot']}"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v))
        return Problem(self.name, self._statement(v), "What is the area of the path, in square meters?", sol)

    def reversed(self, v: dict) -> Problem:
        L, W, w = v["L"], v["W"], v["w"]
        area = self._path(v)
        short = Calc("the area of the two short strips", f"2 × {num(W + 2 * w)} × {num(w)}", 2 * (W + 2 * w) * w, unit=" square meters", fact=0)
        long_ = Calc("the area of the two long strips", f"{num(area)} − {num(short.value)}", area - short.value, unit=" square meters")
        length = Calc(f"the length of the {v['plot']}", f"{num(long_.value)} ÷ (2 × {num(w)})", L, unit=" meters", fact=0)
        sol = Solution(plan=("split the path into strips and take away the two short ones", "divide what is left by twice the path's width"),
                       calcs=(short, long_, length), facts=self._facts(v), check=self._check(v),
                       need=(f"the length of the {v['plot']}", "the area of the two long strips of path"))
        facts = self._statement(v, length="some number of") + (f"The path covers {num(area)} square meters.",)
        return Problem(self.name, facts, f"How long is the {v['plot']}, in meters?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        c = Calc("the cost of the path", f"{num(calcs[-1].value)} × {money(v['cost'])}", calcs[-1].value * v["cost"], is_money=True)
        sol = Solution(plan=("find the area of the path as outer area minus inner area", "multiply by the price per square meter"),
                       calcs=tuple(calcs + [c]), facts=self._facts(v), check=self._check(v))
        return Problem(self.name, self._statement(v) + (f"Laying the path costs {money(v['cost'])} per square meter.",),
                       "How much does the path cost?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"{v['Q']}'s house next door has {v['k_other']} windows.",
                           f"The {v['plot']} gets {v['k_other'] % 9 + 3} hours of sun a day.",
                           f"{v['P']} planted {v['k_other']} tulips last spring."])
