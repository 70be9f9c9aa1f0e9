"""Families solved by reasoning back from a condition: ages, test-score averages, and
"think of a number" puzzles.

    from pipeline.sample.families.puzzles import Ages, Averages, NumberPuzzle
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import F, Calc, Family, Guess, Problem, Solution, listing, num, two_people

PETS = ("dog", "cat", "parrot", "tortoise", "horse")
SUBJECTS = ("math", "history", "biology", "French", "chemistry", "music theory")


class Ages(Family):
    def __init__(self) -> None:
        super().__init__("ages", {"planning": 0.4, "decomposition": 0.4, "recall": 0.5, "verification": 0.8,
                                  "backward_chaining": 0.6, "exploration": 0.55})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        b, n, m = rng.randint(3, 6 + 4 * difficulty), rng.randint(2, 4 + 3 * difficulty), rng.choice((2, 2, 3, 3, 4)[: 2 + difficulty])
        return {"b": b, "n": n, "m": m, "k": (m - 1) * (b + n), "j": rng.randint(2, 9), "k_other": rng.randint(2, 14)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "pet": rng.choice(PETS)}

    def _statement(self, v: dict) -> tuple[str, ...]:
        return (f"{v['P']} is {v['k']} years older than {v['Q']}.",
                f"In {v['n']} years, {v['P']} will be {v['m']} times as old as {v['Q']}.")

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("the difference between two people's ages never changes",
                f"if one age is {v['m']} times another, their difference is "
                + ("equal to the smaller age" if v["m"] == 2 else f"{v['m'] - 1} times the smaller age"))

    def _calcs(self, v: dict) -> list[Calc]:
        b, n, m, k = v["b"], v["n"], v["m"], v["k"]
        later = Calc(f"{v['Q']}'s age in {n} years", f"{k} ÷ ({m} − 1)", F(b + n), unit=" years", fact=1)
        now = Calc(f"{v['Q']}'s age now", f"{b + n} − {n}", F(b), unit=" years", fact=0)
        return [later, now]

    def _check(self, v: dict) -> str:
        b, n, m, k = v["b"], v["n"], v["m"], v["k"]
        return (f"{v['Q']} is {b} and {v['P']} is {b + k}; in {n} years they are {b + n} and {b + k + n}, "
                f"and {m} × {b + n} = {m * (b + n)}")

    def _guess(self, v: dict, q: int) -> Guess:
        n, m, k = v["n"], v["m"], v["k"]
        ok = m * (q + n) == q + k + n
        return Guess(f"{v['Q']} being {q} now",
                     f"in {n} years {v['Q']} is {q + n} and {v['P']} is {q + k + n}, and {m} × {q + n} = {m * (q + n)}"
                     + (", which fits" if ok else f", not {q + k + n}"), ok)

    def original(self, v: dict) -> Problem:
        b = v["b"]
        sol = Solution(plan=(f"use the fixed age gap to find {v['Q']}'s future age", "step back to the present"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v),
                       need=(f"{v['Q']}'s age now", f"{v['Q']}'s age in {v['n']} years"),
                       guesses=tuple(self._guess(v, q) for q in (max(1, b - 2), b + 3, b)))
        return Problem(self.name, self._statement(v), f"How old is {v['Q']} now?", sol)

    def reversed(self, v: dict) -> Problem:
        b, n, m, k = v["b"], v["n"], v["m"], v["k"]
        calcs = (Calc(f"{v['Q']}'s age in {n} years", f"{b} + {n}", F(b + n), unit=" years"),
                 Calc(f"{v['P']}'s age in {n} years", f"{m} × {b + n}", F(m * (b + n)), unit=" years"),
                 Calc("the age gap", f"{m * (b + n)} − {b + n}", F(k), unit=" years", fact=0))
        sol = Solution(plan=(f"find both ages {n} years from now", "subtract, since the gap never changes"),
                       calcs=calcs, facts=self._facts(v), check=self._check(v),
                       need=("the age gap", f"both ages in {n} years"))
        return Problem(self.name, (f"{v['Q']} is {b} years old.", self._statement(v)[1]),
                       f"How many years older than {v['Q']} is {v['P']}?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        p_now = Calc(f"{v['P']}'s age now", f"{v['b']} + {v['k']}", F(v["b"] + v["k"]), unit=" years", fact=0)
        sol = Solution(plan=(f"find {v['Q']}'s age from the future condition", f"add the gap to get {v['P']}'s age"),
                       calcs=tuple(calcs + [p_now]), facts=self._facts(v), check=self._check(v),
                       need=(f"{v['P']}'s age now", f"{v['Q']}'s age now and the gap"))
        return Problem(self.name, self._statement(v), f"How old is {v['P']} now?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"{v['P']}'s {v['pet']} is {v['k_other']} years old.",
                           f"{v['Q']} started school {v['k_other'] % 5 + 1} years ago.",
                           f"Their grandmother is {v['k_other'] + 60} years old."])


class Averages(Family):
    def __init__(self) -> None:
        super().__init__("averages", {"planning": 0.5, "decomposition": 0.5, "recall": 0.6, "verification": 0.7,
                                      "backward_chaining": 0.8, "exploration": 0.3})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        k = 2 + difficulty                                  # tests already taken
        while True:
            scores = [rng.randint(60, 98) for _ in range(k)]
            target = rng.randint(70, 92)
            need = target * (k + 1) - sum(scores)
            if min(scores) < need <= 100:
                return {"scores": scores, "target": target, "k_other": rng.randint(18, 35)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q, "subject": rng.choice(SUBJECTS)}

    def _need(self, v: dict) -> int:
        return v["target"] * (len(v["scores"]) + 1) - sum(v["scores"])

    def _statement(self, v: dict) -> tuple[str, ...]:
        k = len(v["scores"])
        return (f"{v['P']} scored {listing([str(s) for s in v['scores']])} on the first {k} {v['subject']} tests.",)

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("an average is the sum of the scores divided by the number of scores",
                "so the sum of the scores is the average times the number of scores")

    def _calcs(self, v: dict) -> list[Calc]:
        k, t, scores = len(v["scores"]), v["target"], v["scores"]
        total = Calc(f"the total needed over {k + 1} tests", f"{t} × {k + 1}", F(t * (k + 1)), unit=" points", fact=1)
        have = Calc("the points so far", " + ".join(map(str, scores)), F(sum(scores)), unit=" points")
        need = Calc(f"the score needed on test {k + 1}", f"{t * (k + 1)} − {sum(scores)}", F(self._need(v)), unit=" points")
        return [total, have, need]

    def _check(self, v: dict) -> str:
        k, x = len(v["scores"]), self._need(v)
        return f"({' + '.join(map(str, v['scores']))} + {x}) ÷ {k + 1} = {sum(v['scores']) + x} ÷ {k + 1} = {v['target']}"

    def original(self, v: dict) -> Problem:
        k, x, t, s = len(v["scores"]), self._need(v), v["target"], sum(v["scores"])
        guesses = tuple(Guess(f"{g} on the next test", f"the average would be ({s} + {g}) ÷ {k + 1} = {num(F(s + g, k + 1))}"
                              + (", too low" if s + g < t * (k + 1) else ", too high" if s + g > t * (k + 1) else ", exactly right"),
                              s + g == t * (k + 1)) for g in (t, min(100, x + 4), x))
        sol = Solution(plan=("find the total the tests must add up to", "subtract the points already scored"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v), guesses=guesses,
                       need=(f"the score on test {k + 1}", f"the total that all {k + 1} tests must reach"))
        return Problem(self.name, self._statement(v),
                       f"What score does {v['P']} need on test {k + 1} to have an average of exactly {t}?", sol)

    def reversed(self, v: dict) -> Problem:
        *known, last = v["scores"]
        k, x, t = len(v["scores"]), self._need(v), v["target"]
        calcs = (Calc(f"the total over {k + 1} tests", f"{t} × {k + 1}", F(t * (k + 1)), unit=" points", fact=1),
                 Calc("the points from the other tests", " + ".join(map(str, known + [x])), F(sum(known) + x), unit=" points"),
                 Calc(f"the score on test {k}", f"{t * (k + 1)} − {sum(known) + x}", F(last), unit=" points"))
        sol = Solution(plan=("find the total all the tests add up to", "take away the scores that are known"),
                       calcs=calcs, facts=self._facts(v), check=self._check(v),
                       need=(f"the score on test {k}", "the total of all the tests"))
        facts = (f"{v['P']} scored {listing([str(s) for s in known])} on the first {k - 1} {v['subject']} tests.",
                 f"After scoring {x} on test {k + 1}, {v['P']}'s average over all {k + 1} tests is exactly {t}.")
        return Problem(self.name, facts, f"What did {v['P']} score on test {k}?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        low = min(v["scores"])
        gap = Calc("how far above the lowest score that is", f"{self._need(v)} − {low}", F(self._need(v) - low), unit=" points")
        sol = Solution(plan=("work out the needed score from the target total", "compare it with the lowest score so far"),
                       calcs=tuple(calcs + [gap]), facts=self._facts(v), check=self._check(v))
        k = len(v["scores"])
        return Problem(self.name, self._statement(v) + (f"{v['P']} wants an average of exactly {v['target']} after test {k + 1}.",),
                       f"How many points higher than {v['P']}'s lowest score so far must the score on test {k + 1} be?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"There are {v['k_other']} students in the class.",
                           f"{v['Q']} scored {v['k_other'] + 60} on the last test.",
                           f"Each test lasts {v['k_other'] + 20} minutes."])


class NumberPuzzle(Family):
    def __init__(self) -> None:
        super().__init__("number_puzzle", {"planning": 0.5, "decomposition": 0.3, "recall": 0.2, "verification": 0.75,
                                           "backward_chaining": 0.9, "exploration": 0.4})

    def numbers(self, rng: random.Random, difficulty: int) -> dict:
        x, a, b = rng.randint(2, 10 + 10 * difficulty), rng.randint(2, 3 + 2 * difficulty), rng.randint(1, 20 + 10 * difficulty)
        d = rng.choice((2, 2, 3, 4)[: 1 + difficulty])
        b += -(x * a + b) % d                               # a whole final result
        return {"x": x, "a": a, "b": b, "d": d, "t": rng.randint(2, 5), "k_other": rng.randint(2, 40)}

    def names(self, rng: random.Random) -> dict:
        p, q = two_people(rng)
        return {"P": p, "Q": q}

    def _result(self, v: dict) -> F:
        return F(v["x"] * v["a"] + v["b"], v["d"])

    def _statement(self, v: dict, number: str = "a number") -> tuple[str, ...]:
        div = {2: "halves the result", 3: "divides the result by 3", 4: "divides the result by 4"}[v["d"]]
        return (f"{v['P']} thinks of {number}, multiplies it by {v['a']}, adds {v['b']}, then {div}.",)

    def _calcs(self, v: dict) -> list[Calc]:
        r, a, b, d = self._result(v), v["a"], v["b"], v["d"]
        return [Calc("the value before dividing", f"{num(r)} × {d}", r * d, fact=0),
                Calc(f"the value before adding {b}", f"{num(r * d)} − {b}", r * d - b, fact=0),
                Calc("the number", f"{num(r * d - b)} ÷ {a}", F(v["x"]), fact=0)]

    def _check(self, v: dict) -> str:
        x, a, b, d = v["x"], v["a"], v["b"], v["d"]
        return f"({x} × {a} + {b}) ÷ {d} = {x * a + b} ÷ {d} = {num(self._result(v))}"

    def _facts(self, v: dict) -> tuple[str, ...]:
        return ("each operation is undone by its inverse: multiplying undoes dividing and subtracting undoes adding",)

    def original(self, v: dict) -> Problem:
        x, a, b, d = v["x"], v["a"], v["b"], v["d"]
        guesses = tuple(Guess(f"the number {g}", f"({g} × {a} + {b}) ÷ {d} = {num(F(g * a + b, d))}"
                              + (", which is right" if g == x else ", which is not it"), g == x)
                        for g in (x + 3, max(1, x - 2), x))
        sol = Solution(plan=("undo the operations in reverse order", "finish with the division by the multiplier"),
                       calcs=tuple(self._calcs(v)), facts=self._facts(v), check=self._check(v), guesses=guesses,
                       need=("the number", "the value just before the last operation"))
        return Problem(self.name, self._statement(v) + (f"The final result is {num(self._result(v))}.",),
                       f"What number did {v['P']} think of?", sol)

    def reversed(self, v: dict) -> Problem:
        x, a, b, d = v["x"], v["a"], v["b"], v["d"]
        r = self._result(v)
        calcs = (Calc("the value before dividing", f"{num(r)} × {d}", r * d, fact=0),
                 Calc(f"{x} times {a}", f"{x} × {a}", F(x * a)),
                 Calc("the number added", f"{num(r * d)} − {x * a}", F(b), fact=0))
        div = {2: "halves the result", 3: "divides the result by 3", 4: "divides the result by 4"}[d]
        facts = (f"{v['P']} thinks of the number {x}, multiplies it by {a}, adds some number, then {div}.",
                 f"The final result is {num(r)}.")
        sol = Solution(plan=("undo the division", f"compare with {x} × {a} to see what was added"),
                       calcs=calcs, facts=self._facts(v), check=self._check(v),
                       need=("the number added", "the value before the division"))
        return Problem(self.name, facts, f"What number did {v['P']} add?", sol)

    def extra_step(self, v: dict) -> Problem:
        calcs = self._calcs(v)
        times = Calc(f"{v['t']} times the number", f"{v['t']} × {v['x']}", F(v["t"] * v["x"]))
        sol = Solution(plan=("undo the operations in reverse order to find the number", f"multiply it by {v['t']}"),
                       calcs=tuple(calcs + [times]), facts=self._facts(v), check=self._check(v),
                       need=("the number", "the value just before the last operation"))
        return Problem(self.name, self._statement(v) + (f"The final result is {num(self._result(v))}.",),
                       f"What is {v['t']} times the number {v['P']} thought of?", sol)

    def distractor(self, v: dict, rng: random.Random) -> str:
        return rng.choice([f"{v['Q']} thinks of {v['k_other']}.", f"{v['P']} is {v['k_other'] + 8} years old.",
                           f"It takes {v['P']} {v['k_other']} seconds to do the arithmetic."])
