"""The HTTP layer under the LLM client: a counting httpx transport that records every
attempt (status, latency, tokens, finish_reason, the error body), and `retry-after` parsing.

    token = attempts_of_this_task.set(records := [])
    ...                                   # requests sent in this asyncio task append to `records`
    attempts_of_this_task.reset(token)

Tokens are read from each raw response because instructor's usage totals miss failed
validation attempts. Error bodies are kept whole up to ERROR_BODY_BYTES: the client scrubs
secrets from them before anything is stored (a secret cut in half could not be found).
"""
from __future__ import annotations

import contextvars
import email.utils
import json
import time

import httpx

ERROR_BODY_BYTES = 64 << 10

# The attempts of the request running in the current asyncio task (filled by the transport).
attempts_of_this_task: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar(
    "stratagem_llm_attempts", default=None)


class CountingTransport(httpx.AsyncBaseTransport):
    """Records status, latency, tokens and finish_reason of every HTTP attempt."""

    def __init__(self, inner: httpx.AsyncBaseTransport):
        self.inner = inner
        self.sent = 0  # HTTP requests this transport put on the wire

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        record: dict = {"status": "error", "tokens_in": 0, "tokens_out": 0, "error": None}
        sink = attempts_of_this_task.get()
        if sink is not None:
            sink.append(record)
        self.sent += 1
        t0 = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
            body = await response.aread()
        except httpx.TimeoutException as exc:
            record.update(status="timeout", error=f"timed out ({type(exc).__name__})")
            raise
        except httpx.HTTPError as exc:
            record.update(status="error", error=f"connection failed ({type(exc).__name__})")
            raise
        finally:
            record["latency_ms"] = (time.perf_counter() - t0) * 1000
        if response.status_code == 200:
            _read_usage(body, record)
        else:
            record.update(status=f"http_{response.status_code}",
                          error=body[:ERROR_BODY_BYTES].decode("utf-8", errors="replace") or None)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _read_usage(body: bytes, record: dict) -> None:
    try:
        data = json.loads(body)
        usage = data.get("usage") or {}
        record["tokens_in"] = int(usage.get("prompt_tokens") or 0)
        record["tokens_out"] = int(usage.get("completion_tokens") or 0)
        finish = (data.get("choices") or [{}])[0].get("finish_reason")
    except (ValueError, TypeError, AttributeError, IndexError):
        record.update(status="invalid", error="malformed JSON response body")
        return
    record["status"] = "length" if finish == "length" else "ok"


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return None if when is None else max(0.0, when.timestamp() - time.time())
