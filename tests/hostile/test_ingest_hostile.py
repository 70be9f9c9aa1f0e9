"""Hostile input through the real `stratagem ingest` (a child process, tests/hostile/harness.py).

`cases()` generates the corpus by kind; record-level cases are batched into a few files so
the whole module runs in well under two minutes on two cores. For every ingest: no crash,
no hang, read = accepted + quarantined + duplicates, the sentinel lake beside the root
untouched, and a rerun of the same input stores nothing new (no quarantine row either).
Inputs that must never be read (FIFO, device, links out of the folder, ...) are refused in
one line with exit code 2, before the lake exists.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from harness import Sentinel, assert_balanced, last_counts, run_cli

from warehouse import Lake
from warehouse.catalog import CATALOG_FILES

QAS = ["--mapping", "question-answer-solution"]


def rec(question="Q?", answer="1", solution="S.", teacher="t", **extra) -> dict:
    return {"question": question, "answer": answer, "solution": solution, "teacher": teacher, **extra}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def cases() -> dict[str, list[tuple[str, bytes, str | None]]]:
    """Kind -> [(name, bytes of one record, expected quarantine reason or None for accepted)]."""
    surrogate = [(f"surrogate in {field}", json.dumps(rec(f"Q{field}?") | {field: "x\ud800y"}).encode(), "lone surrogate")
                 for field in ("question", "answer", "teacher", "solution")]
    deep = [(f"depth {d}", (json.dumps(rec(f"Qdeep{d}?"))[:-1] + f', "unused": {nested(d)}}}').encode(), "nested more than")
            for d in (400, 1_000, 10_000, 50_000)]
    numbers = [("5,000-digit integer", (json.dumps(rec("Qbig?"))[:-1] + ', "n": 1' + "0" * 4999 + "}").encode(),
                "5,000 digits"),
               ("5,000 digits in a string are text", json.dumps(rec("Qdigits?", solution="9" * 5000)).encode(), None),
               ("brackets in a string are text", json.dumps(rec("Qbrackets?", solution=nested(500))).encode(), None)]
    good = [("good", json.dumps(rec("Qgood?")).encode(), None),
            ("emoji as a surrogate pair", json.dumps(rec("Q\U0001F600?")).encode(), None)]
    return {"surrogate": surrogate, "deep": deep, "number": numbers, "good": good}


def flat_cases():
    return [case for kind in cases().values() for case in kind]


def quarantine(root: Path) -> list[dict]:
    with Lake.open(root, read_only=True) as lake:
        return lake.query("SELECT source, locator, reason, raw FROM quarantine").to_pylist()


def ingest_twice(paths: list[Path], root: Path, sentinel: Sentinel, *args: str) -> tuple[dict, list[dict]]:
    """Ingest, check the invariants, ingest again (a no-op), return the first counts and quarantine."""
    res = run_cli(["ingest", *map(str, paths), *QAS, *args], root=root, timeout=120)
    assert res.returncode == 0, res.out + res.err
    first = last_counts(root, "ingest")
    assert_balanced(first)
    rows = quarantine(root)
    assert len(rows) == first["quarantined"]
    again = run_cli(["ingest", *map(str, paths), *QAS, *args], root=root, timeout=120)
    second = last_counts(root, "ingest")
    assert_balanced(second)
    assert again.returncode == 0 and second["accepted"] == 0, again.out
    assert second["read"] == first["read"] and second["quarantined"] == first["quarantined"]
    assert len(quarantine(root)) == len(rows), "a rerun added quarantine rows"
    sentinel.assert_untouched()
    return first, rows


@pytest.fixture(scope="module")
def area(tmp_path_factory) -> Path:
    """One folder for every lake of this module, with one sentinel lake beside them all."""
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def sentinel(area) -> Sentinel:
    return Sentinel.beside(area / "lake")


@pytest.fixture
def root(area, request) -> Path:
    return area / f"lake-{request.node.name}"


def check_cases(rows: list[dict], locator_of) -> None:
    by_locator = {r["locator"]: r["reason"] for r in rows}
    for i, (name, _, reason) in enumerate(flat_cases()):
        got = by_locator.get(locator_of(i))
        if reason is None:
            assert got is None, (name, got)
        else:
            assert got is not None and reason in got, (name, got)


def test_hostile_records_in_json_lines_and_json_arrays(tmp_path, root, sentinel):
    corpus = flat_cases()
    lines, arr = tmp_path / "hostile.jsonl", tmp_path / "hostile.json"
    lines.write_bytes(b"\n".join(raw for _, raw, _ in corpus) + b"\n")
    arr.write_bytes(b"[\n" + b",\n".join(raw for _, raw, _ in corpus) + b"\n]")
    counts, rows = ingest_twice([lines, arr], root, sentinel)
    bad = sum(1 for *_, reason in corpus if reason)
    assert counts["quarantined"] == 2 * bad and counts["read"] == 2 * len(corpus)
    check_cases(rows, lambda i: f"{lines}:{i + 1}")
    check_cases(rows, lambda i: f"{arr}#{i}")
    assert all(len(r["raw"] or "") <= 4096 for r in rows)


def test_csv_quoting_line_endings_and_encodings(tmp_path, root, sentinel):
    folder = tmp_path / "csvs"
    folder.mkdir()
    body = "".join(f"Q{i}?,{i},s{i}\n" for i in range(1, 1001))
    broken = body.replace("Q3?,3,s3\n", 'Q3?,3,"s3\n')  # an unclosed quote in row 3 of 1,000
    (folder / "unclosed.csv").write_text("question,answer,solution\n" + broken)
    (folder / "cr.csv").write_bytes(b"question,answer,solution\rCR1?,1,a\rCR2?,2,b\r")
    (folder / "utf16.csv").write_bytes("question,answer,solution\nU16?,1,é\n".encode("utf-16"))
    (folder / "utf32.csv").write_bytes("question,answer,solution\nU32?,1,ü\n".encode("utf-32"))
    counts, rows = ingest_twice([folder], root, sentinel, "--teacher", "t")
    assert counts["read"] == 1000 + 2 + 1 + 1 and counts["accepted"] == 2 + 2 + 1 + 1
    unclosed = {r["locator"]: r["reason"] for r in rows if r["source"].endswith("unclosed.csv")}
    assert sorted(unclosed) == sorted(f"{folder / 'unclosed.csv'}:{n}" for n in range(4, 1002))
    assert all("unclosed quote in the row starting at line 4" in reason for reason in unclosed.values())
    with Lake.open(root, read_only=True) as lake:
        questions = set(lake.query("SELECT question FROM problems").column(0).to_pylist())
        longest = lake.scalar("SELECT max(n_chars) FROM trajectories")
    assert {"Q1?", "Q2?", "CR1?", "CR2?", "U16?", "U32?"} == questions and longest < 10  # nothing merged


def refuse(args: list[str], root: Path) -> str:
    res = run_cli(["ingest", *args, *QAS], root=root, timeout=30)
    lines = [ln for ln in (res.out + res.err).splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), res.out + res.err
    assert not any((root / name).exists() for name in CATALOG_FILES)
    return lines[0]


def test_inputs_that_must_never_be_read_are_refused(tmp_path, root, sentinel):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "ok.jsonl").write_text(json.dumps(rec()) + "\n")
    (ds / "notes.jsonl").symlink_to("/etc/passwd")
    dup = tmp_path / "dup.csv"
    dup.write_text("question,answer,solution,solution\nQ?,1,a,b\n")
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes((json.dumps(rec()) + "\n").encode("utf-16"))
    nobom = tmp_path / "nobom.csv"
    nobom.write_bytes("question,answer,solution\nQ?,1,a\n".encode("utf-16-le"))
    assert "named pipe" in refuse([str(fifo)], root)
    assert "character device" in refuse([str(zero)], root)
    assert "outside" in refuse([str(ds)], root)
    assert "repeats column 'solution'" in refuse([str(dup)], root)
    msg = refuse([str(wide)], root)
    assert "UTF-16" in msg and "iconv" in msg
    assert "UTF-16 LE" in refuse([str(nobom)], root)
    sentinel.assert_untouched()


def test_a_wholly_quarantined_file_exits_2_with_its_reasons(tmp_path, root, sentinel):
    bad, good = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    bad.write_bytes(b'{"question": 1}\n' * 3 + b"not json\n")
    good.write_text(json.dumps(rec("Fine?")) + "\n" + json.dumps(rec("Also?")) + "\n" + "[1]\n")
    res = run_cli(["ingest", str(bad), str(good), *QAS], root=root, timeout=60)
    assert res.returncode == 2, res.out + res.err
    assert f"every record of {bad} was quarantined" in res.err and "field 'question' is integer" in res.err
    assert "warning: 5 of 7" in res.err and "over --max-quarantined 50%" in res.err
    per_file = [ln for ln in res.err.splitlines() if ln.startswith("ingested ")]
    assert "read 4 = accepted 0 + quarantined 4" in per_file[0]
    assert "read 2 = accepted 2 + quarantined 1" not in per_file[1]  # its own counts, not running totals
    assert "read 3 = accepted 2 + quarantined 1 + duplicates 0 (trajectories, from 3 input records)" in per_file[1]
    counts = last_counts(root, "ingest")
    assert_balanced(counts)
    assert counts["accepted"] == 2
    sentinel.assert_untouched()


def test_a_thousand_tiny_files_are_one_group(tmp_path, root, sentinel):
    folder = tmp_path / "per-problem"
    folder.mkdir()
    for i in range(1000):
        (folder / f"p{i:04}.json").write_text(json.dumps(rec(f"Tiny {i}?", str(i))))
    (folder / "p0500.json").write_bytes(b'{"question": "Q\\ud800?", "answer": "1", "solution": "s", "teacher": "t"}')
    res = run_cli(["ingest", str(folder), *QAS], root=root, timeout=120)
    assert res.returncode == 0, res.err
    assert len([ln for ln in res.err.splitlines() if ln.startswith("ingested ")]) == 1
    counts, rows = ingest_twice([folder], root, sentinel)  # a rerun: duplicates and the known quarantine row
    assert (counts["read"], counts["accepted"], counts["duplicates"], counts["quarantined"]) == (1000, 0, 999, 1)
    assert [r["locator"] for r in rows] == [f"{folder / 'p0500.json'}#0"]
    parquet = list((root / "data").rglob("*.parquet"))
    with Lake.open(root, read_only=True) as lake:
        snapshots = lake.scalar("SELECT count(*) FROM ducklake_snapshots('lake')")
        stored = lake.scalar("SELECT count(DISTINCT source_file) FROM trajectories")
    assert stored == 999
    assert len(parquet) <= 15 and snapshots <= 20, (len(parquet), snapshots)


def test_the_bad_input_corpus_through_the_cli(tmp_path, root, sentinel):
    """tests/test_ingest_bad_input.py's corpus (invalid JSON and UTF-8, wrong types, ragged CSV,
    another Parquet schema, a 50 MB line), through the real CLI: the same rows stored and
    quarantined as through the function, and a rerun stores nothing."""
    from test_ingest_bad_input import write_bad_corpus  # tests/ is on sys.path (rootdir conftest)

    corpus = write_bad_corpus(tmp_path / "corpus")
    files = [corpus / n for n in ("bad.jsonl", "ragged.csv", "other_schema.parquet", "big.jsonl")]
    for attempt in ("first", "rerun"):  # other_schema.parquet is wholly quarantined: exit 2, the rest kept
        res = run_cli(["ingest", *map(str, files), *QAS, "--block-mb", "1"], root=root, timeout=120)
        assert res.returncode == 2 and "every record of" in res.err + res.out and "other_schema.parquet" in res.err
        counts = last_counts(root, "ingest")
        assert_balanced(counts)
        assert (counts["read"], counts["duplicates"] + counts["accepted"], counts["quarantined"]) == (20, 7, 13)
        assert counts["accepted"] == (6 if attempt == "first" else 0)
        assert len(quarantine(root)) == 13  # stored once
    sentinel.assert_untouched()
