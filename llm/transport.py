"""The HTTP layer under the LLM client: a counting httpx transport that records every
attempt (status, latency, tokens, finish_reason, the error body) within a wall-clock
deadline, and defensive `retry-after` parsing.

    token = attempts_of_this_task.set(records := AttemptLog(key, item_id))
    ...                                   # requests sent in this asyncio task append to `records`
    attempts_of_this_task.reset(token)

Tokens are read from each raw response because instructor's usage totals miss failed
validation attempts. Error bodies are kept whole up to ERROR_BODY_BYTES: the client scrubs
secrets from them before anything is stored (a secret cut in half could not be found).

The deadline bounds the whole attempt, body included: httpx's timeout is per read, so a
server dripping a byte every half second would otherwise hold a request for minutes. An
attempt past its deadline raises httpx.ReadTimeout (the SDK's APITimeoutError: status
"timeout", retried like any timeout). `on_attempt(log, record)` is called once the record is
complete, before the response goes up to the SDK (the client journals spend there).
"""
from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import math
import time
from typing import Callable

import httpx

ERROR_BODY_BYTES = 64 << 10



class AttemptLog(list):
    """The attempt records (dicts) of one logical request, with its cache key and item id."""

    def __init__(self, key: str = "", item_id: str | None = None):
        super().__init__()
        self.key, self.item_id = key, item_id


# The attempts of the request running in the current asyncio task (filled by the transport).
attempts_of_this_task: contextvars.ContextVar[AttemptLog | None] = contextvars.ContextVar(
    "stratagem_llm_attempts", default=None)


class CountingTransport(httpx.AsyncBaseTransport):
    """Records status, latency, tokens and finish_reason of every HTTP attempt, each bounded
    by `deadline_s` of wall-clock time (None: no deadline)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, deadline_s: float | None = None,
                 on_attempt: Callable[[AttemptLog, dict], None] | None = None):
        self.inner = inner
        self.deadline_s = deadline_s
        self.on_attempt = on_attempt
        self.sent = 0  # HTTP requests this transport put on the wire

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        record: dict = {"status": "error", "tokens_in": 0, "tokens_out": 0, "error": None}
        sink = attempts_of_this_task.get()
        if sink is not None:
            sink.append(record)
            record["attempt"] = len(sink)
        self.sent += 1
        t0 = time.perf_counter()
        deadline = asyncio.timeout(self.deadline_s)
        response = None
        try:
            async with deadline:
                response = await self.inner.handle_async_request(request)
                body = await response.aread()
        except TimeoutError:
            if not deadline.expired():
                raise
            record.update(status="timeout", error=f"no complete answer within the {self.deadline_s:g} s deadline")
            if response is not None:
                await response.aclose()
            raise httpx.ReadTimeout("request deadline exceeded", request=request) from None
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
        if sink is not None and self.on_attempt is not None:
            self.on_attempt(sink, record)  # before anything parses, uses or caches the answer
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
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP date); None
    when absent or unusable (garbage, not finite), so the caller falls back to its own backoff.
    Callers cap the result."""
    if not headers:
        return None
    if (ms := _finite(headers.get("retry-after-ms"))) is not None:
        return max(0.0, ms / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _finite(value)) is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value[:64])
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def _finite(value: str | None) -> float | None:
    try:
        number = float(value[:64]) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
