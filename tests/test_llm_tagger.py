"""The LLM tagger and describer against the loopback server: validated spans with exact offsets,
re-asks on invalid answers, every item ending as spans or a recorded error, windows, caching."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import llm  # noqa: F401  (registers the "llm" tagger and describer)
from annotators import DescribeItem, TagItem, get_describer, get_tagger
from annotators.llm.tagger import locate_quote, merge_spans, windows
from annotators.base import SpanOut
from llm_server import LLMTestServer
from schemas import load_taxonomy

TRACE = ("I'll first find the cost of the apples. Each apple costs 3 dollars.\n"
         "So 4 apples cost 12 dollars.\n"
         "Let me check: 4 times 3 is 12. The answer is \\boxed{12}.")
TAXONOMY = load_taxonomy()


@pytest.fixture
def server():
    with LLMTestServer() as s:
        yield s


def tagger(server, tmp_path, **kw):
    kw.setdefault("max_retries", 2)
    kw.setdefault("timeout_s", 5)
    return get_tagger("llm", base_url=server.url, model="test-model", cache_dir=tmp_path / "cache", **kw)


def assert_valid(result, text):
    assert result.error is None, result.error
    for s in result.spans:
        assert 0 <= s.start < s.end <= len(text) and s.label in TAXONOMY.names


def test_spans_get_offsets_from_code_and_quote_alignment(server, tmp_path):
    [r] = tagger(server, tmp_path).tag([TagItem("t1", TRACE, "4 apples at 3 dollars each?")])
    assert_valid(r, TRACE)
    planning, verification = r.spans
    assert (planning.label, planning.alignment) == ("planning", "exact")
    assert TRACE[planning.start:planning.end] == "I'll first find the"
    assert (verification.label, verification.alignment) == ("verification", "segment")
    assert TRACE[verification.start:verification.end] == "The answer is \\boxed{12}."
    assert [c.status for c in r.calls] == ["ok"]


@pytest.mark.parametrize("fault", ["bad_quote", "out_of_bounds", "bad_label"])
def test_invalid_answer_is_sent_back_and_the_retry_is_paid_for(server, tmp_path, fault):
    server.inject(fault, kind="tag")
    [r] = tagger(server, tmp_path).tag([TagItem("t1", TRACE)])
    assert_valid(r, TRACE)
    assert [c.status for c in r.calls] == ["invalid", "ok"]
    assert r.calls[0].tokens_out > 0 and r.calls[0].cost_usd > 0  # the failed attempt is costed
    reask = server.log[1]
    assert reask.body_sha != server.log[0].body_sha  # the validation error went back to the model


@pytest.mark.parametrize("fault,status", [("bad_quote", "invalid"), ("length", "length"), ("500", "http_500")])
def test_final_failure_is_an_error_never_a_guess(server, tmp_path, fault, status):
    server.inject(fault, times=10, kind="tag")
    [r] = tagger(server, tmp_path, validation_retries=1, max_retries=1).tag([TagItem("t1", TRACE)])
    assert r.spans == [] and r.error
    assert r.calls and r.calls[-1].status == status
    assert sum(c.cost_usd for c in r.calls) >= 0


def test_mixed_faults_every_item_ends_as_spans_or_error(server, tmp_path):
    texts = [f"Step {i}: first, find the total of {i} and {i + 1}.\nLet me check it. It is {2 * i + 1}." for i in range(12)]
    items = [TagItem(f"t{i}", t) for i, t in enumerate(texts)] + [TagItem("empty", "   \n "), TagItem("huge", "x " * 150_000)]
    for fault in ("429", "500", "malformed", "bad_quote", "out_of_bounds", "length", "bad_label"):
        server.inject(fault, kind="tag")
    server.inject("length", times=3, kind="tag")
    results = tagger(server, tmp_path, max_text_chars=200_000, concurrency=3).tag(items)
    assert [r.item_id for r in results] == [i.item_id for i in items]
    for item, r in zip(items, results):
        if r.error is None:
            assert r.spans
            assert_valid(r, item.text)
        else:
            assert r.spans == []
    by_id = {r.item_id: r for r in results}
    assert "empty" in by_id["empty"].error and "max_text_chars" in by_id["huge"].error
    assert not by_id["empty"].calls and not by_id["huge"].calls
    failed = [r for r in results[:12] if r.error]
    # 4 "length" faults end 4 items; at most one more can collect 3 invalid answers in a row
    assert 4 <= len(failed) <= 5
    assert all(r.calls[-1].status in ("length", "invalid") for r in failed)
    statuses = {c.status for r in results for c in r.calls}
    assert {"http_429", "http_500", "invalid", "length", "ok"} <= statuses
    billed = [c for r in results for c in r.calls]
    assert len(billed) == len(server.log)  # every request the server saw is accounted for
    assert sum(c.tokens_out for c in billed if c.status != "ok") > 0  # failed attempts carry their tokens


def test_long_trace_goes_in_overlapping_windows(server, tmp_path):
    text = "\n".join(f"Line {i} computes part {i} of the total." for i in range(100))
    [r] = tagger(server, tmp_path, window_segments=40, window_overlap=8).tag([TagItem("long", text)])
    assert_valid(r, text)
    assert len(server.log) == 3 and len(r.calls) == 3
    starts = sorted(s.start for s in r.spans if s.label == "planning")
    assert starts == [text.index("Line 0 "), text.index("Line 32 "), text.index("Line 64 ")]


def test_rerun_is_served_from_cache(server, tmp_path):
    t = tagger(server, tmp_path)
    first = t.tag([TagItem("a", TRACE), TagItem("b", TRACE + "\nDone.")])
    n = len(server.log)
    again = tagger(server, tmp_path).tag([TagItem("a", TRACE), TagItem("b", TRACE + "\nDone.")])
    assert len(server.log) == n
    assert [r.spans for r in again] == [r.spans for r in first]
    assert all(c.status == "cached" for r in again for c in r.calls)


def test_annotator_identity(server, tmp_path):
    t = tagger(server, tmp_path)
    assert (t.kind, t.name) == ("llm", "llm:test-model") and "tag-v2" in t.version


def test_locate_quote_exact_then_fuzzy():
    text = "Let me check: 4 times 3 is 12.\nWait, that is wrong."
    assert locate_quote(text, "4 times 3", 0, len(text)) == (14, 23, "exact")
    assert locate_quote(text, "LET ME   check", 0, len(text))[2] == "fuzzy"
    s, e, how = locate_quote(text, "Wait, that iz wrong", 0, len(text))
    assert how == "fuzzy" and text[s:e].startswith("Wait")
    assert locate_quote(text, "completely different words here", 0, len(text)) is None
    assert locate_quote(text, "Wait", 0, 20) is None  # only inside the given range


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 50), max_size=60), st.integers(1, 10), st.integers(0, 9), st.integers(1, 120))
def test_windows_cover_every_segment(lengths, size, overlap, max_chars):
    overlap = min(overlap, size - 1)
    ws = windows(lengths, size, overlap, max_chars)
    covered = {i for lo, hi in ws for i in range(lo, hi)}
    assert covered == set(range(len(lengths)))
    assert all(hi - lo <= size for lo, hi in ws) and all(a[0] < b[0] for a, b in zip(ws, ws[1:]))


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200), st.data())
def test_located_quotes_are_valid_offsets(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = data.draw(st.one_of(st.just(text[start:end]), st.text(min_size=1, max_size=30)))
    found = locate_quote(text, quote, start, end)
    if found is not None:
        s, e, how = found
        assert start <= s < e <= end and how in ("exact", "fuzzy")
        if how == "exact":
            assert text[s:e] == quote.strip()


def test_windows_and_merge():
    assert windows([], 40, 8) == [] and windows([5] * 10, 40, 8) == [(0, 10)]
    ws = windows([5] * 100, 40, 8)
    assert ws == [(0, 40), (32, 72), (64, 100)]
    by_chars = windows([100] * 10, 40, 1, max_chars=350)  # 3 segments fit in 350 characters
    assert by_chars == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 10)]
    assert windows([1000, 10, 10], 40, 8, max_chars=50) == [(0, 1), (1, 3)]  # a long segment still gets a window
    merged = merge_spans([SpanOut(0, 10, "recall"), SpanOut(5, 20, "recall"), SpanOut(5, 8, "planning")])
    assert merged == [SpanOut(0, 20, "recall", None, "segment"), SpanOut(5, 8, "planning")]


def test_describer_ranks_candidates_and_flags_leaks(server, tmp_path):
    d = get_describer("llm", k=3, base_url=server.url, model="test-model", cache_dir=tmp_path / "c", max_retries=2)
    server.inject("500", times=2, kind="describe")
    [r] = d.describe([DescribeItem("p1", "Tom buys 4 apples at 3 dollars each. What does he pay?", "12", "t1", TRACE,
                                   spans=[SpanOut(0, 5, "planning")])])
    assert r.error is None and len(r.candidates) == 3
    assert [c.rank for c in r.candidates] == [1, 2, 3] and all(c.leakage_flags == [] for c in r.candidates)
    assert len(r.calls) == 5 and len({c.cache_key for c in r.calls}) == 3
    n = len(server.log)
    d.describe([DescribeItem("p1", "Tom buys 4 apples at 3 dollars each. What does he pay?", "12", "t1", TRACE,
                             spans=[SpanOut(0, 5, "planning")])])
    assert len(server.log) == n


def test_describer_error_when_no_candidate_survives(server, tmp_path):
    d = get_describer("llm", k=2, base_url=server.url, model="test-model", cache_dir=None, max_retries=0,
                      validation_retries=0)
    server.inject("length", times=2, kind="describe")
    [r] = d.describe([DescribeItem("p1", "What is 2 + 2?", "4", None, None)])
    assert r.candidates == [] and "no valid candidate" in r.error and len(r.calls) == 2


def test_describer_flags_leaking_candidates(server, tmp_path):
    d = get_describer("llm", k=1, base_url=server.url, model="test-model", cache_dir=None)
    # the server's description contains no numbers; a reference answer that is a word it uses leaks
    [r] = d.describe([DescribeItem("p1", "Which step comes last?", "problem", None, None)])
    assert r.candidates[0].leakage_flags == ["answer:problem"]


def test_describer_score_prefers_clear_and_faithful():
    from annotators.llm.describer import StrategyAnswer, score

    good = StrategyAnswer(problem_type="rate problem", approach="Set up the rates, combine them, then check.",
                          steps=["Write each rate.", "Combine the rates.", "Check the result."])
    thin = StrategyAnswer(problem_type="rate problem", approach="Just do it.", steps=["Solve."])
    assert score(good) > score(thin)
    assert score(good, ["verification"]) > score(good, []) == score(good, ["exploration"])
