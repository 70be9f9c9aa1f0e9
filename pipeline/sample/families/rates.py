"""Rate families: two people working together, and speed with unit conversion.

    from pipeline.sample.families.rates import WorkRates, UnitConversion
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import F, Calc, Family, Guess, Problem, Solution, frac, num, paren, two_people

JOBS = (("paint", "fence"), ("mow", "lawn"), ("clean", "garage"), ("tile", "bathroom floor"), ("weed", "garden"),
        ("wash", "bus"), ("sort", "pile of letters"), ("assemble", "bookcase"))
MOVES = (("walks", 3, 6), ("jogs", 6, 10), ("cycles", 12, 20), ("rows", 4, 8), ("skates", 8, 14))
MINUTES = (12, 15, 18, 21, 24, 27, 30, 36, 42, 45, 48, 54)


class WorkRates(Family):
    def __init__(self) -> None:
        super().__init__("work_rates", {"planning": 0.7, "decomposition": 0.5, "recall": 0.9, "verification": 0.6,
                                        "backward_chaining": 0.2, "exploration": 0.2})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        pool = (2, 3, 4, 5, 6) if difficulty == 1 else (2, 3, 4, 5, 6, 8, 9, 10, 12, 15)
        a, b = rng.sample(pool, 2)
        return {"a": F(a), "b": F(b), "k_other": rng.randint(8, 40)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        verb, obj = rng.choice(JOBS)
        return {"P": p, "Q": q, "verb": verb, "obj": obj}

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("when people work together, their rates of work add up",
                "a rate is the amount of work divided by the time, so the time is the work divided by the rate",
                "there are 60 minutes in an hour")

    def _calcs(self, v: dict) -> list[Calc]:
        a, b = v["a"], v["b"]
        job = f" of the {v['obj']} per hour"
        ra = Calc(f"{v['P']}'s rate", f"1 ÷ {num(a)}", 1 / a, unit=job, fact=1, as_fraction=True)
        rb = Calc(f"{v['Q']}'s rate", f"1 ÷ {num(b)}", 1 / b, unit=job, fact=1, as_fraction=True)
        both = Calc("their combined rate", f"{frac(1 / a)} + {frac(1 / b)}", 1 / a + 1 / b, unit=job, fact=0, as_fraction=True)
        t = Calc("the time together", f"1 ÷ {paren(both.value)}", a * b / (a + b), unit=" hours", fact=1, as_fraction=True)
        return [ra, rb, both, t]

    def _check(self, v: dict) -> str:
        a, b = v["a"], v["b"]
        t = a * b / (a + b)
        return (f"in {frac(t)} hours {v['P']} does {paren(t)} ÷ {num(a)} = {frac(t / a)} of the job and {v['Q']} does "
                f"{paren(t)} ÷ {num(b)} = {frac(t / b)}, and {frac(t / a)} + {frac(t / b)} = 1")

    def _statement(self, v: dict) -> tuple[str, str]:
        return (f"{v['P']} can {v['verb']} the {v['obj']} alone in {num(v['a'])} hours.",
                f"{v['Q']} can {v['verb']} the same {v['obj']} alone in {num(v['b'])} hours.")

    def original(self, v: dict) -> Problem:
        a, b = v["a"], v["b"]
        lo = min(a, b)
        sol = Solution(plan=("turn each time into a rate per hour", "add the rates and turn the combined rate back into a time"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v),
                       guesses=(Guess(f"{num(lo / 2)} hours", f"{v['P']} and {v['Q']} would finish {frac(lo / 2 / a + lo / 2 / b)} of the job, "
                                      + ("not enough" if lo / 2 / a + lo / 2 / b < 1 else "too much"), False),
                                Guess(f"{num(lo)} hours", f"they would finish {frac(lo / a + lo / b)} of the job, more than the whole job", False)))
        return Problem(self.name, self._statement(v), "How many hours do they need if they work together?", sol)

    def reversed(self, v: dict) -> Problem:
        a, b = v["a"], v["b"]
        t = a * b / (a + b)
        job = f" of the {v['obj']} per hour"
        calcs = [Calc("their combined rate", f"1 ÷ {paren(t)}", 1 / t, unit=job, fact=1, as_fraction=True),
                 Calc(f"{v['P']}'s rate", f"1 ÷ {num(a)}", 1 / a, unit=job, fact=1, as_fraction=True),
                 Calc(f"{v['Q']}'s rate", f"{frac(1 / t)} − {frac(1 / a)}", 1 / b, unit=job, fact=0, as_fraction=True),
                 Calc(f"{v['Q']}'s time alone", f"1 ÷ {paren(1 / b)}", b, unit=" hours", fact=1, as_fraction=True)]
        sol = Solution(plan=(f"find the combined rate and {v['P']}'s rate", f"subtract to get {v['Q']}'s rate and turn it into a time"),
                       calcs=tuple(calcs), facts=self._facts(v), check=self._check(v),
                       need=(f"{v['Q']}'s time alone", f"{v['Q']}'s rate, which is the combined rate minus {v['P']}'s"))
        facts = (self._statement(v)[0], f"Working together, {v['P']} and {v['Q']} {v['verb']} it in {frac(t)} hours.")
        return Problem(self.name, facts, f"How many hours would {v['Q']} need to {v['verb']} the {v['obj']} alone?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        minutes = Calc("the time in minutes", f"{paren(calcs[-1].value)} × 60", calcs[-1].value * 60, unit=" minutes", fact=2, as_fraction=True)
        sol = Solution(plan=("add the two rates and turn the combined rate into a time in hours", "convert hours to minutes"),
                       calcs=tuple(calcs + [minutes]), facts=self._facts(v), check=self._check(v))
        return Problem(self.name, self._statement(v), "How many minutes do they need if they work together?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"The {v['obj']} is {v['k_other']} years old.",
                           f"{v['P']} charges ${v['k_other']} per hour for the work.",
                           f"{v['Q']} lives {v['k_other']} kilometers away."])


class UnitConversion(Family):
    def __init__(self) -> None:
        super().__init__("unit_conversion", {"planning": 0.5, "decomposition": 0.6, "recall": 0.95, "verification": 0.4,
                                             "backward_chaining": 0.15, "exploration": 0.05})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        move = rng.randrange(len(MOVES))
        _, lo, hi = MOVES[move]
        return {"move": move, "speed": F(rng.randint(lo, hi)), "minutes": F(rng.choice(MINUTES[: 4 + 4 * difficulty])),
                "lap": F(rng.choice((200, 250, 400, 500))), "k_other": rng.randint(3, 30)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "place": rng.choice(("park", "river path", "track", "lakeside trail", "city loop"))}

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("there are 60 minutes in an hour", "a kilometer is 1000 meters", "distance is speed multiplied by time")

    def _calcs(self, v: dict) -> list[Calc]:
        hours = Calc("the time in hours", f"{num(v['minutes'])} ÷ 60", v["minutes"] / 60, unit=" hours", fact=0)
        km = Calc("the distance in kilometers", f"{num(v['speed'])} × {num(hours.value)}", v["speed"] * hours.value, unit=" km", fact=2)
        m = Calc("the distance in meters", f"{num(km.value)} × 1000", km.value * 1000, unit=" meters", fact=1)
        return [hours, km, m]

    def _statement(self, v: dict) -> str:
        verb = MOVES[v["move"]][0]
        return f"{v['P']} {verb} along the {v['place']} at {num(v['speed'])} kilometers per hour for {num(v['minutes'])} minutes."

    def _check(self, v: dict) -> str:
        per_min = v["speed"] * 1000 / 60
        return f"in one minute {v['P']} covers {num(v['speed'])} × 1000 ÷ 60 = {num(per_min)} meters, and {num(per_min)} × {num(v['minutes'])} = {num(per_min * v['minutes'])}"

    def original(self, v: dict) -> Problem:
        sol = Solution(plan=("convert the minutes to hours and multiply by the speed", "convert kilometers to meters"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v),
                       guesses=(Guess("a full hour", f"{v['P']} would cover {num(v['speed'])} km = {num(v['speed'] * 1000)} meters, "
                                      f"so {num(v['minutes'])} minutes give a part of that", False),))
        return Problem(self.name, (self._statement(v),), f"How many meters does {v['P']} cover?", sol)

    def reversed(self, v: dict) -> Problem:
        meters = v["speed"] * v["minutes"] / 60 * 1000
        verb = MOVES[v["move"]][0]
        km = Calc("the distance in kilometers", f"{num(meters)} ÷ 1000", meters / 1000, unit=" km", fact=1)
        hours = Calc("the time in hours", f"{num(km.value)} ÷ {num(v['speed'])}", km.value / v["speed"], unit=" hours", fact=2)
        mins = Calc("the time in minutes", f"{num(hours.value)} × 60", v["minutes"], unit=" minutes", fact=0)
        sol = Solution(plan=("convert the distance to kilometers and divide by the speed", "convert the hours to minutes"),
                       calcs=(km, hours, mins), facts=self._facts(v), check=self._check(v),
                       need=("the time in minutes", "the time in hours, which is the distance in kilometers divided by the speed"))
        return Problem(self.name, (f"{v['P']} {verb} along the {v['place']} at {num(v['speed'])} kilometers per hour and covers {num(meters)} meters.",),
                       f"For how many minutes does {v['P']} go?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        laps = Calc("the number of laps", f"{num(calcs[-1].value)} ÷ {num(v['lap'])}", calcs[-1].value / v["lap"], unit=" laps")
        sol = Solution(plan=("work out the distance in meters", "divide it by the length of one lap"),
                       calcs=tuple(calcs + [laps]), facts=self._facts(v), check=self._check(v))
        return Problem(self.name, (self._statement(v), f"One lap of the {v['place']} is {num(v['lap'])} meters."),
                       f"How many laps does {v['P']} complete?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"The {v['place']} has {v['k_other']} benches.",
                           f"{v['Q']} went the same way {v['k_other']} days earlier.",
                           f"{v['P']} set off at {v['k_other'] % 12 + 1} o'clock."])
