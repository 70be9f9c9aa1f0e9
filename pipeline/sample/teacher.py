"""The procedural teacher: writes a step-by-step solution of a `Problem` that uses the
taxonomy's strategies in varied order and phrasing, and records each strategy episode as
a gold span with exact code point offsets.

    traj = write_trajectory(problem, family, "original", random.Random("1:0:original:t0"))
    traj.text, traj.spans, traj.final_answer, traj.wrong

Which strategies appear depends on the family (`Family.weights`) and the perturbation;
some solutions slip in the arithmetic and then backtrack, and about 10% end with a wrong
final answer (`WRONG_RATE`), so `verify` has something to reject (a slip in the last step, or stopping one step early).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from pipeline.sample import phrases as ph
from pipeline.sample.families.base import Calc, Family, Problem, cap, listing, num

TEACHER = "procedural-teacher-v1"
WRONG_RATE = 0.10       # final answer wrong, nothing caught
SLIP_RATE = 0.22        # an arithmetic slip that is noticed and corrected
BAIT_RATE = 0.45        # an unlabelled sentence with cue-like words


@dataclass(frozen=True)
class Trajectory:
    text: str
    spans: tuple[tuple[int, int, str], ...]   # (start, end, label), sorted, non-overlapping
    final_answer: str
    wrong: bool                               # the final answer differs from the reference
    slipped: bool                             # made a mistake and corrected it


class _Doc:
    """Pieces of text with an optional label each; renders text and merged spans."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pieces: list[tuple[str, str | None, str]] = []

    def add(self, text: str, label: str | None = None, *, new_line: float = 0.0) -> None:
        if text:
            brk = ("\n\n" if self.rng.random() < 0.15 else "\n") if self.rng.random() < new_line else " "
            self.pieces.append((text, label, brk))

    def render(self) -> tuple[str, tuple[tuple[int, int, str], ...]]:
        parts: list[str] = []
        spans: list[list] = []
        pos = 0
        prev: str | None = None
        for i, (text, label, brk) in enumerate(self.pieces):
            if i:
                parts.append(brk)
                pos += len(brk)
            if label is not None and label == prev:
                spans[-1][1] = pos + len(text)
            elif label is not None:
                spans.append([pos, pos + len(text), label])
            parts.append(text)
            pos += len(text)
            prev = label
        return "".join(parts), tuple((s, e, lab) for s, e, lab in spans)


def _fill(template: str, **kw: object) -> str:
    return template.format(**kw)


def _slip(value: Fraction, rng: random.Random) -> Fraction:
    """A plausible wrong result for `value` (positive, different)."""
    options = [value + 1, value - 1, value + 10, value * 2, value + Fraction(1, 2) if value.denominator > 1 else value + 2]
    if value.denominator == 1 and value >= 10:
        digits = str(value.numerator)
        if digits[-1] != digits[-2]:
            options.append(Fraction(int(digits[:-2] + digits[-1] + digits[-2])))
    options = [o for o in options if o > 0 and o != value]
    return rng.choice(options)


class _Writer:
    def __init__(self, problem: Problem, family: Family, perturbation: str, rng: random.Random) -> None:
        self.p, self.sol, self.rng = problem, problem.solution, rng
        self.doc = _Doc(rng)
        w = dict(family.weights)
        if perturbation == "reversed":
            w["backward_chaining"] = max(w.get("backward_chaining", 0.0), 0.7)
        if perturbation == "extra_step":
            w["decomposition"] = min(1.0, w.get("decomposition", 0.0) + 0.15)
        self.use = {label: rng.random() < p for label, p in w.items()}
        self.wrong = rng.random() < WRONG_RATE
        calcs = self.sol.calcs
        plain = [i for i, c in enumerate(calcs) if c.case is None]
        self.slip_at = rng.choice(plain) if not self.wrong and rng.random() < SLIP_RATE else None
        self.slip_caught_by_check = (self.slip_at == len(calcs) - 1 and self.use.get("verification")
                                     and bool(self.sol.check) and rng.random() < 0.5)
        self.recall_inline = rng.random() < 0.4
        self.decomp_inline = rng.random() < 0.5
        self.recalled: set[int] = set()
        self.used: set[str] = set()

    def pick(self, options: tuple[str, ...]) -> str:
        """A random phrasing, not one already used in this solution when another is left."""
        choice = self.rng.choice(options)
        if choice in self.used:
            fresh = [o for o in options if o not in self.used]
            if fresh:
                choice = self.rng.choice(fresh)
        self.used.add(choice)
        return choice

    # -- episodes ---------------------------------------------------------------------
    def planning(self) -> None:
        a, b = self.sol.plan
        self.doc.add(_fill(self.pick(ph.PLAN), a=a, b=b), "planning", new_line=0.3)

    def recall(self, which: list[int]) -> None:
        for n, i in enumerate(which):
            f = self.sol.facts[i]
            self.doc.add(_fill(self.pick(ph.RECALL), f=f, F=cap(f)), "recall", new_line=0.5 if n == 0 else 0.0)
            self.recalled.add(i)

    def backward(self) -> None:
        goal, need = self.sol.need or (self.sol.calcs[-1].goal, self.sol.calcs[-2].goal)
        self.doc.add(_fill(self.pick(ph.BACKWARD), goal=goal, Goal=cap(goal), need=need), "backward_chaining", new_line=0.5)

    def decomposition_list(self) -> None:
        goals = [c.goal for c in self.sol.calcs[:-1] if c.case is None]
        goals.append("then " + self.sol.calcs[-1].goal)
        self.doc.add(_fill(self.pick(ph.DECOMP_LIST), list=listing(goals)), "decomposition", new_line=0.5)

    def exploration(self) -> None:
        guesses = list(dict.fromkeys(self.sol.guesses))
        wrong = [g for g in guesses if not g.ok]
        chosen = self.rng.sample(wrong, min(len(wrong), self.rng.randint(1, 2)))
        right = [] if self.wrong else [g for g in guesses if g.ok]   # a wrong solution never found the answer
        if right and (not chosen or self.rng.random() < 0.6):
            chosen.append(right[0])
        if self.rng.random() < 0.4:
            self.doc.add(self.pick(ph.EXPLORE_INTRO), "exploration", new_line=0.5)
        for n, g in enumerate(chosen):
            self.doc.add(_fill(self.pick(ph.EXPLORE), g=g.guess, o=g.outcome), "exploration",
                         new_line=0.5 if n == 0 else 0.2)
        self.doc.add(self.pick(ph.EXPLORE_AFTER), None, new_line=0.5)

    def verification(self, wrong: Fraction | None = None) -> None:
        check = self.sol.check
        if wrong is None:
            text = _fill(self.pick(ph.VERIFY), check=check, Check=cap(check))
        else:
            text = _fill(self.pick(ph.VERIFY_FAIL), check=check, wrong=self.sol.calcs[-1].fmt(wrong))
        self.doc.add(text, "verification", new_line=0.7)

    def bait(self) -> None:
        self.doc.add(_fill(self.pick(ph.BAIT), goal=self.sol.calcs[-1].goal), None, new_line=0.3)

    # -- computations -----------------------------------------------------------------
    def calc(self, i: int, c: Calc, shown: Fraction, step: list[int]) -> None:
        if c.fact is not None and self.use.get("recall") and self.recall_inline and c.fact not in self.recalled \
                and c.fact < len(self.sol.facts):
            self.recall([c.fact])
        last = i == len(self.sol.calcs) - 1
        kw = dict(goal=c.goal, Goal=cap(c.goal), expr=c.expr, val=c.fmt(shown), i=step[0])
        if self.use.get("decomposition") and self.decomp_inline and not last:
            template = self.pick(ph.DECOMP_FIRST if step[0] == 1 else ph.DECOMP_NEXT)
            self.doc.add(_fill(template, **kw), "decomposition", new_line=0.6)
        else:
            self.doc.add(_fill(self.pick(ph.CALC), **kw), None, new_line=0.6)
        step[0] += 1

    def cases(self, group: list[Calc], shown: list[Fraction]) -> None:
        self.doc.add(_fill(self.pick(ph.CASE_INTRO), split=self.sol.case_split or "the cases"), "case_analysis", new_line=0.6)
        for n, (c, value) in enumerate(zip(group, shown), 1):
            self.doc.add(_fill(self.pick(ph.CASE), i=n, cond=c.case, expr=c.expr, val=c.fmt(value)), "case_analysis",
                         new_line=0.4)

    def backtrack(self, c: Calc, wrong: Fraction, after_check: bool) -> None:
        options = ph.BACKTRACK_AFTER_CHECK if after_check else ph.BACKTRACK
        self.doc.add(_fill(self.pick(options), expr=c.expr, right=c.show(), wrong=c.fmt(wrong)), "backtracking",
                     new_line=0.5)

    # -- the whole solution -----------------------------------------------------------
    def write(self) -> Trajectory:
        sol, rng, doc = self.sol, self.rng, self.doc
        calcs = sol.calcs
        doc.add(_fill(self.pick(ph.OPEN), goal=calcs[-1].goal))
        if self.p.distractor and rng.random() < 0.8:
            doc.add(_fill(self.pick(ph.IGNORE), d=self.p.distractor))
        prelude = []
        if self.use.get("planning"):
            prelude.append(self.planning)
        if self.use.get("recall") and sol.facts and not self.recall_inline:
            needed = sorted({c.fact for c in calcs if c.fact is not None and c.fact < len(sol.facts)}) or [0]
            k = rng.randint(1, len(needed))
            prelude.append(lambda: self.recall(sorted(rng.sample(needed, k))))
        if self.use.get("backward_chaining") and len(calcs) > 1:
            prelude.append(self.backward)
        if self.use.get("decomposition") and not self.decomp_inline and len(calcs) > 2:
            prelude.append(self.decomposition_list)
        if self.use.get("exploration") and sol.guesses:
            prelude.append(self.exploration)
        if rng.random() < BAIT_RATE:
            prelude.append(self.bait)
        rng.shuffle(prelude)
        for episode in prelude:
            episode()

        step = [1]
        wrong_value = None
        i = 0
        while i < len(calcs):
            c = calcs[i]
            if c.case is not None:
                group = [x for x in calcs[i:] if x.case is not None]
                self.cases(group, [x.value for x in group])
                i += len(group)
                continue
            last = i == len(calcs) - 1
            if last and self.wrong:
                if len(calcs) > 1 and calcs[-2].value != c.value and rng.random() < 0.35:
                    wrong_value = calcs[-2].value       # forgets the last step and stops early
                else:
                    wrong_value = _slip(c.value, rng)
                    self.calc(i, c, wrong_value, step)
            elif i == self.slip_at:
                bad = _slip(c.value, rng)
                self.calc(i, c, bad, step)
                if self.slip_caught_by_check:
                    self.verification(wrong=bad)
                    self.backtrack(c, bad, after_check=True)
                else:
                    self.backtrack(c, bad, after_check=False)
            else:
                self.calc(i, c, c.value, step)
            i += 1

        final = calcs[-1]
        value = final.value if wrong_value is None else wrong_value
        if self.use.get("verification") and sol.check and not self.wrong:
            self.verification()
        elif self.wrong and rng.random() < 0.3:
            self.bait()
        doc.add(_fill(self.pick(ph.CLOSE), goal=final.goal, val=final.fmt(value)), None, new_line=0.5)
        answer = num(value)
        doc.add(self.pick(ph.ANSWER).format(x=answer), None, new_line=1.0)
        text, spans = doc.render()
        return Trajectory(text, spans, answer, self.wrong, self.slip_at is not None)


def write_trajectory(problem: Problem, family: Family, perturbation: str, rng: random.Random) -> Trajectory:
    """One teacher solution of `problem`; deterministic given the state of `rng`."""
    return _Writer(problem, family, perturbation, rng).write()
