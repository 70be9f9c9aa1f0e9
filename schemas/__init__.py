"""The contract every other package builds on: pydantic row models, Arrow schemas derived
from them, the strategy taxonomy and the schema version.

    from schemas import Span, arrow_schema, load_taxonomy, SCHEMA_VERSION
"""
from schemas.models import (
    TABLES,
    AnnotatorKind,
    CuratedRow,
    PlanSpan,
    Alignment,
    LLMCall,
    Problem,
    QuarantineRecord,
    Review,
    Run,
    Span,
    Strategy,
    Tagged,
    Trajectory,
    Verdict,
)
from schemas.taxonomy import Label, Taxonomy, TaxonomyError, load_taxonomy
from schemas.ids import content_id, text_sha, normalise_text

SCHEMA_VERSION = "1.0"


def __getattr__(name: str):
    """`arrow_schema` and `to_arrow` load pyarrow on first use (PEP 562), so the taxonomy and the
    models import without it: `stratagem status` reads annotator versions and stays pyarrow-free."""
    if name in ("arrow_schema", "to_arrow"):
        from schemas import arrow

        return getattr(arrow, name)
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION", "TABLES", "AnnotatorKind", "CuratedRow", "PlanSpan", "Alignment", "LLMCall", "Problem",
    "QuarantineRecord", "Review", "Run", "Span", "Strategy", "Tagged", "Trajectory", "Verdict",
    "arrow_schema", "to_arrow", "Label", "Taxonomy", "TaxonomyError", "load_taxonomy",
    "content_id", "text_sha", "normalise_text",
]
