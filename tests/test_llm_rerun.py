"""A rerun re-pays nothing: the LLM tagger's response schema names the taxonomy's labels as an
enum, an item whose final answer failed validation is cached like a success (a rerun records
the same error without a request; --retry-failed sends it again), and transport failures
(HTTP 5xx here) are asked again by the next run. Real DuckLake, real loopback HTTP server
(tests/llm_server.py), the CLI as a user runs it.

    .venv/bin/python -m pytest tests/test_llm_rerun.py -q
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from llm_server import LLMTestServer, fill_schema, request_schema
from pipeline.cli import app
from test_annotate_stages import _fill
from warehouse import Lake

runner = CliRunner()


@pytest.fixture
def server():
    with LLMTestServer() as s:
        yield s


def _annotate(lake_root, server, *extra: str) -> dict:
    r = runner.invoke(app, ["annotate", "--root", str(lake_root), "--annotator", "llm", "--base-url", server.url,
                            "--model", "test-model", "--max-retries", "0", "--timeout", "10", *extra])
    assert r.exit_code == 0, r.output
    with Lake.open(lake_root, read_only=True) as lk:
        return json.loads(lk.scalar("SELECT counts FROM runs ORDER BY started_at DESC LIMIT 1"))


def _quarantine(lake_root) -> list[tuple[str, str]]:
    with Lake.open(lake_root, read_only=True) as lk:
        return lk.rows("SELECT locator, reason FROM quarantine WHERE stage = 'annotate' ORDER BY 1")


def test_the_response_schema_names_the_labels_so_a_schema_filling_server_answers_validly(lake_root, server):
    with Lake.open(lake_root) as lk:
        _fill(lk)
    server.inject("schema_fill", times=100)
    counts = _annotate(lake_root, server)
    tag_requests = [r for r in server.log if r.kind == "tag"]
    assert tag_requests and counts["tagged"] == 3 and counts.get("failed", 0) == 0, counts
    with Lake.open(lake_root, read_only=True) as lk:
        labels = {label for (label,) in lk.rows("SELECT DISTINCT label FROM spans WHERE annotator_kind = 'llm'")}
    assert labels == {"planning"}  # the schema's first enum value: "x" (a free string) fails every item


def test_a_failed_answer_is_cached_and_a_rerun_sends_nothing_unless_retry_failed(lake_root, server):
    with Lake.open(lake_root) as lk:
        _fill(lk)
    server.inject("bad_label", times=1000, kind="tag")  # every answer, re-asks included, fails validation
    first = _annotate(lake_root, server)
    assert first["failed"] == 3 and first["requests"] == len(server.log) >= 3, first
    reasons = _quarantine(lake_root)
    assert len(reasons) == 3 and all("telepathy" in reason for _, reason in reasons), reasons

    sent = len(server.log)
    again = _annotate(lake_root, server)
    assert len(server.log) == sent, "a rerun sent requests for answers that had already failed"
    assert again["failed"] == 3 and again["cached"] == 3 and again.get("requests", 0) == 0, again
    assert again["quarantined.known"] == 3 and _quarantine(lake_root) == reasons  # the same errors, stored once

    server.clear_faults()  # the model would now answer well: --retry-failed asks again on purpose
    retried = _annotate(lake_root, server, "--retry-failed")
    assert len(server.log) > sent and retried["tagged"] == 3 and retried.get("failed", 0) == 0, retried


def test_transport_failures_are_asked_again_by_the_next_run(lake_root, server):
    with Lake.open(lake_root) as lk:
        _fill(lk)
    server.inject("500", times=3, kind="tag")
    first = _annotate(lake_root, server)
    assert first["failed"] == 3 and first.get("cached", 0) == 0, first
    again = _annotate(lake_root, server)
    assert again["tagged"] == 3 and again["requests"] == 3 and again.get("cached", 0) == 0, again


def test_help_says_which_failures_a_rerun_sends_again():
    r = runner.invoke(app, ["annotate", "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    text = " ".join(r.output.split())
    assert "--retry-failed" in text and "timeouts, HTTP 429 / 5xx" in text and "failed validation" in text


def test_fill_schema_reads_the_schema_instructor_sends():
    body = {"messages": [{"role": "system", "content": 'Match this json_schema:\n\n{"type": "object", '
                          '"properties": {"a": {"enum": ["p", "q"]}, "b": {"anyOf": [{"type": "string"}, '
                          '{"type": "null"}]}}}\n\nReturn an instance.'}]}
    assert fill_schema(request_schema(body)) == {"a": "p", "b": None}
