"""The LLM client machinery against the loopback fault-injecting server (tests/llm_server.py):
retries and backoff, timeouts, accounting per attempt, the request cache, prices, secrets."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llm.cache import RequestCache, request_key
from llm.client import EndpointUnreachable, LLMClient, retry_after_seconds
from llm.prices import PriceError, load_prices
from llm_server import LLMTestServer

MSG = [{"role": "user", "content": "What is 2 + 3?\n\nSolve the problem step by step."}]


def ask_all(client: LLMClient, n: int = 1, **kw):
    async def one(session, i):
        return await session.chat(MSG, sampling={"temperature": 0.0, "max_tokens": 64}, prompt_version="t",
                                  key_extra={"i": i}, **kw)
    return client.run(one, list(range(n)))


@pytest.fixture
def server():
    with LLMTestServer() as s:
        yield s


def make_client(server, tmp_path, **kw) -> tuple[LLMClient, list[float]]:
    kw.setdefault("max_retries", 3)
    kw.setdefault("timeout_s", 5)
    client = LLMClient(server.url, "test-model", cache_dir=tmp_path / "cache", **kw)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)
    client.sleep = record
    return client, waits


def test_plain_completion_is_cached_and_costed(server, tmp_path):
    client, _ = make_client(server, tmp_path)
    [o] = ask_all(client)
    assert o.error is None and "\\boxed{3}" in o.value and o.finish_reason == "stop"
    [call] = o.calls
    assert call.status == "ok" and call.attempt == 1 and call.tokens_in > 0 and call.tokens_out > 0
    assert call.cost_usd == pytest.approx((call.tokens_in * 1.0 + call.tokens_out * 2.0) / 1e6)
    [again] = ask_all(client)
    assert again.cached and again.value == o.value and again.calls[0].status == "cached"
    assert len(server.log) == 1


def test_429_honours_retry_after_and_500_is_retried(server, tmp_path):
    client, waits = make_client(server, tmp_path)
    server.inject("429", retry_after="7")
    server.inject("500")
    [o] = ask_all(client)
    assert o.error is None
    assert [c.status for c in o.calls] == ["http_429", "http_500", "ok"]
    assert waits[0] == 7.0 and 0 < waits[1] <= 60
    assert len(server.log) == 3


def test_retry_after_parsing_caps_and_dates():
    import httpx
    assert retry_after_seconds(httpx.Headers({"retry-after": "2.5"})) == 2.5
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after_seconds(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_seconds(httpx.Headers({})) is None


def test_retry_after_garbage_is_the_default_backoff_never_a_crash():
    import httpx
    for value in ("abc", "", "inf", "nan", "1e400", "Mon, 99 Foo 0 99:99:99 GMT", "Wed, 21 Oct", "\x00" * 100):
        assert retry_after_seconds(httpx.Headers({"retry-after": value})) is None, value
    assert retry_after_seconds(httpx.Headers({"retry-after-ms": "soon", "retry-after": "3"})) == 3.0
    assert retry_after_seconds(httpx.Headers({"retry-after": "-5"})) == 0.0


@pytest.mark.parametrize("value", ["abc", "Fri, 31 Dec 9999 23:59:59 GMT", "inf"])
def test_429_with_an_unusable_retry_after_backs_off_by_default(server, tmp_path, value):
    client, waits = make_client(server, tmp_path, max_backoff_s=5)
    server.inject("429", retry_after=value)
    [o] = ask_all(client)
    assert o.error is None and [c.status for c in o.calls] == ["http_429", "ok"]
    assert len(waits) == 1 and 0 < waits[0] <= 5  # the default backoff, or the hint capped


def test_a_dripping_answer_is_cut_at_the_deadline_and_retried(tmp_path):
    """httpx's timeout is per read: a body dripped a byte every 0.2 s never trips it. The
    deadline bounds the whole attempt, and the cut attempt is a retried timeout."""
    import time

    with LLMTestServer(hang_s=30) as server:
        client, _ = make_client(server, tmp_path, timeout_s=1, max_retries=1)
        server.inject("drip", interval_s=0.2)
        t0 = time.monotonic()
        [o] = ask_all(client)
        elapsed = time.monotonic() - t0
    assert o.error is None and [c.status for c in o.calls] == ["timeout", "ok"], o.calls
    assert elapsed < 15, elapsed  # without the deadline: the whole drip (30 s here, minutes in the wild)
    assert "deadline" in o.calls[0].error


def test_retry_after_is_capped(server, tmp_path):
    client, waits = make_client(server, tmp_path, max_backoff_s=1.5)
    server.inject("429", retry_after="3600")
    [o] = ask_all(client)
    assert o.error is None and waits == [1.5]


def test_exhausted_retries_end_as_error_with_every_attempt_recorded(server, tmp_path):
    client, _ = make_client(server, tmp_path, max_retries=2)
    server.inject("500", times=3)
    [o] = ask_all(client)
    assert o.value is None and o.error.startswith("HTTP 500") and o.status == "http_500"
    assert [c.attempt for c in o.calls] == [1, 2, 3]
    assert all(c.cost_usd == 0.0 for c in o.calls)  # priced model, nothing billed for a 500
    assert ask_all(client)[0].error is None  # failures are not cached: the next run asks again


def test_hung_connection_times_out_then_recovers(tmp_path):
    with LLMTestServer(hang_s=5) as server:
        client, _ = make_client(server, tmp_path, timeout_s=1.0, max_retries=1)
        server.inject("hang")
        [o] = ask_all(client)
        assert o.error is None
        assert [c.status for c in o.calls] == ["timeout", "ok"]
        server.inject("hang", times=2)
        cached, o = ask_all(client, 2)  # item 0 comes from the cache; item 1 hangs twice
        assert cached.cached
        assert o.status == "timeout" and o.error == "request timed out"


def test_malformed_body_is_retried(server, tmp_path):
    client, _ = make_client(server, tmp_path)
    server.inject("malformed")
    [o] = ask_all(client)
    assert o.error is None and [c.status for c in o.calls] == ["invalid", "ok"]


def test_length_is_a_truncated_answer_not_an_error(server, tmp_path):
    client, _ = make_client(server, tmp_path)
    server.inject("length")
    [o] = ask_all(client)
    assert o.error is None and o.finish_reason == "length" and o.status == "length"
    assert o.calls[0].status == "length"


def test_concurrency_limit_is_respected(tmp_path):
    with LLMTestServer(latency_s=0.05) as server:
        client, _ = make_client(server, tmp_path, concurrency=3)
        outcomes = ask_all(client, 12)
        assert all(o.error is None for o in outcomes)
        assert server.max_in_flight == 3


def test_endpoint_down_raises_one_clear_error(tmp_path):
    with LLMTestServer() as s:
        url = s.url  # a port that was just free and is closed again below
    client = LLMClient(url, "test-model", max_retries=1, cache_dir=tmp_path / "c")
    waits = []

    async def record(seconds):
        waits.append(seconds)
    client.sleep = record
    with pytest.raises(EndpointUnreachable, match="cannot reach the LLM endpoint"):
        ask_all(client)
    assert len(waits) == 1


def test_api_key_never_in_cache_or_errors(server, tmp_path, monkeypatch):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MY_KEY", secret)
    client, _ = make_client(server, tmp_path, api_key_env="MY_KEY", max_retries=0)
    ask_all(client)
    server.inject("500")
    [bad] = ask_all(client, 2)[1:]
    assert bad.error is not None
    blobs = [p.read_text() for p in (tmp_path / "cache").rglob("*.json")]
    assert blobs and not any(secret in b for b in blobs)
    assert secret not in repr(bad)
    assert client.scrub(f"echo {secret}") == "echo ***"


def test_secrets_the_server_echoes_are_scrubbed_before_truncation(server, tmp_path, monkeypatch):
    key = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MY_KEY", key)
    url = server.url.replace("://", "://usr:PASSWD99@") + "?api_key=QKEY77"
    client = LLMClient(url, "test-model", cache_dir=None, api_key_env="MY_KEY", max_retries=0, timeout_s=5)
    for pad in [0, *range(220, 300, 8)]:  # padded, the echoed key straddles the stored length
        server.inject("echo", pad="x" * pad)
        [bad] = ask_all(client, 1)
        stored = [bad.error, *(c.error for c in bad.calls)]
        assert all(stored) and (pad or all("***" in s for s in stored))
        for secret in (key, key[:12], "PASSWD99", "QKEY77", "dXNyOlBBU1NXRDk5"):  # base64("usr:PASSWD99")
            assert not any(secret in s for s in stored), (pad, secret, stored)


def test_unknown_model_costs_unknown_not_zero(server, tmp_path):
    client = LLMClient(server.url, "no-such-priced-model", cache_dir=None)
    [o] = ask_all(client)
    assert o.error is None and o.calls[0].cost_usd is None and o.calls[0].tokens_in > 0


def test_price_table_file_errors(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text('[models."m"]\ninput = "cheap"\n')
    with pytest.raises(PriceError, match="numeric"):
        load_prices(bad)
    good = tmp_path / "q.toml"
    good.write_text('[models."m"]\ninput = 1.0\noutput = 3.0\n')
    assert load_prices(good).cost("m", 1_000_000, 1_000_000) == 4.0
    assert load_prices(good).cost("other", 1, 1) is None


def test_cache_entries_are_atomic_under_sigkill(tmp_path):
    """A writer killed mid-stream leaves only complete entries (temp files are never read)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from llm.cache import RequestCache, request_key
        cache = RequestCache({str(tmp_path / 'c')!r})
        for i in range(100000):
            key = request_key(text_sha=str(i), prompt_version="v", schema_hash="s", model="m", sampling={{}})
            cache.put(key, {{"value": "x" * 5000, "i": i}})
            if i == 300:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.kill()
    proc.wait()
    cache = RequestCache(tmp_path / "c")
    entries = list((tmp_path / "c").glob("*/*.json"))
    assert len(entries) > 300
    for path in entries:
        assert json.loads(path.read_text())["value"] == "x" * 5000
    key = request_key(text_sha="0", prompt_version="v", schema_hash="s", model="m", sampling={})
    assert cache.get(key)["i"] == 0
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd")


def test_request_key_depends_on_every_part():
    base = dict(text_sha="a", prompt_version="v1", schema_hash="s", model="m", sampling={"temperature": 0})
    keys = {request_key(**base)}
    for change in ({"text_sha": "b"}, {"prompt_version": "v2"}, {"schema_hash": "t"}, {"model": "n"},
                   {"sampling": {"temperature": 0.5}}):
        keys.add(request_key(**{**base, **change}))
    assert len(keys) == 6
