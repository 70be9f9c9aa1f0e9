"""One annotator, as `stratagem agreement --a/--b`, the dataset card and the report name it.

    AnnotatorRef.parse("rules")                          # the latest version of annotator "rules"
    AnnotatorRef.parse("rules@rules-3", known)           # that version
    AnnotatorRef.parse("gold")                           # every gold span, whoever wrote it
    str(ref)                                             # "rules", "rules@rules-3", "gold"

The spelling is `NAME`, `NAME@VERSION` or `gold`, where NAME is `spans.annotator` and VERSION
is `spans.annotator_version`. Both may themselves hold "@" (Label Studio annotators are
`ls:<e-mail>`, their versions `p<project>.t<part>.a<id>@<updated_at>`), so a version is split
off only where the lake says so: `parse(text, known)` reads the whole text as a name when
`known` (the (name, version) pairs with spans) has that name, else splits at the one "@" that
leaves a known name and one of its versions. Without `known`, the whole text is a name (or
`gold`). `str` and `parse` round-trip for every annotator the lake knows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

GOLD = "gold"


@dataclass(frozen=True)
class AnnotatorRef:
    """`name` is spans.annotator (or "gold": every span of annotator_kind gold); `version` None
    means the annotator's latest version (that of its latest run); `kind` (rule | llm | human |
    gold, None when not looked up) is informative and not part of the identity."""

    kind: str | None = field(compare=False)
    name: str
    version: str | None = None

    @property
    def every_gold(self) -> bool:
        return self.name == GOLD and self.version is None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"

    def latest(self) -> "AnnotatorRef":
        """The same annotator without a version (its latest one)."""
        return AnnotatorRef(self.kind, self.name)

    @classmethod
    def parse(cls, text: str, known: Iterable["AnnotatorRef"] = ()) -> "AnnotatorRef":
        """The annotator `text` names; `known`: the annotators (with their versions) that have spans.
        An unknown name, or a known name with an unknown version, parses as best it can and
        selects no spans (callers say so)."""
        text = text.strip()
        if not text:
            raise ValueError("an annotator name is empty")
        if text == GOLD:
            return EVERY_GOLD
        kinds: dict[str, str | None] = {}
        versions: dict[tuple[str, str], str | None] = {}
        for ref in known:
            kinds.setdefault(ref.name, ref.kind)
            if ref.version is not None:
                versions[(ref.name, ref.version)] = ref.kind
        if text in kinds:
            return cls(kinds[text], text)
        cuts = [i for i, ch in enumerate(text) if ch == "@"]
        exact = [(text[:i], text[i + 1:]) for i in cuts if (text[:i], text[i + 1:]) in versions]
        if len(exact) > 1:
            raise ValueError(f"{text!r} names more than one annotator version: "
                             + ", ".join(f"{n!r} at {v!r}" for n, v in exact))
        if exact:
            name, version = exact[0]
            return cls(versions[(name, version)], name, version)
        named = [i for i in cuts if text[:i] in kinds]  # a known name with a version it does not have
        if named:
            i = named[-1]
            return cls(kinds[text[:i]], text[:i], text[i + 1:])
        return cls(None, text)


EVERY_GOLD = AnnotatorRef(GOLD, GOLD)
