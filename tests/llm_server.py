"""An OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks (standard library only).

It answers `POST /v1/chat/completions` deterministically, by what the request looks like:
- the LLM tagger's requests (system prompt mentions "strategy tagger"): the first shown
  segment as `planning` with a verbatim quote, the last as `verification` without one;
- the describer's ("strategy describer"): a fixed leak-free description;
- anything else (teacher generation): a short solution ending in `\\boxed{N}`, N the last
  number in the question.

Faults on demand, for the next `times` requests (optionally only of one kind):
    "429" (with retry-after), "500", "hang" (no answer until the client gives up),
    "malformed" (a body that is not JSON), "length" (finish_reason length, cut content),
    "bad_quote" (a quote not in the text), "out_of_bounds" (segment numbers past the window),
    "bad_label" (a label outside the taxonomy), "echo" (a 400 whose message repeats the
    request's Authorization header, path and other headers after `pad=` text, as some proxies do),
    "drip" (a 200 whose body comes one byte every `interval_s=` seconds, for at most hang_s),
    "schema_fill" (an answer made from the JSON schema in the request alone, as a server that
    fills the response schema without reading the task would: every property, one item per
    array, the first enum value, "x" for other strings, null where null is allowed).
A "429" takes `retry_after=` (any text: "7", "abc", an HTTP date). A request whose client has
gone (a killed process) by the time it would be answered is not answered.

    with LLMTestServer(latency_s=0.1) as server:     # server.url = "http://127.0.0.1:PORT/v1"
        server.inject("429", times=2, retry_after="0")
        server.clear_faults()   # drop those not served yet
        ...
        server.log        # one RequestRecord per request received (kind, body sha, status, fault,
                          # tokens in the usage it returned); GET /v1/_stats for another process
        server.tokens_served  # (prompt, completion) tokens of every answer sent in full
        server.hold_after(5)  # after 5 successful answers, hold new requests until release()
        server.settled()      # every request received is answered (or dropped) or held

Run standalone (benchmarks, manual checks):  python tests/llm_server.py --port 8123 --latency 0.1
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import select
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = ("429", "500", "hang", "malformed", "length", "bad_quote", "out_of_bounds", "bad_label", "echo", "drip",
          "schema_fill")
_SEGMENT = re.compile(r"^\[S(\d+)\] (.*)$", re.MULTILINE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once (the default backlog is 5)


@dataclass(frozen=True)
class RequestRecord:
    kind: str  # tag | describe | generate | other
    body_sha: str  # sha256 of the request body: equal for equal requests
    status: int  # HTTP status sent (0: none, connection held or dropped)
    fault: str | None
    tokens_in: int = 0  # usage of the answer, when one was sent in full
    tokens_out: int = 0


def request_kind(body: dict) -> str:
    system = " ".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "system")
    if "strategy tagger" in system:
        return "tag"
    if "strategy describer" in system:
        return "describe"
    return "generate"


def _user_text(body: dict) -> str:
    return "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")


def tag_answer(body: dict, fault: str | None) -> str:
    segments = [(int(n), t) for n, t in _SEGMENT.findall(_user_text(body))]
    if not segments:
        return json.dumps({"spans": []})
    (first, first_text), (last, _) = segments[0], segments[-1]
    quote = " ".join(first_text.split()[:4])
    spans = [{"label": "planning", "first_segment": first, "last_segment": first, "quote": quote}]
    if last != first:
        spans.append({"label": "verification", "first_segment": last, "last_segment": last})
    if fault == "bad_quote":
        spans[0]["quote"] = "this sentence appears nowhere in the trace"
    elif fault == "out_of_bounds":
        spans[0].update(first_segment=last + 5, last_segment=last + 9)
    elif fault == "bad_label":
        spans[0]["label"] = "telepathy"
    return json.dumps({"spans": spans})


def request_schema(body: dict) -> dict:
    """The JSON schema a structured request asks for: `response_format`, or the one instructor's
    md_json mode writes into the system message after "json_schema:"."""
    fmt = body.get("response_format") or {}
    if isinstance(fmt.get("json_schema"), dict):
        return fmt["json_schema"].get("schema", {})
    for m in body.get("messages", []):
        text = m.get("content") or ""
        at = text.find("json_schema")
        if at >= 0 and "{" in text[at:]:
            return json.JSONDecoder().raw_decode(text[text.index("{", at):])[0]
    return {}


def fill_schema(schema: dict, root: dict | None = None):
    """A value of `schema` chosen without looking at anything else (see "schema_fill")."""
    root = root or schema
    if "$ref" in schema:
        return fill_schema(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    options = schema.get("anyOf") or []
    if options:
        if any(o.get("type") == "null" for o in options):
            return None
        return fill_schema(options[0], root)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: fill_schema(sub, root) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [fill_schema(schema.get("items", {}), root)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return "x"


def describe_answer() -> str:
    return json.dumps({"problem_type": "multi-step arithmetic word problem",
                       "approach": "Identify the given quantities, decide which operations link them, then combine them in order.",
                       "steps": ["List the quantities the problem gives.", "Work out the intermediate quantity the question needs.",
                                 "Combine the intermediate results to answer the question.", "Check the result against the problem."]})


def generate_answer(body: dict) -> str:
    numbers = _NUMBER.findall(_user_text(body).split("\n\nSolve the problem")[0])
    n = numbers[-1] if numbers else "0"
    return f"Let me plan: first, find what is asked.\nWorking it through gives {n}.\nThe answer is \\boxed{{{n}}}."


class LLMTestServer:
    """A loopback OpenAI-compatible server in a background thread (see module docstring)."""

    def __init__(self, *, latency_s: float = 0.0, port: int = 0, hang_s: float = 30.0, model: str = "test-model"):
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.model = model
        self._log: list[RequestRecord] = []
        self._faults: deque[tuple[str, str | None, dict]] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._gate = threading.Condition(self._lock)  # the hold_after gate
        self._hold_after: int | None = None
        self._successes = 0
        self._answering = 0  # requests let through the gate and not yet recorded
        self._unrecorded = 0  # of those, answers sent in full whose record is not yet in the log
        self.received = 0  # chat requests read so far
        self.held = 0  # of those, waiting at the hold_after gate
        self.in_flight = 0
        self.max_in_flight = 0  # most chat requests being answered at once
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def inject(self, fault: str, times: int = 1, kind: str | None = None, **options) -> None:
        """The next `times` requests (of `kind`, if given) get `fault`; options: retry_after="1"."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._faults.extend([(fault, kind, options)] * times)

    def clear_faults(self) -> int:
        """Drop the faults not yet served; returns how many there were."""
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
        return n

    def hold_after(self, n: int) -> None:
        """Serve at most `n` successful answers, then hold every request until `release()`.
        Admission counts requests already being answered, so concurrent requests cannot
        slip past the limit together; one that ends without a success frees its place."""
        with self._gate:
            self._hold_after = n

    def release(self) -> None:
        with self._gate:
            self._hold_after = None
            self._gate.notify_all()

    def _may_answer(self) -> bool:
        return (self._stopping.is_set() or self._hold_after is None
                or self._successes + self._answering < self._hold_after)

    @property
    def successes(self) -> int:
        return self._successes

    def settled(self) -> bool:
        with self._lock:
            return self.received == len(self._log) + self.held

    @property
    def tokens_served(self) -> tuple[int, int]:
        with self._lock:
            return sum(r.tokens_in for r in self._log), sum(r.tokens_out for r in self._log)

    def start(self) -> "LLMTestServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._gate:
            self._gate.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "LLMTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ serving
    def _take_fault(self, kind: str) -> tuple[str | None, dict]:
        with self._lock:
            for i, (fault, only, options) in enumerate(self._faults):
                if only is None or only == kind:
                    del self._faults[i]
                    return fault, options
        return None, {}

    @property
    def log(self) -> list[RequestRecord]:
        """The requests recorded so far (a copy). A client can hold an answer a moment before the
        handler thread records it; this waits (up to 5 s) until every answer sent is recorded."""
        with self._gate:
            self._gate.wait_for(lambda: self._unrecorded == 0, timeout=5)
            return list(self._log)

    def _record(self, rec: RequestRecord, sent: bool) -> None:
        with self._gate:
            self._log.append(rec)
            self._answering -= 1
            self._unrecorded -= sent
            if rec.status == 200 and rec.fault is None:
                self._successes += 1
            self._gate.notify_all()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            _tracked = _sent = False  # per request: past the gate (recorded), its answer sent in full

            def log_message(self, *args) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()  # no Nagle: headers and body go out in separate writes
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                self._note_sent()

            def _note_sent(self) -> None:
                """An answer to a recorded request went out in full (server.log waits for its record)."""
                if self._tracked and not self._sent:
                    self._sent = True
                    with server._gate:
                        server._unrecorded += 1

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/_stats"):  # for benchmarks in another process
                    self._send(200, json.dumps({"requests": len(server.log), "successes": server.successes,
                                                "max_in_flight": server.max_in_flight,
                                                "tokens_served": server.tokens_served}).encode())
                elif self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                self._tracked = self._sent = False
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                sha = hashlib.sha256(raw).hexdigest()
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                    return
                kind = request_kind(body)
                with server._gate:
                    server.received += 1
                    server.held += 1
                    server._gate.wait_for(server._may_answer, timeout=server.hang_s)
                    server.held -= 1
                    server._answering += 1
                self._tracked = True
                if server._stopping.is_set():
                    self.close_connection = True
                    return
                if self._client_gone():
                    self.close_connection = True
                    server._record(RequestRecord(kind, sha, 0, None), sent=False)
                    return
                fault, options = server._take_fault(kind)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                self.usage = (0, 0)
                try:
                    status = self._answer(body, kind, fault, options)
                except (BrokenPipeError, ConnectionResetError):
                    status, self.usage = 0, (0, 0)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                server._record(RequestRecord(kind, sha, status, fault, *(self.usage if status == 200 else (0, 0))),
                               sent=self._sent)

            def _client_gone(self) -> bool:
                """True when the client closed its end (nothing more to read, EOF pending)."""
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _drip(self, payload: bytes, interval_s: float) -> int:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                give_up = time.monotonic() + server.hang_s
                for i in range(len(payload)):
                    if server._stopping.wait(interval_s) or time.monotonic() > give_up:
                        self.close_connection = True
                        return 0
                    self.wfile.write(payload[i:i + 1])
                    self.wfile.flush()
                self._note_sent()
                return 200

            def _answer(self, body: dict, kind: str, fault: str | None, options: dict) -> int:
                if server.latency_s:
                    time.sleep(server.latency_s)
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                               {"retry-after": options.get("retry_after", "0")})
                    return 429
                if fault == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                    return 500
                if fault == "hang":
                    server._stopping.wait(server.hang_s)
                    self.close_connection = True
                    return 0
                if fault == "echo":  # like some proxies: the request, headers included, in the error message
                    echo = " ".join([options.get("pad", ""), f"Authorization: {self.headers.get('Authorization')}",
                                     self.command, self.path, *(f"{k}: {v}" for k, v in self.headers.items())])
                    self._send(400, json.dumps({"error": {"message": echo}}).encode())
                    return 400
                if fault == "malformed":
                    self._send(200, b'{"id": "x", "choices": [ this is not json')
                    return 200
                if fault == "schema_fill":
                    content = json.dumps(fill_schema(request_schema(body)))
                elif kind == "tag":
                    content = tag_answer(body, fault)
                elif kind == "describe":
                    content = describe_answer()
                else:
                    content = generate_answer(body)
                finish = "stop"
                if fault == "length":
                    content, finish = content[: max(1, len(content) // 2)], "length"
                usage = {"prompt_tokens": len(json.dumps(body.get("messages", []))) // 4,
                         "completion_tokens": max(1, len(content) // 4)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                payload = {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                           "model": body.get("model", server.model),
                           "choices": [{"index": 0, "finish_reason": finish,
                                        "message": {"role": "assistant", "content": content}}],
                           "usage": usage}
                self.usage = (usage["prompt_tokens"], usage["completion_tokens"])
                if fault == "drip":
                    return self._drip(json.dumps(payload).encode(), float(options.get("interval_s", 0.5)))
                self._send(200, json.dumps(payload).encode())
                return 200

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args()
    server = LLMTestServer(latency_s=args.latency, port=args.port)
    print(server.url, flush=True)
    try:
        server._httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()


def _kill_when(cmd: list[str], ready, server: "LLMTestServer", **popen) -> set[str]:
    """Run `cmd`, SIGKILL it once `ready()`; the body shas of the requests that had succeeded."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline, f"{cmd[3]} ended or stalled early"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {r.body_sha for r in server.log if r.status == 200}


def _cached(cache_dir) -> int:
    return len(list(Path(cache_dir).glob("*/*.json")))


def kill_once_cached(cmd: list[str], cache_dir, n: int, server: "LLMTestServer", **popen) -> set[str]:
    """Run `cmd` (a stage against `server`), SIGKILL it once `n` answers sit in the request cache
    under `cache_dir`; returns the body shas of the requests that had succeeded by then."""
    return _kill_when(cmd, lambda: _cached(cache_dir) >= n, server, **popen)


def kill_when_settled(cmd: list[str], cache_dir, n: int, server: "LLMTestServer", **popen) -> set[str]:
    """Run `cmd` against `server` with `server.hold_after(n)` set; SIGKILL it once n answers were
    sent, every answer sent sits in the request cache under `cache_dir`, and every other request
    is held: nothing is on the wire, so what the server counts as served is what the client
    received. Returns the body shas of the requests that succeeded."""
    return _kill_when(cmd, lambda: server.successes >= n and server.settled()
                      and _cached(cache_dir) >= server.successes, server, **popen)
