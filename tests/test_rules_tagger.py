"""Segmentation (annotators/segments.py) and the rules tagger (annotators/rules.py).

    .venv/bin/pytest tests/test_rules_tagger.py
"""
from __future__ import annotations


import pytest
from hypothesis import given, settings, strategies as st

from annotators import TagItem, get_tagger
from annotators.rules import RulesTagger, Segments, compile_patterns, label_patterns, literal_anchor, naive_tag, rust_pattern
from annotators.segments import number_segments, segment
from schemas.taxonomy import TaxonomyError, load_taxonomy

TEXT = (
    "To solve this, I need to find the total cost first. The apples cost 3 x 2 = 6 dollars.\n"
    "Recall that a dozen is 12 items. So Dr. Smith buys 24 eggs.\n"
    "Wait, that's wrong. Let me check: 6 + 6 = 12, which matches.\n"
    "The answer is \\boxed{12}."
)


def test_segments_are_exact_trimmed_and_respect_abbreviations():
    segs = segment(TEXT)
    pieces = [TEXT[s:e] for s, e in segs]
    assert pieces == [
        "To solve this, I need to find the total cost first.", "The apples cost 3 x 2 = 6 dollars.",
        "Recall that a dozen is 12 items.", "So Dr. Smith buys 24 eggs.",
        "Wait, that's wrong.", "Let me check: 6 + 6 = 12, which matches.", "The answer is \\boxed{12}."]
    assert segment("e.g. this and 0.5 of that. next") == [(0, 31)]


def test_segment_modes_and_long_runs():
    text = "para one.\nstill one\n\n  \npara two"
    assert [text[s:e] for s, e in segment(text, mode="paragraph")] == ["para one.\nstill one", "para two"]
    assert segment("x" * 2500, max_chars=1000) == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert segment("ab cd ef", max_chars=5) == [(0, 5), (6, 8)]
    assert segment("abc defg", max_chars=4) == [(0, 3), (4, 8)]
    assert segment("") == [] and segment(" \n\t ") == []
    with pytest.raises(ValueError):
        segment("x", mode="words")
    assert number_segments("a b\nc. D", [(0, 5), (7, 8)]) == "[S1] a b c\n[S2] D"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .!?\n\t\"'Dr.e5é😀")), max_size=200), st.integers(3, 40))
def test_segments_cover_every_visible_character_once(text, max_chars):
    segs = segment(text, max_chars=max_chars)
    covered = []
    for (s, e), nxt in zip(segs, segs[1:] + [(len(text) + 1, 0)]):
        assert 0 <= s < e <= len(text) and e <= nxt[0]
        assert e - s <= max_chars
        assert text[s:e] == text[s:e].strip()
        covered += range(s, e)
    assert sorted(set(covered)) == covered
    visible = [i for i, ch in enumerate(text) if not ch.isspace()]
    assert set(visible) <= set(covered)


def labels_of(result, text):
    return [(text[s.start:s.end], s.label) for s in result.spans]


def test_rules_tagger_labels_segments_and_merges_neighbours():
    tagger = RulesTagger(merge=True)
    [r] = tagger.tag([TagItem("t", TEXT)])
    assert labels_of(r, TEXT) == [
        ("To solve this, I need to find the total cost first.", "planning"),
        ("Recall that a dozen is 12 items.", "recall"),
        ("Wait, that's wrong.", "backtracking"),
        ("Let me check: 6 + 6 = 12, which matches.", "verification")]
    assert all(s.alignment == "segment" and 0 < s.confidence < 1 for s in r.spans)
    text = "Step 1: find the cost. Step 2: find the change."
    [r] = tagger.tag([TagItem("u", text)])
    assert labels_of(r, text) == [(text, "decomposition")]  # two neighbouring segments, one span
    [r] = RulesTagger(merge=False).tag([TagItem("u", text)])
    assert len(r.spans) == 2


def test_confidence_grows_with_cue_strength_and_drops_on_a_tie():
    tagger = RulesTagger()
    one, two, tie = (tagger.tag([TagItem("x", t)])[0].spans[0].confidence for t in (
        "Let me check the sum.", "Let me check: plugging back in, it checks out.", "Wait, let me check."))
    assert two > one > tie


def test_empty_text_is_an_error_value_and_huge_text_works():
    tagger = get_tagger("rules")
    big = ("We need to find the area. Recall that the area of a square is s^2. " * 16000)[:1_000_000]
    results = tagger.tag([TagItem("e", ""), TagItem("w", "  \n\t "), TagItem("n", "nothing to see"),
                          TagItem("b", big)])
    assert results[0].error and results[1].error and not results[0].spans
    assert results[2].error is None and results[2].spans == []
    assert results[3].error is None and results[3].spans
    assert all(0 <= s.start < s.end <= len(big) for s in results[3].spans)
    assert {s.label for s in results[3].spans} == {"planning", "recall"}


TEXTS = [
    TEXT,
    "Either this\nor that, then we see. Case 1: n is even. Otherwise, n is odd.",  # a cue across a line break
    "1. First, compute the sum.\n2. Next, we find the mean.\n- check it\nWorking backwards from the goal, hmm.",
    "Let's try n = 1. For n = 2 it fails. Suppose x = 3. Alternatively, by the Pythagorean theorem we get 5.",
    "",
    "   ",
    "No cues at all here. None whatsoever.",
    "Let me check " + "x" * 1500 + " again. Wait, no.\n" + "step 1 " * 400,  # segments over max_chars are cut
]


@pytest.mark.parametrize("backend", ["polars", "regex", "aho"])
def test_backends_agree_with_the_naive_loop(backend):
    tagger = RulesTagger(backend=backend)
    regexes = compile_patterns(label_patterns(tagger.taxonomy))
    results = tagger.tag([TagItem(str(i), t) for i, t in enumerate(TEXTS)])
    for text, result in zip(TEXTS, results):
        assert result.spans == naive_tag(text, regexes, tagger.labels)


def test_cues_come_from_the_taxonomy_file_and_version_tracks_it(tmp_path):
    base = (load_taxonomy().sha256, RulesTagger().version)
    toml = tmp_path / "tax.toml"
    toml.write_text('name = "mini"\nversion = "7"\n'
                    '[[labels]]\nname = "verification"\ndescription = "checks"\ncolor = "#000000"\nhotkey = "v"\n'
                    'cues = ["(?<=just )checking", "\\\\bzork\\\\b"]\n')
    tax = load_taxonomy(toml)
    tagger = get_tagger("rules", taxonomy=tax)
    assert tagger.version != base[1] and "mini@7" in tagger.version
    # look-behind is beyond Rust regex: the polars backend falls back to Python re for that label
    [r] = tagger.tag([TagItem("t", "I was just checking. Zork! Then checking again.")])
    assert [(s.start, s.end, s.label) for s in r.spans] == [(0, 26, "verification")]


def test_duplicate_label_taxonomy_is_a_one_line_error(tmp_path):
    toml = tmp_path / "dup.toml"
    label = '[[labels]]\nname = "planning"\ndescription = "d"\ncolor = "#000000"\nhotkey = "{k}"\n'
    toml.write_text('name = "d"\nversion = "1"\n' + label.format(k="a") + label.format(k="b"))
    with pytest.raises(TaxonomyError, match="duplicate name 'planning'"):
        load_taxonomy(toml)


def test_literal_anchor():
    assert literal_anchor(r"\blet me (?:check|verify)\b") == "let me "
    assert literal_anchor(r"^\s*(?:\d+[.)]|[-*])\s") is None
    assert literal_anchor(r"\bwait\b") == "wait"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown rules backend"):
        RulesTagger(backend="gpu")


def test_rust_translation_keeps_python_ascii_semantics():
    assert rust_pattern(r"\bwait\b") == r"(?-u:\b)wait(?-u:\b)"
    assert rust_pattern(r"[\w'-]+ \d") == r"[a-zA-Z0-9_'-]+ (?-u:\d)"
    assert rust_pattern(r"[^\W]") is None  # no ASCII spelling: that label falls back to Python re
    text = "café wait, naïve check: éwait. Let me check ünd verify."
    spans = {b: RulesTagger(backend=b).tag([TagItem("t", text)])[0].spans for b in ("polars", "regex", "aho")}
    assert spans["polars"] == spans["regex"] == spans["aho"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab .!?\n\"Dr.x5é")), max_size=80), max_size=6),
       st.integers(3, 30), st.sampled_from(["sentence", "paragraph"]))
def test_batch_segments_equal_per_text_segments(texts, max_chars, mode):
    batch = Segments.build(texts, mode=mode, max_chars=max_chars)
    flat = [(d, s, e) for d, s, e in zip(batch.doc.tolist(), batch.start.tolist(), batch.end.tolist())]
    assert flat == [(i, s, e) for i, t in enumerate(texts) for s, e in segment(t, mode=mode, max_chars=max_chars)]
    assert batch.texts == [texts[d][s:e] for d, s, e in flat]


def test_agreement_with_the_sample_gold_stays_at_its_measured_level():
    """A floor under what bench/rules_tagger.py measures (overlap F1 0.64, kappa 0.42 on 3,000
    trajectories), on a seed the cues were not tuned on: a cue change that breaks the tagger on
    text it was not written for fails here."""
    from annotators.agreement import compare
    from pipeline.sample import generate_records

    records = list(generate_records(60, 20260611))
    tagger = RulesTagger()
    results = tagger.tag([TagItem(r["id"], r["solution"]) for r in records])
    ours = {r["id"]: [(s.start, s.end, s.label) for s in res.spans] for r, res in zip(records, results)}
    gold = {r["id"]: [(g["start"], g["end"], g["label"]) for g in r["gold_spans"]] for r in records}
    rep = compare({r["id"]: r["solution"] for r in records}, ours, gold, labels=list(tagger.labels))
    assert rep.overlap.f1 > 0.55 and rep.overall_kappa > 0.35
    assert rep.exact.f1 < 0.9  # the sample is not a keyword list the tagger can match perfectly
