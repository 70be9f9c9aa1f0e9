"""AnnotatorRef (pipeline/agreement/ref.py): how `stratagem agreement`, the dataset card and the
report spell an annotator, with names and versions that hold "@" (Label Studio e-mails and tags).

    .venv/bin/pytest tests/test_agreement_ref.py
"""
from __future__ import annotations

import pytest

from pipeline.agreement import EVERY_GOLD, AnnotatorRef

LS = "ls:admin@stratagem.local"
LS_TAG = "p1.t0.a5@2024-05-01T10:00:00.123456+00:00"
KNOWN = [AnnotatorRef("rule", "rules", "r1"), AnnotatorRef("rule", "rules", "r2"),
         AnnotatorRef("human", LS, LS_TAG), AnnotatorRef("human", "ls:7", "p1.t3.a9@2024-05-02T00:00:00"),
         AnnotatorRef("gold", "procedural-teacher", ""), AnnotatorRef("llm", "llm:gpt-4o-mini", "prompt-3")]


def test_gold_means_every_gold_span():
    assert AnnotatorRef.parse("gold") is EVERY_GOLD and AnnotatorRef.parse(" gold ", KNOWN) is EVERY_GOLD
    assert EVERY_GOLD.every_gold and str(EVERY_GOLD) == "gold"
    assert not AnnotatorRef.parse("procedural-teacher", KNOWN).every_gold  # a gold annotator by name: its spans only


def test_a_name_alone_is_its_latest_version():
    ref = AnnotatorRef.parse("rules", KNOWN)
    assert (ref.name, ref.version, ref.kind, str(ref)) == ("rules", None, "rule", "rules")
    assert ref == AnnotatorRef(None, "rules")  # the kind is informative, not part of the identity
    assert AnnotatorRef("rule", "rules", "r2").latest() == ref


def test_name_at_version():
    ref = AnnotatorRef.parse("rules@r2", KNOWN)
    assert (ref.name, ref.version, str(ref)) == ("rules", "r2", "rules@r2")
    assert AnnotatorRef.parse("procedural-teacher@", KNOWN) == AnnotatorRef("gold", "procedural-teacher", "")
    unknown = AnnotatorRef.parse("rules@r9", KNOWN)  # a known name at a version it lacks: selects nothing
    assert (unknown.name, unknown.version) == ("rules", "r9")


def test_names_with_at_signs():
    ref = AnnotatorRef.parse(LS, KNOWN)
    assert (ref.name, ref.version, ref.kind, str(ref)) == (LS, None, "human", LS)
    assert AnnotatorRef.parse(LS) == AnnotatorRef(None, LS)  # without the lake, never split at an "@"
    versioned = AnnotatorRef.parse(f"{LS}@{LS_TAG}", KNOWN)  # "@" in the name and in the version
    assert (versioned.name, versioned.version) == (LS, LS_TAG)
    assert str(versioned) == f"{LS}@{LS_TAG}"
    assert AnnotatorRef.parse(f"{LS}@p9.t9.a9@x", KNOWN) == AnnotatorRef(None, LS, "p9.t9.a9@x")
    assert AnnotatorRef.parse("nobody@example.org", KNOWN) == AnnotatorRef(None, "nobody@example.org")


@pytest.mark.parametrize("ref", KNOWN + [r.latest() for r in KNOWN] + [EVERY_GOLD])
def test_printing_and_parsing_round_trip(ref):
    assert AnnotatorRef.parse(str(ref), KNOWN) == ref


def test_ambiguous_and_empty_names_are_refused():
    known = [AnnotatorRef("human", "a@b", "c"), AnnotatorRef("human", "a", "b@c")]
    with pytest.raises(ValueError, match="more than one annotator version"):
        AnnotatorRef.parse("a@b@c", known)
    with pytest.raises(ValueError, match="empty"):
        AnnotatorRef.parse("  ")
