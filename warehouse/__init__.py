"""Storage: a DuckLake catalog (DuckDB file) over Parquet data files, the runs ledger and
the quarantine. Knows the schemas, knows no annotator.

    from warehouse import Lake, resolve_root
    with Lake.open(resolve_root(None)) as lake:
        with lake.run("ingest", config) as run:
            run.insert("problems", table)
            run.quarantine(source, locator, reason, raw)

Every DuckDB error leaves a `Lake` method as `LakeQueryError`, a kind of `LakeError`: callers
catch those, never `duckdb.Error` (the connection is private to this package).

Names load on first use (PEP 562), so `from warehouse import LakeError` costs no DuckDB import
and `Lake` costs no pyarrow or schemas import until something is written.
"""
from __future__ import annotations

import importlib

_HOMES = {"Lake": "warehouse.lake", "resolve_root": "warehouse.lake", "LakeBusy": "warehouse.errors",
          "LakeError": "warehouse.errors", "LakeQueryError": "warehouse.errors", "storage_message": "warehouse.errors",
          "RunContext": "warehouse.runs", "RunReport": "warehouse.runs"}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
