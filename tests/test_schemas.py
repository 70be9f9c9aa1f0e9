"""The contract: models validate rows, Arrow schemas come from the models, the taxonomy
loads and refuses bad files, ids are stable content hashes."""
from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from schemas import (SCHEMA_VERSION, Span, Strategy, TaxonomyError, Trajectory, arrow_schema, content_id,
                     load_taxonomy, normalise_text, text_sha, to_arrow)


def span(**kw) -> Span:
    base = dict(span_id="s", trajectory_id="t", text_sha="x", start=0, end=3, label="planning",
                annotator_kind="rule", annotator="rules", alignment="segment")
    return Span(**(base | kw))


def test_arrow_schema_is_derived_from_the_model():
    schema = arrow_schema(Span)
    assert schema.names == list(Span.model_fields)
    assert schema.field("start").type == pa.int64() and not schema.field("start").nullable
    assert schema.field("confidence").nullable and schema.field("confidence").type == pa.float64()
    assert arrow_schema(Strategy).field("steps").type == pa.list_(pa.string())
    table = to_arrow([span(), span(span_id="s2", start=1)], Span)
    assert table.schema == schema and table.column("annotator_kind").to_pylist() == ["rule", "rule"]
    assert SCHEMA_VERSION


@pytest.mark.parametrize("bad", [dict(start=3, end=3), dict(start=-1), dict(confidence=1.5),
                                 dict(annotator_kind="robot"), dict(alignment="guess"), dict(extra_field=1)])
def test_bad_spans_are_rejected_at_the_schema(bad):
    with pytest.raises(ValidationError):
        span(**bad)


def test_taxonomy_validates_labels_and_offsets():
    tax = load_taxonomy()
    assert {"planning", "verification", "backtracking"} <= set(tax.names) and len(tax.sha256) == 64
    tax.validate_span(span(), "abcdef")
    with pytest.raises(ValueError, match="unknown label"):
        tax.validate_span(span(label="guessing"), "abcdef")
    with pytest.raises(ValueError, match="beyond text length"):
        tax.validate_span(span(end=10), "abc")


def test_trajectory_n_chars_must_match():
    with pytest.raises(ValidationError):
        Trajectory(trajectory_id="t", problem_id="p", teacher="x", text="héllo", text_sha="s", n_chars=6)


@pytest.mark.parametrize("body, message", [
    ('name="x"\nversion="1"\n[[labels]]\nname="a"\ndescription="d"\ncolor="#000000"\nhotkey="a"\n'
     '[[labels]]\nname="a"\ndescription="d"\ncolor="#000000"\nhotkey="b"\n', "duplicate name"),
    ('name="x"\nversion="1"\n[[labels]]\nname="a"\ndescription="d"\ncolor="#000000"\nhotkey="a"\ncues=["(unclosed"]\n',
     "not a valid regular expression"),
    ("name = [unclosed", "not valid TOML"),
    ('name="x"\nversion="1"\nlabels=[]\n', "labels"),
])
def test_bad_taxonomy_files_fail_with_one_line(tmp_path, body, message):
    path = tmp_path / "tax.toml"
    path.write_text(body)
    with pytest.raises(TaxonomyError, match=message) as info:
        load_taxonomy(path)
    assert "\n" not in str(info.value)


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.toml")


@given(st.text())
def test_normalise_text_is_idempotent_and_removes_cr(text):
    once = normalise_text(text)
    assert normalise_text(once) == once and "\r" not in once and not once.startswith("\ufeff")


@given(st.lists(st.one_of(st.none(), st.text(), st.integers()), max_size=4))
def test_content_id_is_stable_and_separates_parts(parts):
    assert content_id(*parts) == content_id(*parts) and len(content_id(*parts)) == 32
    assert content_id("ab", "c") != content_id("a", "bc")


def test_text_sha_is_sha256_of_utf8():
    assert text_sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
