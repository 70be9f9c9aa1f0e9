"""Async OpenAI-compatible client machinery shared by the LLM tagger, describer and `generate`.

On top of the `openai` async client (and `instructor` for structured answers) it adds: a
concurrency limit, rate-limit backoff honouring `retry-after` (garbage -> default backoff,
always capped), a wall-clock deadline per HTTP attempt (body included),
`max_retries` for transport failures (429, 5xx, timeouts, dropped connections), the
content-addressed request cache (llm/cache.py) and per-attempt accounting.
Tokens are counted from every raw HTTP response (llm/transport.py), because
instructor's usage totals miss failed validation attempts.

    client = LLMClient("http://127.0.0.1:8000/v1", "gpt-4o-mini", concurrency=16, cache_dir=root / "cache/llm")

    async def one(session, item):
        return await session.chat([{"role": "user", "content": item}], sampling={"temperature": 0},
                                  prompt_version="gen-v1")
    outcomes = client.run(one, ["question 1", "question 2"])   # list[Outcome], in order

Each `Outcome` carries `value` (text, or the validated pydantic object when a
`response_model` is given), `error` (never both), and `calls`: one `LLMUsage` per HTTP
attempt, or one with status "cached" when the answer came from the cache. A final answer
that failed (validation after the re-asks, or cut off at max_tokens: FINAL_FAILURES) is
cached too, and read back as the same error without a request unless `retry_failed`;
transport failures (timeouts, 429, 5xx, dropped connections) are never cached. An endpoint that
cannot be reached at all raises `EndpointUnreachable` (a stage turns it into one message).

With a cache_dir and `client.run_id` set (stages do), every paid attempt is also appended to
the spend journal (llm/spend.py) as soon as its response is read, before it is
used or cached; pass `item_ids` to `run()` so journalled attempts name their item.

The API key is read from the environment variable named by `api_key_env` (a placeholder
when unset: local servers need none); it never enters the cache, results or error texts.
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextvars
import dataclasses
import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel, ValidationError

from schemas import LLMUsage
from llm import public_url
from llm.cache import RequestCache, json_sha, request_key
from llm.prices import PriceTable, load_prices
from llm.spend import SpendJournal
from llm.transport import AttemptLog, CountingTransport, attempts_of_this_task, retry_after_seconds

logging.getLogger("instructor").addHandler(logging.NullHandler())  # its retry logs are ours to report

PLACEHOLDER_KEY = "sk-no-key-needed"
MODES = {"md_json": instructor.Mode.MD_JSON, "json": instructor.Mode.JSON, "tools": instructor.Mode.TOOLS}
ERROR_CHARS = 300  # of an error message, as stored (after secrets are scrubbed)
# Failures that are the model's answer to this very request (it failed validation after the
# re-asks, or was cut off at max_tokens): cached like a success, so a rerun records the same
# error without paying again (unless retry_failed). Anything else (timeouts, HTTP 429 / 5xx,
# dropped connections, other HTTP errors) is not cached and is asked again by the next run.
FINAL_FAILURES = ("invalid", "length")
_item_of_this_task: contextvars.ContextVar[str | None] = contextvars.ContextVar("stratagem_llm_item", default=None)


def env_int(name: str, default: int) -> int:
    """An integer default from the environment (e.g. smaller budgets for a small local model)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise LLMConfigError(f"${name} must be an integer, got {value!r}") from None


class LLMError(RuntimeError):
    """A failure of the LLM machinery itself (not of one item), with a one-line reason."""


class LLMConfigError(LLMError, ValueError):
    """Bad settings (flags, environment variables), found before any request is sent."""


class EndpointUnreachable(LLMError):
    """The server could not be reached at all (connection refused, DNS, ...)."""


@dataclass
class Outcome:
    key: str
    value: Any = None  # str (plain completion) or the validated response_model instance
    finish_reason: str | None = None
    error: str | None = None
    status: str = "ok"  # ok | cached | length | invalid | timeout | http_<code> | error
    calls: list[LLMUsage] = field(default_factory=list)

    @property
    def cached(self) -> bool:
        return self.status == "cached"


def _root_cause(exc: BaseException) -> BaseException:
    """instructor wraps transport errors in InstructorRetryException: find the original."""
    seen = 0
    while isinstance(exc, InstructorRetryException) and exc.__cause__ is not None and seen < 5:
        exc, seen = exc.__cause__, seen + 1
    return exc


class LLMClient:
    """Configuration, cache and prices; `run()` drives a batch of async jobs on one event loop.

    Args:
        base_url: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
        model: model name sent in each request (and looked up in the price table)
        concurrency: requests in flight at once
        max_retries: retries of a request after a transport failure (429, 5xx, timeout, connection)
        timeout_s: wall-clock deadline of one HTTP attempt in seconds, reading the body included
        api_key_env: environment variable holding the API key (unset: a placeholder)
        cache_dir: request cache folder (None: no cache)
        prices / prices_path: price table (default llm/prices.toml or $STRATAGEM_PRICES)
        mode: instructor mode for structured answers: md_json (works with any chat server) | json | tools
        validation_retries: re-asks after an answer fails validation (instructor max_retries;
            default $STRATAGEM_LLM_VALIDATION_RETRIES or 2)
        max_backoff_s: longest wait between retries, retry-after included
        retry_failed: send again a request whose cached answer failed (see FINAL_FAILURES)
    """

    def __init__(self, base_url: str, model: str, *, concurrency: int = 8, max_retries: int = 3,
                 timeout_s: float = 60.0, api_key_env: str = "OPENAI_API_KEY", cache_dir: str | Path | None = None,
                 prices: PriceTable | None = None, prices_path: str | Path | None = None, mode: str = "md_json",
                 validation_retries: int | None = None, max_backoff_s: float = 60.0, retry_failed: bool = False):
        if validation_retries is None:
            validation_retries = env_int("STRATAGEM_LLM_VALIDATION_RETRIES", 2)
        if not base_url or not model:
            raise LLMConfigError("an LLM endpoint needs both a base URL and a model name")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0 or validation_retries < 0:
            raise LLMConfigError("concurrency >= 1, max_retries >= 0, timeout_s > 0 and validation_retries >= 0 are required")
        if mode not in MODES:
            raise LLMConfigError(f"unknown instructor mode {mode!r}; known: {', '.join(MODES)}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = float(timeout_s)
        self.api_key_env = api_key_env
        self.cache = RequestCache(cache_dir)
        self.journal = SpendJournal(Path(cache_dir) / "spend") if cache_dir is not None else None
        self.run_id: str | None = None  # set by a stage: paid attempts are journalled under it
        self.prices = prices or load_prices(prices_path)
        self.mode = mode
        self.validation_retries = validation_retries
        self.max_backoff_s = max_backoff_s
        self.retry_failed = retry_failed
        self.requests_sent = 0  # HTTP requests put on the wire by this client, all runs together
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests observe backoff here
        self._ssl = None

    def ssl_context(self):
        """One TLS context for all pools (building one reads the CA bundle: ~0.1 s each)."""
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _api_key(self) -> str:
        return os.environ.get(self.api_key_env) or PLACEHOLDER_KEY

    def secrets(self) -> list[str]:
        """What must never be stored or printed: the API key, and the password (also as a Basic
        header) and query values of the endpoint URL. Longest first."""
        found = [os.environ.get(self.api_key_env) or ""]
        parts = urlsplit(self.base_url)
        if parts.password:
            basic = base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password)}".encode()).decode()
            found += [parts.password, unquote(parts.password), basic]
        found += [v for _, v in parse_qsl(parts.query)]
        return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """A message with every secret replaced by *** (servers sometimes echo the request), on
        one line, at most ERROR_CHARS long."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return " ".join(text.split())[:ERROR_CHARS]

    def run(self, fn: Callable[["Session", Any], Awaitable[Any]], items: Sequence[Any],
            on_done: Callable[[Any], None] | None = None, item_ids: Sequence[str] | None = None) -> list:
        """Run `fn(session, item)` for every item concurrently; results in item order.
        `item_ids` (one per item) go into the spend journal with each attempt."""
        ids = list(item_ids) if item_ids is not None else [None] * len(items)

        async def main() -> list:
            async with Session(self) as session:
                async def one(item, item_id):
                    _item_of_this_task.set(item_id)
                    result = await fn(session, item)
                    if on_done is not None:
                        on_done(result)
                    return result
                return await asyncio.gather(*(one(item, i) for item, i in zip(items, ids)))

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from inside a loop (a notebook)
            return pool.submit(asyncio.run, main()).result()


class Session:
    """One event loop's HTTP clients; made by `LLMClient.run`.

    Connections are split over several small pools (about 4 connections each) and each request
    takes the least busy one: httpcore checks every pooled connection on every request, so
    one big pool costs CPU in proportion to the concurrency.
    """

    POOL_SIZE = 4

    def __init__(self, client: LLMClient):
        self.client = client
        self.semaphore = asyncio.Semaphore(client.concurrency)
        n = max(1, -(-client.concurrency // self.POOL_SIZE))
        per_pool = -(-client.concurrency // n) + 2
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self.transports = [CountingTransport(httpx.AsyncHTTPTransport(limits=limits, verify=client.ssl_context()),
                                             deadline_s=client.timeout_s, on_attempt=self._journal)
                           for _ in range(n)]
        self.http = [httpx.AsyncClient(transport=t, timeout=httpx.Timeout(client.timeout_s)) for t in self.transports]
        self.openai = [openai.AsyncOpenAI(base_url=client.base_url, api_key=client._api_key(), max_retries=0,
                                          timeout=client.timeout_s, http_client=h) for h in self.http]
        self._instructor: list = [None] * n
        self._busy = [0] * n

    def instructor(self, pool: int):
        if self._instructor[pool] is None:  # only structured requests need it
            self._instructor[pool] = instructor.from_openai(self.openai[pool], mode=MODES[self.client.mode])
        return self._instructor[pool]

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc) -> None:
        self.client.requests_sent += sum(t.sent for t in self.transports)
        for h in self.http:
            await h.aclose()

    async def chat(self, messages: list[dict], *, sampling: dict, prompt_version: str,
                   response_model: type[BaseModel] | None = None, context: dict | None = None,
                   key_extra: dict | None = None) -> Outcome:
        """One logical request: from the cache, or sent (with retries) and cached on success.

        `sampling` holds API parameters (temperature, max_tokens, top_p, ...) and is part of
        the cache key, as is `key_extra` (e.g. the sample index of K samples) which is not sent.
        """
        c = self.client
        schema_hash = json_sha(response_model.model_json_schema()) if response_model else "text"
        key = request_key(text_sha=json_sha(messages), prompt_version=prompt_version, schema_hash=schema_hash,
                          model=c.model, sampling={**sampling, **(key_extra or {})})
        hit = self._from_cache(key, response_model, context)
        if hit is not None:
            return hit
        attempts = AttemptLog(key, _item_of_this_task.get())
        token = attempts_of_this_task.set(attempts)
        try:
            outcome = await self._send(key, messages, sampling, response_model, context, attempts)
        finally:
            attempts_of_this_task.reset(token)
        outcome.calls = [self._usage(key, i + 1, a) for i, a in enumerate(attempts)]
        return outcome

    def _from_cache(self, key: str, response_model, context) -> Outcome | None:
        c = self.client
        entry = c.cache.get(key)
        if entry is None:
            return None
        if "error" in entry:  # a final failure of this very request (FINAL_FAILURES)
            if c.retry_failed:
                return None
            return Outcome(key, error=entry["error"], status=entry.get("status", "invalid"),
                           calls=[LLMUsage(key, c.model, 0, "cached", cost_usd=c.prices.cost(c.model, 0, 0),
                                           error=entry["error"])])
        value = entry.get("value")
        if response_model is not None:
            try:
                value = response_model.model_validate(value, context=context)
            except ValidationError:
                return None  # an entry the current validators reject is a miss, not an answer
        return Outcome(key, value, entry.get("finish_reason"), status="cached",
                       calls=[LLMUsage(key, c.model, 0, "cached", cost_usd=c.prices.cost(c.model, 0, 0))])

    def _journal(self, log: AttemptLog, record: dict) -> None:
        """Append a paid attempt to the spend journal (only in a stage run with a cache)."""
        c = self.client
        if c.journal is None or c.run_id is None or not (record["tokens_in"] or record["tokens_out"]):
            return
        usage = self._usage(log.key, record.get("attempt", len(log)), record)
        c.journal.record({**dataclasses.asdict(usage), "run_id": c.run_id, "item_id": log.item_id})

    def _invalid(self, attempts: AttemptLog, error: Exception) -> None:
        marked = _mark_invalid(attempts, error)
        if marked is not None:
            self._journal(attempts, marked)  # the same attempt again, now "invalid": the last line wins

    def _usage(self, key: str, attempt: int, a: dict) -> LLMUsage:
        c = self.client
        return LLMUsage(key, c.model, attempt, a["status"], a["tokens_in"], a["tokens_out"],
                        c.prices.cost(c.model, a["tokens_in"], a["tokens_out"]), round(a.get("latency_ms", 0.0), 3),
                        None if a.get("error") is None else c.scrub(a["error"]))

    async def _send(self, key, messages, sampling, response_model, context, attempts) -> Outcome:
        c = self.client
        hooks = Hooks()
        hooks.on("parse:error", lambda error, **_: self._invalid(attempts, error))
        for retry in range(c.max_retries + 1):
            try:
                async with self.semaphore:
                    pool = min(range(len(self._busy)), key=self._busy.__getitem__)
                    self._busy[pool] += 1
                    try:
                        if response_model is None:  # plain text: the SDK's request path, minus its typing layers
                            raw = await self.openai[pool].post("/chat/completions", cast_to=httpx.Response, body={
                                "model": c.model, "messages": messages, **sampling})
                            value, finish = _plain_answer(raw)
                        else:
                            value = await self.instructor(pool).create(
                                response_model=response_model, messages=messages, max_retries=c.validation_retries,
                                context=context, hooks=hooks, model=c.model, **sampling)
                            finish = "stop"
                    finally:
                        self._busy[pool] -= 1
            except Exception as exc:  # noqa: BLE001 - every failure becomes a value or a retry
                cause = _root_cause(exc)
                wait = self._retry_wait(cause, retry)
                if wait is not None and retry < c.max_retries:
                    await c.sleep(wait)
                    continue
                if isinstance(cause, openai.APIConnectionError) and not isinstance(cause, openai.APITimeoutError):
                    raise EndpointUnreachable(f"cannot reach the LLM endpoint {public_url(c.base_url)}: "
                                              f"{c.scrub(str(cause.__cause__ or cause))}") from None
                status, message = _classify(cause, attempts)
                outcome = Outcome(key, error=c.scrub(message), status=status)
                if wait is None and status in FINAL_FAILURES:  # the model answered; a garbled body is retried
                    await asyncio.to_thread(c.cache.put, key, {"error": outcome.error, "status": status,
                                                               "model": c.model})
                return outcome
            dumped = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
            await asyncio.to_thread(c.cache.put, key, {"value": dumped, "finish_reason": finish, "model": c.model})
            return Outcome(key, value, finish, status="length" if finish == "length" else "ok")
        raise AssertionError("unreachable")

    def _retry_wait(self, cause: BaseException, retry: int) -> float | None:
        """Seconds to wait before retrying `cause`, or None when it is not worth retrying."""
        c = self.client
        if isinstance(cause, openai.APIStatusError):
            if cause.status_code != 429 and cause.status_code < 500:
                return None
            hinted = retry_after_seconds(cause.response.headers if cause.response is not None else None)
            if hinted is not None:
                return min(hinted, c.max_backoff_s)
        elif isinstance(cause, (json.JSONDecodeError, MalformedResponse, openai.APIResponseValidationError)):
            pass  # a garbled response body: the next try may be fine
        elif not isinstance(cause, openai.APIConnectionError):
            return None  # validation failures and cut-off answers: the same request will not do better
        return min(c.max_backoff_s, 0.25 * 2 ** retry) * (0.5 + random.random() / 2)


class MalformedResponse(ValueError):
    """A 200 answer whose body is not a chat completion."""


def _plain_answer(raw: httpx.Response) -> tuple[str, str | None]:
    data = raw.json()
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise MalformedResponse("response body has no choices[0].message") from None
    if not isinstance(content, str):
        raise MalformedResponse("choices[0].message.content is not text")
    return content, choice.get("finish_reason")


def _mark_invalid(attempts: list[dict], error: Exception) -> dict | None:
    """Mark the latest answered attempt invalid; returns it (to be journalled again)."""
    for a in reversed(attempts):
        if a["status"] == "ok":
            a.update(status="invalid", error=_classify(error, attempts)[1])
            return a
    return None


def _classify(exc: BaseException, attempts: list[dict]) -> tuple[str, str]:
    """(llm_calls status, one-line message) for a final failure."""
    if isinstance(exc, IncompleteOutputException):
        return "length", "answer cut off at max_tokens (finish_reason: length) before the JSON was complete"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}", f"HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", "request timed out"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        got = f"got {first['input']!r:.60}: " if isinstance(first.get("input"), (str, int, float)) else ""
        return "invalid", f"answer failed validation: {where + ': ' if where else ''}{got}{first.get('msg', exc)}"
    status = "invalid" if isinstance(exc, ValueError) else (attempts[-1]["status"] if attempts else "error")
    return status, f"{type(exc).__name__}: {exc}"
