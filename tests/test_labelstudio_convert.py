"""Pure Label Studio conversion (annotators/labelstudio.py): config, parts, spans <-> results.

    .venv/bin/pytest tests/test_labelstudio_convert.py
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import example, given, settings, strategies as st

from annotators.base import SpanOut
from annotators.labelstudio import (
    CHOICE_FROM, CHOICE_OPTIONS, EDIT_FROM, LEAK_FROM, LEAK_OPTIONS, LEAK_VALUE, NO_CHOICE, RATING_FROM,
    candidate_options, candidate_value, config_labels, guidelines_html, label_hint, label_mismatch, labelling_config,
    leak_value, parse_edit, parse_strategy, read_strategy_choice, results_to_spans, same_description,
    spans_to_results, split_text,
)
from schemas import load_taxonomy
from schemas.export import render_strategy

TAX = load_taxonomy()
TRICKY = "Plan 😀 then 👩‍👩‍👧 and 中文 with é (e\u0301) and $\\frac{1}{2}$.\nDone."


def test_config_is_generated_from_the_taxonomy():
    xml = labelling_config(TAX, k=3)
    root = ET.fromstring(xml)
    labels = {lab.get("value"): lab for lab in root.iter("Label")}
    assert list(labels) == list(TAX.names)
    for tax_label in TAX.labels:
        assert labels[tax_label.name].get("background") == tax_label.color
        assert labels[tax_label.name].get("hotkey") == tax_label.hotkey
    text = next(t for t in root.iter("Text") if t.get("name") == "text")
    assert text.get("granularity") == "symbol"
    names = [t.get("name") for t in root.iter("Text")]
    assert names.index("question") < names.index("text")  # problem shown above the trajectory
    # choices and leak flags come from each task's data: only the candidates that exist are offered
    choices = {c.get("name"): c.get("value") for c in root.iter("Choices")}
    assert choices == {CHOICE_FROM: f"${CHOICE_OPTIONS}", LEAK_FROM: f"${LEAK_OPTIONS}"}
    options, leaks = candidate_options(["d1", "d2", "d3"])
    assert [o["value"] for o in options] == [candidate_value(i) for i in (1, 2, 3)] + [NO_CHOICE]
    assert [o["value"] for o in leaks] == [leak_value(i) for i in (1, 2, 3)] == [
        "Candidate 1 leaks the answer", "Candidate 2 leaks the answer", "Candidate 3 leaks the answer"]
    assert candidate_options([]) == ([{"value": NO_CHOICE}], [])
    # edit box, leak flags and rating appear once a choice is made (so never on a later part, which has none)
    gated = next(v for v in root.iter("View") if v.get("visibleWhen") == "choice-selected")
    assert gated.get("whenTagName") == CHOICE_FROM
    assert {t.get("name") for t in gated.iter() if t.get("name")} == {EDIT_FROM, LEAK_FROM, "quality"}
    assert next(root.iter("Rating")).get("maxRating") == "5"
    # per-label hints carry the guidelines
    back = TAX.label("backtracking")
    assert labels["backtracking"].get("hint") == label_hint(back) and back.not_this in label_hint(back)
    assert next(root.iter("TextArea")).get("name") == EDIT_FROM
    assert config_labels(xml) == list(TAX.names)
    assert label_mismatch(xml, TAX.names) is None


def test_label_mismatch_names_the_difference():
    xml = labelling_config(TAX).replace('value="recall"', 'value="remembering"')
    msg = label_mismatch(xml, TAX.names)
    assert "remembering" in msg and "recall" in msg
    with pytest.raises(ValueError, match="not valid XML"):
        config_labels("<View>")


@settings(max_examples=200, deadline=None)
@example(text="\\" + "\u0301" * 5, max_chars=5)  # one cluster longer than the limit (CI found it)
@given(st.text(alphabet=st.sampled_from(list("ab \n😀中\u0301\u200d👩é$\\")), max_size=300), st.integers(5, 60))
def test_split_text_parts_concatenate_and_respect_the_limit(text, max_chars):
    parts = split_text(text, max_chars)
    assert "".join(p for _, p in parts) == text
    pos = 0
    for offset, part in parts:
        assert offset == pos and len(part) <= max_chars
        pos += len(part)

    def safe(b):  # not inside a ZWJ sequence, not before a combining mark
        return text[b] not in "\u0301\u200d" and text[b - 1] != "\u200d"

    for (prev, _), (offset, _) in zip(parts, parts[1:]):
        # an unsafe cut is allowed only where a single cluster is longer than the limit
        assert safe(offset) or not any(safe(b) for b in range(prev + 1, prev + max_chars + 1))


def test_split_prefers_paragraph_breaks():
    text = "alpha beta\n\ngamma delta\n\nepsilon"
    assert [p for _, p in split_text(text, 16)] == ["alpha beta\n\n", "gamma delta\n\n", "epsilon"]


def test_spans_to_results_clip_to_parts_and_round_trip():
    spans = [SpanOut(0, 4, "planning"), SpanOut(5, 6, "exploration"), SpanOut(12, 22, "recall")]
    parts = split_text(TRICKY, 15)
    back = []
    for offset, part in parts:
        results = spans_to_results(spans, offset, part)
        for r in results:
            assert r["value"]["text"] == part[r["value"]["start"]:r["value"]["end"]]
        got, problems = results_to_spans(results, part, offset, TAX.names)
        assert problems == []
        back += got
    assert TRICKY[5:6] == "😀"
    covered = {(s.start, s.end, s.label) for s in back}
    assert (0, 4, "planning") in covered and (5, 6, "exploration") in covered
    # a span crossing a part boundary comes back as pieces that tile it exactly
    pieces = sorted((s.start, s.end) for s in back if s.label == "recall")
    assert pieces[0][0] == 12 and pieces[-1][1] == 22
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))


@pytest.mark.parametrize("value, reason", [
    ({"start": 3, "end": 999, "text": "x", "labels": ["planning"]}, "out of range"),
    ({"start": -1, "end": 2, "text": "x", "labels": ["planning"]}, "out of range"),
    ({"start": 4, "end": 4, "text": "", "labels": ["planning"]}, "out of range"),
    ({"start": "0", "end": 2, "labels": ["planning"]}, "not integers"),
    ({"start": 0, "end": 4, "text": "Plan", "labels": ["guessing"]}, "not in the taxonomy"),
    ({"start": 0, "end": 4, "text": "Plan", "labels": ["planning", "recall"]}, "exactly one label"),
    ({"start": 0, "end": 4, "text": "Plam", "labels": ["planning"]}, "result says"),
])
def test_results_to_spans_rejects_bad_items(value, reason):
    item = {"from_name": "label", "to_name": "text", "type": "labels", "value": value}
    spans, problems = results_to_spans([item], TRICKY, 0, TAX.names)
    assert spans == [] and len(problems) == 1 and reason in problems[0].reason and problems[0].raw is item


def test_results_to_spans_maps_part_offsets_and_ignores_other_controls():
    part = TRICKY[10:]
    items = [{"from_name": "label", "type": "labels", "value": {"start": 2, "end": 4, "text": part[2:4], "labels": ["recall"]}},
             {"from_name": RATING_FROM, "type": "rating", "value": {"rating": 3}}]
    spans, problems = results_to_spans(items, part, 10, TAX.names)
    assert problems == [] and [(s.start, s.end) for s in spans] == [(12, 14)]
    assert TRICKY[12:14] == part[2:4]


def test_strategy_render_parse_round_trip_and_errors():
    text = render_strategy("rate problem", "relate totals to parts", ["find the unit rate", "scale it"])
    assert text == "Problem type: rate problem\nApproach: relate totals to parts\nSteps:\n1. find the unit rate\n2. scale it"
    assert parse_strategy(text) == ("rate problem", "relate totals to parts", ["find the unit rate", "scale it"])
    assert parse_strategy(text.replace("\n", "\r\n").replace("1. ", "- "))[2][0] == "find the unit rate"
    with pytest.raises(ValueError, match="Problem type"):
        parse_strategy("just do it")


def test_guidelines_come_from_the_taxonomy():
    html = guidelines_html(TAX)
    for label in TAX.labels:
        assert label.definition and label.span and len(label.examples) == 2 and label.not_this, label.name
        for text in (label.definition, label.span, *label.examples, label.not_this):
            assert text.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#x27;").replace(
                "<", "&lt;").replace(">", "&gt;") in html
    assert TAX.version == "2"  # the guidelines changed the file: a new version


def test_free_form_edits_parse_leniently_and_keep_what_they_can():
    strict = "Problem type: rates\nApproach: unit rate\nSteps:\n1. divide\n2. scale"
    assert parse_edit(strict) == parse_edit(strict, "other")
    assert parse_edit(strict).how == "layout" and parse_edit(strict).steps == ["divide", "scale"]
    free = parse_edit("Find the unit price first, then scale it. Check by estimating.", fallback_type="rates")
    assert (free.how, free.problem_type, free.approach, free.steps) == (
        "lenient", "rates", "Find the unit price first, then scale it.", ["Check by estimating."])
    listed = parse_edit("Idea: set up an equation\n- name the unknown\n- solve it\nthen check")
    assert (listed.approach, listed.steps) == ("set up an equation", ["name the unknown", "solve it", "then check"])
    assert parse_edit("just do it").approach == "just do it"  # never an error
    assert same_description("a  b\n c", "a b c") and not same_description("a b", "a c")


def test_read_strategy_choice():
    items = [{"from_name": CHOICE_FROM, "type": "choices", "value": {"choices": [candidate_value(2)]}},
             {"from_name": EDIT_FROM, "type": "textarea", "value": {"text": ["Problem type: a\nApproach: b\nSteps:\n1. c"]}},
             {"from_name": LEAK_FROM, "type": "choices", "value": {"choices": [LEAK_VALUE]}},
             {"from_name": RATING_FROM, "type": "rating", "value": {"rating": 4}}]
    choice = read_strategy_choice(items, k=3)
    assert (choice.candidate, choice.leak, choice.rating, choice.problems) == (2, True, 4, [])
    assert choice.edited_text.startswith("Problem type: a")
    bad = read_strategy_choice([{"from_name": CHOICE_FROM, "value": {"choices": [candidate_value(7)]}},
                                {"from_name": RATING_FROM, "value": {"rating": 9}}], k=3)
    assert bad.candidate is None and bad.rating is None and len(bad.problems) == 2
    assert read_strategy_choice([{"from_name": CHOICE_FROM, "value": {"choices": [NO_CHOICE]}}], 3).none_usable
    flagged = read_strategy_choice([{"from_name": LEAK_FROM, "value": {"choices": [leak_value(3), leak_value(1)]}}], 3)
    assert flagged.leak_candidates == [1, 3] and not flagged.leak and not flagged.problems
    beyond = read_strategy_choice([{"from_name": LEAK_FROM, "value": {"choices": [leak_value(4)]}}], 3)
    assert beyond.leak_candidates == [] and "unknown leak flag" in beyond.problems[0].reason
