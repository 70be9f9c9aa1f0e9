"""Pure text-in / labels-out logic: taggers, describers, the answer checker, span
alignment, agreement metrics and Label Studio conversion. Never touches storage.

Importing this package registers the built-in annotators by name (see annotators/base.py).
"""
from annotators.base import (
    Describer, DescribeItem, DescribeResult, Description, LLMUsage, SpanOut, Tagger, TagItem, TagResult,
    describer_names, get_describer, get_tagger, register_describer, register_tagger, tagger_names,
)

__all__ = [
    "Describer", "DescribeItem", "DescribeResult", "Description", "LLMUsage", "SpanOut", "Tagger", "TagItem",
    "TagResult", "describer_names", "get_describer", "get_tagger", "register_describer", "register_tagger",
    "tagger_names",
]
