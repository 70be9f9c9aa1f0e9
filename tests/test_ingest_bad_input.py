"""Bad input: every bad record lands in quarantine with its file, line / row and reason,
read = accepted + quarantined + duplicates holds, and bad mappings or paths fail fast with
one line and exit code 2."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest import ingest, load_mapping
from warehouse import Lake
from warehouse.catalog import CATALOG_FILES

GOOD = {"question": "Q1?", "answer": "1", "solution": "S1", "teacher": "t"}


def line(record) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_bad_corpus(tmp_path / "corpus")


def write_bad_corpus(d: Path) -> Path:
    """The bad-input corpus (also run through the real CLI by tests/hostile/test_ingest_hostile.py)."""
    d.mkdir()
    (d / "bad.jsonl").write_bytes(b"".join([
        b"\xef\xbb\xbf" + line(GOOD),                                                  # 1 ok (file BOM)
        b'{"question": "Q2?", "answer": \n',                                           # 2 invalid JSON
        line({"question": 5, "answer": "1", "solution": "S3"}),                        # 3 wrong type
        line({"answer": "1", "solution": "S4"}),                                       # 4 missing question
        line({"question": "  ", "answer": "1", "solution": "S5"}),                     # 5 empty question
        line({"question": "Q6?", "answer": "1", "solution": ""}),                      # 6 empty solution
        b'{"question": "Q7\xff?", "answer": "1", "solution": "S7"}\n',                 # 7 invalid UTF-8
        "\ufeff".encode() + line({"question": "Q8?", "answer": "8", "solution": "S8"}),  # 8 ok (BOM on the line)
        line(GOOD),                                                                    # 9 duplicate of 1
        b"[1, 2]\n",                                                                   # 10 not an object
        line({"question": "Q11?", "answer": "1", "solution": {"text": "x"}}),         # 11 wrong type
        line({"question": "Q12?", "answer": True, "solution": "S12"}),                # 12 wrong type
        b"   \n",                                                                      # 13 blank: not a record
        b'{"question": "Q14?\\r\\nmore", "answer": "14", "solution": "a\\r\\nb"}\r\n',  # 14 ok (CRLF)
    ]))
    (d / "ragged.csv").write_text("question,answer,solution\nC1?,1,c1\nC2?,2,c2,extra\nC3?,3,c3\n", encoding="utf-8")
    pq.write_table(pa.table({"prompt": ["P1?", "P2?"], "response": ["r1", "r2"]}), d / "other_schema.parquet")
    with open(d / "big.jsonl", "wb") as f:  # a 50 MB single line, then a good one
        f.write(b'{"question": "Big?", "answer": "1", "solution": "' + b"x" * (50 << 20) + b'"}\n')
        f.write(line({"question": "After big?", "answer": "2", "solution": "fine"}))
    return d


def test_bad_records_are_quarantined_and_counted(tmp_path, corpus):
    files = [corpus / n for n in ("bad.jsonl", "ragged.csv", "other_schema.parquet", "big.jsonl")]
    with Lake.open(tmp_path / "lake") as lake:
        report = ingest(lake, files, load_mapping("question-answer-solution"), block_bytes=1 << 20)
        c = report.counts
        assert (c["read"], c["accepted"], c["duplicates"], c["quarantined"]) == (20, 6, 1, 13)
        assert c["read"] == c["accepted"] + c["quarantined"] + c["duplicates"]
        q = {r["locator"]: r for r in lake.query("SELECT * FROM quarantine").to_pylist()}
        stored = {r["question"] for r in lake.query("SELECT question FROM problems").to_pylist()}
        texts = {r["text"] for r in lake.query("SELECT text FROM trajectories").to_pylist()}
        runs = lake.query("SELECT status, counts FROM runs").to_pylist()

    bad = str(corpus / "bad.jsonl")
    expect = {f"{bad}:2": "invalid JSON", f"{bad}:3": "field 'question' is integer, expected text",
              f"{bad}:4": "missing question (field 'question')", f"{bad}:5": "empty question",
              f"{bad}:6": "empty solution text", f"{bad}:7": "invalid UTF-8",
              f"{bad}:10": "record is list, expected a JSON object", f"{bad}:11": "field 'solution' is object",
              f"{bad}:12": "field 'answer' is boolean",
              f"{corpus / 'ragged.csv'}:3": "row has 4 fields, the header has 3",
              f"{corpus / 'other_schema.parquet'}#0": "missing question", f"{corpus / 'other_schema.parquet'}#1": "missing question",
              f"{corpus / 'big.jsonl'}:1": "over the limit of 4,000,000"}
    assert set(q) == set(expect)
    for locator, reason in expect.items():
        assert reason in q[locator]["reason"], (locator, q[locator]["reason"])
        assert q[locator]["stage"] == "ingest" and q[locator]["source"] in {str(f) for f in files}
    assert q[f"{bad}:3"]["raw"] == json.dumps({"question": 5, "answer": "1", "solution": "S3"})
    assert len(q[f"{corpus / 'big.jsonl'}:1"]["raw"]) == 4096
    # problems stand on their own: those whose only solution was bad (Q6?, Big?) are kept
    assert stored == {"Q1?", "Q6?", "Q8?", "Q14?\nmore", "C1?", "C3?", "Big?", "After big?"}
    assert "a\nb" in texts and "S8" in texts
    assert runs[0]["status"] == "ok" and json.loads(runs[0]["counts"])["quarantined"] == 13


def test_wrong_column_type_in_parquet(tmp_path):
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"question": [1, 2], "answer": ["1", "2"], "solution": ["a", "b"]}), path)
    with Lake.open(tmp_path / "lake") as lake:
        report = ingest(lake, [path], load_mapping("question-answer-solution"))
        reasons = [r["reason"] for r in lake.query("SELECT reason FROM quarantine ORDER BY locator").to_pylist()]
    assert report.counts["quarantined"] == 2 and report.counts["accepted"] == 0
    assert reasons == ["field 'question' is integer, expected text"] * 2


def test_truncated_json_array_keeps_what_it_read(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"question": "A?", "answer": "1", "solution": "s"}, {"question": "B?", "ans')
    with Lake.open(tmp_path / "lake") as lake:
        report = ingest(lake, [path], load_mapping("question-answer-solution"))
        reason = lake.scalar("SELECT reason FROM quarantine")
    assert (report.counts["read"], report.counts["accepted"], report.counts["quarantined"]) == (2, 1, 1)
    assert reason.startswith("invalid JSON after element 1")


runner = CliRunner()


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_cli_fails_fast_on_bad_mapping_and_paths(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(line(GOOD))
    root = tmp_path / "lake"
    missing_field = tmp_path / "m.toml"
    missing_field.write_text("[problem]\nquestion = 'prompt'\n[[trajectory]]\ntext = 'solution'\nteacher = { const = 't' }\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("[problem\n")
    link = tmp_path / "dangling.jsonl"
    link.symlink_to(tmp_path / "gone.jsonl")
    (tmp_path / "notes.txt").write_text("hi")

    msg = one_line_error(runner.invoke(app, ["ingest", str(good), "--mapping", str(missing_field), "--root", str(root)]))
    assert "field 'prompt'" in msg and "it has: answer, question, solution, teacher" in msg
    assert "not valid TOML" in one_line_error(runner.invoke(app, ["ingest", str(good), "-m", str(broken), "--root", str(root)]))
    assert "no mapping named" in one_line_error(runner.invoke(app, ["ingest", str(good), "-m", "nope", "--root", str(root)]))
    assert "no such file" in one_line_error(runner.invoke(app, ["ingest", str(tmp_path / "absent.jsonl"), "--root", str(root)]))
    assert "broken link" in one_line_error(runner.invoke(app, ["ingest", str(link), "--root", str(root)]))
    assert "unsupported file type" in one_line_error(runner.invoke(app, ["ingest", str(tmp_path / "notes.txt"), "--root", str(root)]))
    assert not root.exists()  # nothing was written: the checks come before the lake is opened

    ok = runner.invoke(app, ["ingest", str(good), "-m", "question-answer-solution", "--root", str(root)])
    assert ok.exit_code == 0, ok.output
    assert "read 1 = accepted 1 + quarantined 0 + duplicates 0" in ok.output


def test_large_inputs_are_read_block_by_block(tmp_path):
    """Streaming: every reader hands on about a block at a time (a block plus the record that
    crosses its end), so a file larger than memory is never held whole."""
    from pipeline.ingest.mapping import load_mapping as mapping_named
    from pipeline.ingest.readers import read_csv, read_json, read_jsonl, read_parquet

    rows = [{"question": f"q{i} " + "x" * 300, "answer": str(i), "solution": "s" * 700} for i in range(6000)]
    (tmp_path / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "big.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "big.parquet", row_group_size=3000)  # compresses ~30x
    (tmp_path / "big.csv").write_text("question,answer,solution\n" + "".join(
        f"{r['question']},{r['answer']},{r['solution']}\n" for r in rows))
    block, record = 256 << 10, 1100
    mapping = mapping_named("question-answer-solution")
    batches = {"jsonl": list(read_jsonl(tmp_path / "big.jsonl", block_bytes=block)),
               "json": list(read_json(tmp_path / "big.json", mapping, block_bytes=block)),
               "parquet": list(read_parquet(tmp_path / "big.parquet", block_bytes=block)),
               "csv": list(read_csv(tmp_path / "big.csv", block_bytes=block))}
    for kind, got in batches.items():
        assert len(got) >= 20 and sum(len(b.numbers) for b in got) == len(rows), kind
        held = [b.frame.estimated_size() if kind == "parquet" else b.nbytes for b in got]
        assert max(held) <= block + (64 << 10 if kind == "json" else record), (kind, max(held))


def test_an_unreadable_path_fails_fast_in_one_line(tmp_path, monkeypatch):
    import os

    data = tmp_path / "locked.jsonl"
    data.write_text('{"question": "q", "answer": "1", "solution": "1"}\n')
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(data) else real(p, mode, *a, **k))
    result = CliRunner().invoke(app, ["ingest", str(data), "-m", "question-answer-solution", "--root", str(tmp_path / "l")])
    assert result.exit_code == 2 and "permission denied" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not any((tmp_path / "l" / name).exists() for name in CATALOG_FILES)  # nothing written
