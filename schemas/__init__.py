"""The contract every other package builds on: pydantic row models, Arrow schemas derived
from them, the strategy taxonomy, the schema version, and the export contract
(schemas/export.py: what an export folder holds, for the exporter and the trainer).

    from schemas import Span, arrow_schema, load_taxonomy, SCHEMA_VERSION
    from schemas.export import NATIVE_SCHEMA, PROMPT_SUFFIX, render_strategy

Every name loads its module on first use (PEP 562), so `import schemas` imports nothing:
the trainer reads schemas.export on a GPU machine without pydantic, and `stratagem status`
(taxonomy and models) stays pyarrow-free.
"""
from __future__ import annotations

import importlib

SCHEMA_VERSION = "1.0"

_MODULE_OF = {
    **dict.fromkeys(("TABLES", "AnnotatorKind", "CuratedRow", "Alignment", "LLMCall", "Problem",
                     "QuarantineRecord", "Review", "Run", "Span", "Strategy", "Tagged", "Trajectory", "Verdict"),
                    "models"),
    **dict.fromkeys(("Label", "Taxonomy", "TaxonomyError", "load_taxonomy"), "taxonomy"),
    **dict.fromkeys(("content_id", "text_sha", "normalise_text"), "ids"),
    **dict.fromkeys(("arrow_schema", "to_arrow"), "arrow"),
    "LLMUsage": "usage",
    "PlanSpan": "export",
}
_SUBMODULES = ("arrow", "export", "ids", "models", "taxonomy", "usage")


def __getattr__(name: str):
    if name in _MODULE_OF:
        value = getattr(importlib.import_module(f"schemas.{_MODULE_OF[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"schemas.{name}")
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF) | set(_SUBMODULES))


__all__ = ["SCHEMA_VERSION", *_MODULE_OF]
