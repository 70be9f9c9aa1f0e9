"""Storage: a DuckLake catalog (DuckDB file) over Parquet data files, the runs ledger and
the quarantine. Knows the schemas, knows no annotator.

    from warehouse import Lake, resolve_root
    with Lake.open(resolve_root(None)) as lake:
        with lake.run("ingest", config) as run:
            run.insert("problems", table)
            run.quarantine(source, locator, reason, raw)
"""
from warehouse.lake import Lake, LakeBusy, LakeError, resolve_root
from warehouse.runs import RunContext, RunReport

__all__ = ["Lake", "LakeBusy", "LakeError", "resolve_root", "RunContext", "RunReport"]
