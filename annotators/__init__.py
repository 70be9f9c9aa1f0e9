"""Pure text-in / labels-out logic: taggers, describers, the answer checker, span
alignment, agreement metrics and Label Studio conversion. Never touches storage.

Importing this package registers the built-in annotators by name (see annotators/base.py);
importing `llm` adds the "llm" tagger and describer (they need its client). The "learned"
tagger (annotators/learned.py) loads a saved model: get_tagger("learned", model_path=FOLDER).
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


def _learned_tagger(model_path=None, taxonomy=None, **_ignored):
    from annotators.learned import LearnedTagger
    if model_path is None:
        raise ValueError("the learned tagger needs model_path (a folder saved by `stratagem tagger train`)")
    return LearnedTagger.from_folder(model_path, taxonomy)


def _rules_describer(**kw):
    from annotators.describe_rules import RulesDescriber
    return RulesDescriber(**kw)


register_tagger("rules", _rules_tagger)
register_tagger("learned", _learned_tagger)
register_describer("rules", _rules_describer)
