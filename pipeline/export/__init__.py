"""Exports: a curated set at a DuckLake snapshot -> a versioned folder for our trainer, TRL,
verl and OpenRLHF (DESIGN section 6).

    from pipeline.export import export, rebuild, check
    export(lake, "gsm-v1")                       # <root>/exports/gsm-v1/
    rebuild(lake, "exports/gsm-v1/manifest.json")
    check("exports/gsm-v1/manifest.json")        # [] when every file matches its sha256

Modules: native (the native table), adapters (TRL / verl / OpenRLHF files), card (README +
plots), tokens (tokenizer-based length counts), stage (folder, manifest, rebuild, check),
command (`stratagem export`). The format itself, and ExportError (re-exported here for the
callers of export / rebuild / check), are the export contract in schemas/export.py.
"""
from pipeline.export.stage import ExportResult, check, export, rebuild
from schemas.export import ExportError

__all__ = ["ExportError", "ExportResult", "check", "export", "rebuild"]
