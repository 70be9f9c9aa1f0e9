"""Pure text-in / labels-out logic: taggers, describers, the answer checker, span
alignment, agreement metrics and Label Studio conversion. Never touches storage.

Importing this package registers the built-in annotators by name (see annotators/base.py);
importing `llm` adds the "llm" tagger and describer (they need its client).
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


def _rules_tagger(**kw):
    from annotators.rules import RulesTagger
    return RulesTagger(**kw)


def _rules_describer(**kw):
    from annotators.describe_rules import RulesDescriber
    return RulesDescriber(**kw)


register_tagger("rules", _rules_tagger)
register_describer("rules", _rules_describer)
