"""Join files for mappings: `[joins.<alias>]` looks records of a second file up by key.

    table = load_join(JoinSpec(file="answers.jsonl", key="id", on="problem_id"))
    table["17"]          # the record of answers.jsonl whose `id` is 17 (key as canonical text)

The whole file is read once per run, through the same readers as any input (JSONL, JSON,
Parquet, CSV), and held in memory: meant for answer keys and metadata tables, not for
the bulk of the data. A record without the key is skipped; when a key repeats, the first
record wins. An unreadable or empty file, or a bad record, is a MappingError (one line)
raised before anything is written. Tests: `pytest tests/test_ingest_mapping_language.py`.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.ingest.mapping import FieldSpec, JoinSpec, Mapping, MappingError, ProblemSpec, parse_path
from pipeline.ingest.values import ValueProblem, scalar_text


def _walk(record: object, path: tuple) -> object:
    for token in path:
        if isinstance(token, int):
            record = record[token] if isinstance(record, list) and -len(record) <= token < len(record) else None
        else:
            record = record.get(token) if isinstance(record, dict) else None
    return record


def load_join(spec: JoinSpec) -> dict[str, object]:
    from pipeline.ingest.readers import InputError, discover, read_input

    path = Path(spec.file)
    reader = Mapping(name=f"join:{path.name}", records=spec.records, problem=ProblemSpec(question=FieldSpec(field="_")))
    try:
        inputs = discover([path], reader)
    except InputError as exc:
        raise MappingError(f"join file {exc}") from exc
    table: dict[str, object] = {}
    key = parse_path(spec.key)
    for inp in inputs:
        for batch in read_input(inp, reader, block_bytes=16 << 20):
            records, errors = batch.slow()
            for pos, (record, error) in enumerate(zip(records, errors)):
                if error is not None:
                    raise MappingError(f"join file {batch.locator(pos)}: {error}")
                value = _walk(record, key)
                if value is None:
                    continue
                try:
                    table.setdefault(scalar_text(value, convert=True), record)
                except ValueProblem as exc:
                    raise MappingError(f"join file {batch.locator(pos)}: key {spec.key!r} {exc}") from exc
    if not table:
        raise MappingError(f"join file {path}: no record has the key field {spec.key!r}")
    return table
