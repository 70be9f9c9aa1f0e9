"""Benchmark: the LLM client's throughput against a fixed-latency server, and the cache.

    .venv/bin/python bench/llm_client.py [--requests 2000] [--concurrency 32] [--latency 0.1]

Starts tests/llm_server.py in its own process with a fixed latency per answer, then sends
N distinct chat requests through `LLMClient` (llm/client.py) at concurrency C.
Baselines: the ideal throughput C / latency (a client with zero overhead), and a bare
httpx client (no SDK, cache or accounting) sending the same kind of requests at the same
concurrency in the same run, which shows what this machine can do at all. Prints the
achieved fraction of the ideal (target >= 0.85) and of the bare client, the client's CPU
time per request and the load average, then runs the same N requests again and prints how
many reached the server (target 0: all from the request cache).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from llm.client import LLMClient  # noqa: E402


def server_stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_stats", timeout=5) as r:
        return json.loads(r.read())


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def bare_httpx(url: str, n: int, concurrency: int) -> float:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as http:
        async def one(i: int) -> None:
            async with sem:
                r = await http.post(url + "/chat/completions", json={
                    "model": "test-model", "messages": [{"role": "user", "content": f"Bare {i}: what is {i} + 1?"}],
                    "temperature": 0.0, "max_tokens": 32})
                r.json()["choices"][0]["message"]["content"]
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - t0


def run_once(client: LLMClient, n: int) -> tuple[float, list]:
    async def ask(session, i: int):
        return await session.chat([{"role": "user", "content": f"Problem {i}: what is {i} + 1?"}],
                                  sampling={"temperature": 0.0, "max_tokens": 32}, prompt_version="bench-v1")
    t0 = time.perf_counter()
    outcomes = client.run(ask, list(range(n)))
    return time.perf_counter() - t0, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per answer, seconds")
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "llm_server.py"), "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as cache:
            client = LLMClient(url, "test-model", concurrency=args.concurrency, max_retries=0, timeout_s=30,
                               cache_dir=cache)
            bare_seconds = asyncio.run(bare_httpx(url, args.requests, args.concurrency))
            cpu0 = cpu_seconds()
            seconds, outcomes = run_once(client, args.requests)
            cpu_ms = (cpu_seconds() - cpu0) / args.requests * 1000
            errors = sum(o.error is not None for o in outcomes)
            ideal = args.concurrency / args.latency
            achieved = args.requests / seconds
            bare = args.requests / bare_seconds
            stats = server_stats(url)
            print(f"load avg  : {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
            print(f"first run : {args.requests} requests, concurrency {args.concurrency}, server latency "
                  f"{args.latency * 1000:.0f} ms: {seconds:.2f} s, {achieved:.1f} req/s, errors {errors}, "
                  f"client CPU {cpu_ms:.2f} ms/request, server saw {stats['requests'] - args.requests} "
                  f"(max {stats['max_in_flight']} in flight)")
            print(f"baseline  : ideal concurrency/latency = {ideal:.1f} req/s; bare httpx client = {bare:.1f} req/s")
            print(f"ratio     : achieved / ideal = {achieved / ideal:.3f}  (target >= 0.85); "
                  f"achieved / bare httpx = {achieved / bare:.3f}")
            before = stats["requests"]
            sent_before = client.requests_sent
            seconds2, outcomes2 = run_once(client, args.requests)
            cached = sum(o.cached for o in outcomes2)
            sent = server_stats(url)["requests"] - before
            print(f"second run: {seconds2:.2f} s, {cached} of {args.requests} answers from the cache, "
                  f"requests sent = {client.requests_sent - sent_before} (server saw {sent})  (target 0)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
