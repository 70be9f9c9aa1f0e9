"""The short teacher: a two-sentence solution for the short-form families (one step to the
answer), short enough that the demo's tiny model sees whole targets (about 50-80 byte
tokens): what the question asks for (a gold `backward_chaining` span, which the rules
describer turns into the strategy), the statement it reads the answer from, the answer in
\\boxed{}.

    traj = write_short_trajectory(problem, family, "original", random.Random("1:0:original:t0"))
    traj.text   # "I need the number of pears Ben has. Ben has 9 pears. \\boxed{9}"

About 10% of solutions (`WRONG_RATE`, as for the long teacher) read the count of the wrong
sentence, so `verify` has something to reject.
"""
from __future__ import annotations

import random

from pipeline.sample.families.base import Family, Problem, num
from pipeline.sample.teacher import WRONG_RATE, Trajectory

SHORT_TEACHER = "procedural-teacher-short-v1"
GOAL = ("I need {goal}.", "The question asks for {goal}.", "First find {goal}.")


def write_short_trajectory(problem: Problem, family: Family, perturbation: str, rng: random.Random) -> Trajectory:
    """One short solution of a one-step `problem`; deterministic given the state of `rng`."""
    calcs = problem.solution.calcs
    if len(calcs) != 1:
        raise ValueError(f"the short teacher writes one-step problems; {family.name} gave {len(calcs)} steps")
    calc = calcs[0]  # its expr is the statement the answer is read from
    goal = rng.choice(GOAL).format(goal=calc.goal)
    read, value = calc.expr, calc.value
    others = [f.rstrip(".") for f in problem.facts if f.rstrip(".") != calc.expr]
    if others and rng.random() < WRONG_RATE:  # reads the count from another statement
        read = rng.choice(others)
        value = next(int(w) for w in read.split() if w.isdigit())
    answer = num(value)
    text = f"{goal} {read}. \\boxed{{{answer}}}"
    return Trajectory(text, ((0, len(goal), "backward_chaining"),), answer, value != calc.value, False)
