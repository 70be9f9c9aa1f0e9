"""Small inline lakes for the curate / export / consumer tests (no tests in here).

    rows = make_family(3, perturbations=("numbers",))   # problems, trajectories, verdicts, spans, strategies
    fill_lake(lake, rows)
"""
from __future__ import annotations

import random
from collections import defaultdict

from schemas import (Problem, Span, Strategy, Trajectory, Verdict, content_id, normalise_text, text_sha, to_arrow)
from schemas.models import TABLES

WORDS = ("apple pear plum kiwi mango lemon grape melon peach cherry berry fig date lime olive "
         "walnut pecan almond cashew hazel carrot turnip radish onion garlic potato tomato").split()
NAMES = "Ann Bob Cid Dee Eve Fay Gus Hal Ivy Jon Kim Lou Max Ned Oda Pam".split()


def problem_id(source: str, question: str, answer: str) -> str:
    return content_id("problem", source, normalise_text(question), answer)


def trajectory_id(pid: str, teacher: str, text: str) -> str:
    return content_id("trajectory", pid, teacher, text_sha(normalise_text(text)))


def solution(a: int, b: int) -> str:
    return (f"First, find the total cost of the fruit.\n{a} * {b} = {a * b}.\n"
            f"Let me check: {a * b} / {b} = {a}, which matches.\nThe answer is \\boxed{{{a * b}}}.")


def question_for(index: int, a: int, b: int, name: str | None = None, extra: str = "") -> str:
    rng = random.Random(index)
    w1, w2, w3 = rng.sample(WORDS, 3)
    name = name or NAMES[index % len(NAMES)]
    return f"{name} buys {a} {w1}s from the {w2} {w3} stall number {index}, each costing {b} dollars.{extra} How much does {name} pay?"


def make_family(index: int, *, source: str = "sample", perturbations=("numbers",), correct: bool = True,
                with_spans: bool = True, with_strategy: bool = True, teacher: str = "teacher-v1") -> dict[str, list]:
    """One seed problem plus perturbed variants, each with one teacher trajectory and its annotations."""
    rows: dict[str, list] = defaultdict(list)
    a, b = 3 + index % 7, 2 + index % 5
    seed_q = question_for(index, a, b)
    seed_a = str(a * b)
    fam = problem_id(source, seed_q, seed_a)
    variants = [("original", seed_q, a, b)]
    for k, pert in enumerate(perturbations):
        if pert == "numbers":
            variants.append((pert, question_for(index, a + 1, b), a + 1, b))
        elif pert == "names":
            variants.append((pert, question_for(index, a, b, name="Zed"), a, b))
        else:
            variants.append((pert, question_for(index, a, b, extra=f" It is a sunny {pert} day."), a, b))
    for pert, q, x, y in variants:
        ans = str(x * y)
        pid = problem_id(source, q, ans)
        rows["problems"].append(Problem(problem_id=pid, source=source, question=q, reference_answer=ans,
                                        answer_kind="numeric", family="shopping", family_seed_id=fam,
                                        perturbation=pert, run_id="ingest-1"))
        text = solution(x, y) if correct else solution(x, y).replace(f"\\boxed{{{x * y}}}", "\\boxed{1}")
        tid = trajectory_id(pid, teacher, text)
        rows["trajectories"].append(Trajectory(trajectory_id=tid, problem_id=pid, teacher=teacher, text=text,
                                               text_sha=text_sha(text), n_chars=len(text), run_id="ingest-1"))
        rows["verdicts"].append(Verdict(trajectory_id=tid, extracted_answer=ans if correct else "1",
                                        extraction="boxed", is_correct=correct, outcome="correct" if correct else "incorrect",
                                        checker_version="v1", run_id="verify-1"))
        if with_spans:
            first = text.index("\n")
            check = text.index("Let me check")
            rows["spans"] += [span(tid, text, 0, first, "decomposition", "rule", "rules"),
                              span(tid, text, check, text.index("\n", check), "verification", "rule", "rules")]
        if with_strategy:
            rows["strategies"].append(strategy(pid, tid, "llm", "describer", rank=1))
    return rows


def span(tid: str, text: str, start: int, end: int, label: str, kind: str, annotator: str,
         confidence: float | None = None, run_id: str = "annotate-1") -> Span:
    return Span(span_id=content_id("span", tid, start, end, label, kind, annotator, ""), trajectory_id=tid,
                text_sha=text_sha(text), start=start, end=end, label=label, annotator_kind=kind,
                annotator=annotator, confidence=confidence, alignment="segment", run_id=run_id)


def strategy(pid: str, tid: str | None, kind: str, annotator: str, *, rank: int | None = None,
             selected: bool = False, edited: bool = False, leaks: tuple[str, ...] = (), tag: str = "") -> Strategy:
    return Strategy(strategy_id=content_id("strategy", pid, kind, annotator, rank, tag), problem_id=pid,
                    source_trajectory_id=tid, problem_type=f"unit price times quantity{tag}",
                    approach="Multiply the quantity by the unit price, then check by division.",
                    steps=["Identify the quantity and the unit price.", "Multiply them.", "Check by dividing back."],
                    leakage_flags=list(leaks), rank=rank, selected=selected, edited=edited,
                    annotator_kind=kind, annotator=annotator, run_id=f"describe-{kind}")


def merge(*parts: dict[str, list]) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for part in parts:
        for table, rows in part.items():
            out[table] += rows
    return out


def fill_lake(lake, rows: dict[str, list]) -> None:
    for table, items in rows.items():
        if items:
            lake.insert(table, to_arrow(items, TABLES[table]))


def make_world(n_families: int = 12, perturbations=("numbers", "distractor"), **kw) -> dict[str, list]:
    return merge(*(make_family(i, perturbations=perturbations, **kw) for i in range(n_families)))


def make_tokenizer(folder) -> "object":
    """A small word-level tokenizer built locally (no download), saved as folder/tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS + NAMES) + " buys from the stall number each costing dollars How much"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"
