"""The built-in sample: seed problems from every family, their GSM-Plus-style variants and
one or more procedural teacher trajectories each, as records of the shared "Sample JSONL"
format (one record per problem and trajectory).

    from pipeline.sample import generate_records, write_sample
    for record in generate_records(10, seed=1): ...
    write_sample("sample.jsonl", n=1000, seed=0)        # returns the number of records

`n` counts seed problems: each yields 1 + len(variants) problems (the variants its family
has), times `trajectories` records. `families` picks families by name (default: the ten
long-form ones; `("lookup",)` is the short-form family the demo trains on). Everything comes from `random.Random` streams keyed on (seed, index, variant), so
the same seed gives byte-identical output and the first k seeds of a larger run equal a
run with n=k.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pipeline.sample.families import ALL_FAMILIES, FAMILIES, Family, num
from pipeline.sample.perturb import PERTURBATIONS, make_variant
from pipeline.sample.short import SHORT_TEACHER, write_short_trajectory
from pipeline.sample.teacher import TEACHER, write_trajectory

DIFFICULTIES = (1, 2, 2, 3)


def records_per_seed(variants: Iterable[str] = PERTURBATIONS, trajectories: int = 1,
                     families: Iterable[str] | None = None) -> int:
    """Records per seed problem, when every chosen family has the same variants; else the most."""
    variants = tuple(variants)
    return max((1 + sum(p in f.perturbations for p in variants)) * trajectories for f in check_families(families))


def check_families(names: Iterable[str] | None) -> list[Family]:
    """The named families (default: the long-form ones); ValueError for an unknown name."""
    if names is None:
        return list(FAMILIES.values())
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in ALL_FAMILIES]
    if unknown or not names:
        raise ValueError(f"unknown family {unknown[0]!r} (choose from {', '.join(ALL_FAMILIES)})" if unknown
                         else "no family chosen")
    return [ALL_FAMILIES[n] for n in names]


def check_variants(variants: Iterable[str]) -> tuple[str, ...]:
    """The requested perturbations in canonical order; ValueError for an unknown one."""
    wanted = [v for v in variants if v != "original"]
    unknown = sorted(set(wanted) - set(PERTURBATIONS))
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r} (choose from {', '.join(PERTURBATIONS)})")
    return tuple(p for p in PERTURBATIONS if p in wanted)


def generate_records(n: int, seed: int = 0, variants: Iterable[str] = PERTURBATIONS,
                     trajectories: int = 1, families: Iterable[str] | None = None) -> Iterator[dict]:
    """Yield sample records for `n` seed problems (see the module docstring)."""
    if n < 0 or trajectories < 1:
        raise ValueError("n must be >= 0 and trajectories >= 1")
    variants = check_variants(variants)
    families = check_families(families)
    order = families
    for i in range(n):
        if i % len(families) == 0:      # every family once per block, in a seeded order
            order = random.Random(f"{seed}:block:{i // len(families)}").sample(families, len(families))
        family = order[i % len(families)]
        rng = random.Random(f"{seed}:{i}:seed")
        difficulty = rng.choice(DIFFICULTIES)
        v = family.numbers(rng, difficulty) | family.names(rng)
        seed_problem = family.original(v)
        seed_question, seed_answer = seed_problem.question, num(seed_problem.solution.answer)
        problems = [("original", seed_problem)]
        problems += [(p, make_variant(family, v, seed_problem, p, random.Random(f"{seed}:{i}:{p}"), difficulty))
                     for p in variants if p in family.perturbations]
        write, teacher = (write_short_trajectory, SHORT_TEACHER) if family.short_form else (write_trajectory, TEACHER)
        for perturbation, problem in problems:
            answer = num(problem.solution.answer)
            for t in range(trajectories):
                traj = write(problem, family, perturbation, random.Random(f"{seed}:{i}:{perturbation}:t{t}"))
                yield {
                    "id": f"s-{i:06d}-{perturbation}-t{t}",
                    "question": problem.question,
                    "answer": answer,
                    "family": family.name,
                    "perturbation": perturbation,
                    "seed_question": seed_question,
                    "seed_answer": seed_answer,
                    "solution": traj.text,
                    "teacher": teacher,
                    "final_answer": traj.final_answer,
                    "gold_spans": [{"start": s, "end": e, "label": lab} for s, e, lab in traj.spans],
                    "metadata": {"seed_index": i, "difficulty": difficulty + (perturbation == "extra_step"),
                                 "teacher_wrong": traj.wrong, "teacher_slip": traj.slipped},
                }


def write_sample(path: str | Path, n: int, seed: int = 0, variants: Iterable[str] = PERTURBATIONS,
                 trajectories: int = 1, on_seed: Callable[[int], None] | None = None,
                 families: Iterable[str] | None = None) -> int:
    """Write the sample JSONL to `path` atomically (a temp file renamed into place).

    Returns the number of records. `on_seed(i)` is called once per seed problem (for a
    progress bar). Raises OSError when `path` cannot be written.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    last = -1
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
            for record in generate_records(n, seed, variants, trajectories, families):
                fh.write(dumps(record))
                fh.write("\n")
                count += 1
                index = record["metadata"]["seed_index"]
                if on_seed is not None and index != last:
                    on_seed(index)
                    last = index
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
