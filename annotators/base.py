"""The annotator contract: text (and problem) in, spans or descriptions out, errors as values.

Every annotator has a `kind` (rule | llm | human | gold), a `name` and a `version`, and
every output records all three. Annotators never touch storage: stages in `pipeline/`
feed them batches and write what comes back.

    tagger = get_tagger("rules")                  # registry by name
    results = tagger.tag([TagItem(id, text), ...])
    for r in results:
        r.spans   # list[SpanOut] (offsets are str code points, half-open), or
        r.error   # a reason string; never both a guess and an error

LLM annotators also return the calls they made (`LLMUsage`), so a stage can write
`llm_calls` rows and sum tokens and cost per run.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Sequence

from schemas import LLMUsage


@dataclass(frozen=True)
class TagItem:
    item_id: str  # trajectory_id
    text: str
    problem: str | None = None


@dataclass(frozen=True)
class SpanOut:
    start: int
    end: int
    label: str
    confidence: float | None = None
    alignment: str = "segment"  # exact | fuzzy | segment | step


@dataclass(frozen=True)
class TagResult:
    item_id: str
    spans: list[SpanOut] = field(default_factory=list)
    error: str | None = None
    calls: list[LLMUsage] = field(default_factory=list)


@dataclass(frozen=True)
class DescribeItem:
    problem_id: str
    question: str
    reference_answer: str | None
    trajectory_id: str | None
    trajectory: str | None
    spans: Sequence[SpanOut] = ()
    family: str | None = None


@dataclass(frozen=True)
class Description:
    problem_type: str
    approach: str
    steps: list[str]
    leakage_flags: list[str] = field(default_factory=list)
    score: float | None = None
    rank: int | None = None


@dataclass(frozen=True)
class DescribeResult:
    problem_id: str
    trajectory_id: str | None
    candidates: list[Description] = field(default_factory=list)  # ranked, best first
    error: str | None = None
    calls: list[LLMUsage] = field(default_factory=list)


class Annotator(ABC):
    kind: str
    name: str
    version: str


class Tagger(Annotator):
    @abstractmethod
    def tag(self, items: Sequence[TagItem]) -> list[TagResult]:
        """One result per item, in order. Must not raise for a bad item: return an error."""


class Describer(Annotator):
    @abstractmethod
    def describe(self, items: Sequence[DescribeItem]) -> list[DescribeResult]:
        """One result per item, in order, candidates ranked with leaks flagged."""


_TAGGERS: dict[str, Callable[..., Tagger]] = {}
_DESCRIBERS: dict[str, Callable[..., Describer]] = {}


def register_tagger(name: str, factory: Callable[..., Tagger]) -> None:
    _TAGGERS[name] = factory


def register_describer(name: str, factory: Callable[..., Describer]) -> None:
    _DESCRIBERS[name] = factory


def _lookup(table: dict, kind: str, name: str, kwargs: dict):
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table)) or 'none'}")
    return table[name](**kwargs)


def get_tagger(name: str, **kwargs) -> Tagger:
    return _lookup(_TAGGERS, "tagger", name, kwargs)


def get_describer(name: str, **kwargs) -> Describer:
    return _lookup(_DESCRIBERS, "describer", name, kwargs)


def tagger_names() -> list[str]:
    return sorted(_TAGGERS)


def describer_names() -> list[str]:
    return sorted(_DESCRIBERS)
