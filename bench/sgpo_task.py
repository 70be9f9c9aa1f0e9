"""The toy task of bench/sgpo_experiment.py: clock arithmetic under hidden family rules, with
warm-up data, per-family training pools, held-out tests and three perturbations.

    from bench.sgpo_task import warmup_rows, target_rows, REPORT_FAMILIES
    rows = target_rows(REPORT_FAMILIES, seed=0, size=4, style="faithful")  # train + test_* rows

A question is a family word and a number, `kel 7`; the answer is the word's hidden operation
applied to the last digit on a 10-hour clock (`kel` = +3: 0). The strategy names the
operation, never the answer. Forms (each a test split of its own):
  original   `kel 7`            reworded  `7 under kel`
  distractor `kel 7 (not 4)`    range     `kel 27` (two digits; training uses one digit only)
Warm-up data (phase 1) holds every form, for the warm-up families unguided and for random
noise words with the strategy in the prompt, so the model learns the forms and to read a
strategy, but no target family. Target families train on `size` single-digit values of the
original form from a seeded 4-value pool; every test row uses a digit outside that pool.
Teacher styles: `faithful` is the student's own warm-up style (`7+3=0. \\boxed{0}`), `foreign`
is answer-only (`\\boxed{0}`).
"""
from __future__ import annotations

import random

from trainer.data import guided_messages
from export_fixtures import make_row

OPS = {"+1": 1, "+2": 2, "+3": 3, "+4": 4, "-1": -1, "-2": -2}
WARM_FAMILIES = {"bax": "+1", "dem": "+2", "fip": "+3", "gol": "-1", "hun": "+4", "jor": "-2"}
VALIDATION_FAMILIES = {"rud": "+2", "sav": "-1", "tem": "+4", "vok": "-2"}
REPORT_FAMILIES = {"kel": "+3", "lum": "-1", "mip": "+1", "nok": "+2", "pav": "-2", "qir": "+4",
                   "wes": "+1", "yat": "-2", "zun": "+3", "cor": "+2", "bim": "-1", "fen": "+4"}
FORMS = ("original", "reworded", "distractor", "range")
TEST_SPLITS = tuple(f"test_{f}" for f in FORMS)
POOL = 4                      # training digits drawn per family; sizes use the first `size` of them
HELD_OUT = 10 - POOL          # test digits per family and split


def answer(op: str, x: int) -> int:
    return (x % 10 + OPS[op]) % 10


def strategy(op: str) -> str:
    return f"Apply {op} to the last digit of the first number, on a 10-hour clock."


def question(word: str, x: int, form: str, noise: int) -> str:
    if form == "reworded":
        return f"{x} under {word}"
    if form == "distractor":
        return f"{word} {x} (not {noise})"
    return f"{word} {x}"


def completion(op: str, x: int, style: str) -> str:
    ans = answer(op, x)
    if style == "foreign":
        return f"\\boxed{{{ans}}}"
    return f"{x % 10}{op}={ans}. \\boxed{{{ans}}}"


def problem(word: str, op: str, x: int, split: str, form: str = "original", noise: int = 0,
            style: str = "faithful", guided: bool = False) -> dict:
    row = make_row(f"{split}-{word}-{x}-{form}-{noise}", question(word, x, form, noise), str(answer(op, x)),
                   completion(op, x, style), split=split, strategy=strategy(op), family=word, perturbation=form,
                   prompt_suffix="")
    if guided:
        row["prompt"] = guided_messages(row["prompt"], strategy(op))
    return row


def _value(rng: random.Random, form: str) -> int:
    return rng.randint(10, 99) if form == "range" else rng.randint(0, 9)


def _noise_word(rng: random.Random) -> str:
    """A random 3-letter word that is no family's word (a target family never appears in warm-up)."""
    while True:
        word = "".join(rng.choice("ghijklmnoprstuvwyz") for _ in range(3))
        if word not in WARM_FAMILIES and word not in VALIDATION_FAMILIES and word not in REPORT_FAMILIES:
            return word


def warmup_rows(seed: int, n: int) -> list[dict]:
    """n unguided warm-up-family problems and n strategy-guided noise-word problems, every form."""
    rng = random.Random(f"warmup-{seed}")
    rows = []
    for i in range(n):
        form = FORMS[i % len(FORMS)]
        word = rng.choice(sorted(WARM_FAMILIES))
        x = _value(rng, form)
        rows.append(problem(word, WARM_FAMILIES[word], x, "train", form, noise=rng.randint(0, 9)))
        noise_word = _noise_word(rng)
        op = rng.choice(sorted(OPS))
        rows.append(problem(noise_word, op, _value(rng, form), "train", form, noise=rng.randint(0, 9), guided=True))
    for i, row in enumerate(rows):  # ids must be unique in an export
        row["id"] = f"{row['id']}-{i}"
    return rows


def pools(families: dict[str, str], seed: int) -> dict[str, list[int]]:
    """Per family, the 4 training digits (a seeded draw); the other 6 are the test digits."""
    rng = random.Random(f"pool-{seed}")
    return {word: rng.sample(range(10), POOL) for word in sorted(families)}


def target_rows(families: dict[str, str], seed: int, size: int, style: str) -> list[dict]:
    """Train rows (`size` digits per family, original form) and one test row per held-out digit,
    family and form, in the order (family, digit): the same order in every split."""
    if not 1 <= size <= POOL:
        raise ValueError(f"size must be between 1 and {POOL}, got {size}")
    rng = random.Random(f"tests-{seed}")
    rows = []
    for word, pool in pools(families, seed).items():
        op = families[word]
        rows += [problem(word, op, x, "train", style=style) for x in pool[:size]]
        for d in sorted(set(range(10)) - set(pool)):
            for form in FORMS:
                x = 10 * rng.randint(1, 9) + d if form == "range" else d
                noise = rng.choice([n for n in range(10) if n != d])
                rows.append(problem(word, op, x, f"test_{form}", form, noise=noise, style=style))
    return rows


__all__ = ["FORMS", "HELD_OUT", "OPS", "POOL", "REPORT_FAMILIES", "TEST_SPLITS", "VALIDATION_FAMILIES",
           "WARM_FAMILIES", "answer", "completion", "pools", "problem", "question", "strategy", "target_rows",
           "warmup_rows"]
