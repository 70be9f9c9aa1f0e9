"""Ingest: files of teacher trajectories -> problems, trajectories and gold spans in the lake.

    stratagem ingest data.jsonl --mapping gsm8k
    from pipeline.ingest import ingest, load_mapping

Modules: `mapping` (the declarative TOML mapping), `readers` (streaming JSONL / JSON /
Parquet / CSV / record folders), `extract` (fields -> typed columns), `build` (ids,
validation, Arrow rows), `stage` (the run), `command` (the CLI).
"""
from pipeline.ingest.mapping import Mapping, MappingError, available_mappings, load_mapping
from pipeline.ingest.readers import InputError
from pipeline.ingest.stage import balance, ingest, plan

__all__ = ["Mapping", "MappingError", "InputError", "available_mappings", "load_mapping", "ingest", "plan", "balance"]
