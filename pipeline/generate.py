"""The generate stage: sample teacher trajectories for problems from any OpenAI-compatible endpoint.

    stratagem generate --base-url http://127.0.0.1:8000/v1 --model gpt-4o-mini \\
        [--samples 4] [--temperature 0.7] [--max-tokens 1024] [--where "family = 'shopping'"]

For each selected problem it asks for K samples with the shared prompt
(question + "Solve the problem step by step. Put the final answer in \\boxed{}.") through the
LLM client machinery (annotators/llm/client.py: concurrency, retry-after backoff, timeouts,
request cache under <root>/cache/llm, per-attempt tokens and cost). Each answer lands in
`trajectories` with teacher = the model and the sampling parameters (and sample index) in
`sampling`; `finish_reason: length` marks it `truncated`. Every HTTP attempt (and every
cached answer) becomes an `llm_calls` row; tokens and cost are summed on the run.

Resume / idempotency: a (problem, sample) is done when a trajectory with the same teacher and
sampling exists, so a rerun only asks for what is missing; batches commit as they finish and
the request cache holds every answer received, so a killed run never pays twice. Counts
satisfy read = accepted + duplicates + quarantined + failed (failed requests are retried by
the next run). An endpoint that cannot be reached stops the run with one message and
rolls back the batch in progress. Paid attempts are journalled the moment they are read and a
killed run's journal is replayed into `llm_calls` by the next run (pipeline.annotate.llm_spend),
so llm_calls holds every token paid for, once. `verify` then judges the new trajectories.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import duckdb
import typer

from annotators.llm import public_url
from pipeline.annotate import counted_call_rows, llm_spend
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from schemas import LLMCall, Trajectory, content_id, normalise_text, text_sha, to_arrow
from warehouse import Lake, LakeError, RunReport

PROMPT_SUFFIX = "\n\nSolve the problem step by step. Put the final answer in \\boxed{}."
PROMPT_VERSION = "generate-v1"


def prompt_messages(question: str) -> list[dict]:
    return [{"role": "user", "content": question + PROMPT_SUFFIX}]


def select_problem_ids(lake: Lake, where: str) -> list[str]:
    """problem_ids matching a user's SQL condition, checked to be a single SELECT (use a read-only lake)."""
    try:
        result = lake.select(f"SELECT problem_id FROM problems WHERE ({where})")
    except duckdb.Error as exc:  # a parse error is raised before lake.select's own handling
        raise LakeError(str(exc).splitlines()[0]) from exc
    return result.column(0).to_pylist()


@dataclass(frozen=True)
class Work:
    problem_id: str
    question: str
    sample: int


def pending_work(lake: Lake, teacher: str, sampling: dict, samples: int, problem_ids: list[str] | None) -> list[Work]:
    """(problem, sample index) pairs with no trajectory from this teacher and sampling yet."""
    sql = "SELECT problem_id, question FROM problems"
    params: list = []
    if problem_ids is not None:
        sql += " WHERE problem_id IN (SELECT unnest(?::VARCHAR[]))"
        params.append(problem_ids)
    problems = lake.rows(sql + " ORDER BY problem_id", params)
    done = set()
    for problem_id, stored in lake.rows("SELECT problem_id, sampling FROM trajectories WHERE teacher = ?", [teacher]):
        try:
            s = json.loads(stored) if isinstance(stored, str) else (stored or {})
        except ValueError:
            continue
        if {k: s.get(k) for k in sampling} == sampling and "sample" in s:
            done.add((problem_id, s["sample"]))
    return [Work(p, q, k) for p, q in problems for k in range(samples) if (p, k) not in done]


def generate(lake: Lake, client, *, samples: int = 1, temperature: float = 0.0, max_tokens: int = 1024,
             problem_ids: list[str] | None = None, batch_size: int = 64, progress_bar=None) -> RunReport:
    """Sample `samples` trajectories per problem from `client` (an annotators.llm.client.LLMClient).

    Raises annotators.llm.client.EndpointUnreachable (batch in progress rolled back) when the
    endpoint cannot be reached.
    """
    teacher = client.model
    sampling = {"temperature": temperature, "max_tokens": max_tokens, "prompt_version": PROMPT_VERSION}
    work = pending_work(lake, teacher, sampling, samples, problem_ids)
    task = progress_bar.add_task("generate", total=len(work)) if progress_bar else None
    config = {"base_url": public_url(client.base_url), "model": teacher, "samples": samples,
              "temperature": temperature, "max_tokens": max_tokens, "concurrency": client.concurrency,
              "max_retries": client.max_retries, "timeout_s": client.timeout_s, "prompt_version": PROMPT_VERSION,
              "problems": "all" if problem_ids is None else len(problem_ids)}
    api = {"temperature": temperature, "max_tokens": max_tokens}

    async def ask(session, w: Work):
        return await session.chat(prompt_messages(w.question), sampling=api, prompt_version=PROMPT_VERSION,
                                  key_extra={"sample": w.sample})

    def advance(_):
        if task is not None:
            progress_bar.advance(task)

    with llm_spend(client) as start_spend, lake.run("generate", config) as run:
        start_spend(run)
        for i in range(0, len(work), batch_size):
            batch = work[i:i + batch_size]
            outcomes = client.run(ask, batch, advance, item_ids=[w.problem_id for w in batch])
            _store(run, batch, outcomes, teacher, sampling)
            run.checkpoint()
    return run.report


def _store(run, batch: list[Work], outcomes: list, teacher: str, sampling: dict) -> None:
    trajectories, calls = [], []
    for w, o in zip(batch, outcomes):
        run.count("read")
        calls += counted_call_rows(o.calls, w.problem_id, run)
        if o.error is not None:
            run.count("failed")
            continue
        text = normalise_text(o.value or "")
        if not text.strip():
            run.quarantine("generate", f"{w.problem_id}#sample{w.sample}", "empty completion from the model",
                           json.dumps({"finish_reason": o.finish_reason}))
            continue
        truncated = o.finish_reason == "length"
        if truncated:
            run.count("truncated")
        trajectories.append(Trajectory(
            trajectory_id=content_id("trajectory", w.problem_id, teacher, text_sha(text)),
            problem_id=w.problem_id, teacher=teacher, text=text, text_sha=text_sha(text), n_chars=len(text),
            truncated=truncated, sampling={**sampling, "sample": w.sample, "finish_reason": o.finish_reason},
            run_id=run.run_id))
    new = run.insert("trajectories", to_arrow(trajectories, Trajectory)) if trajectories else 0
    run.count("accepted", new)
    run.count("duplicates", len(trajectories) - new)
    if calls:
        run.insert("llm_calls", to_arrow(calls, LLMCall))


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate_command(
        base_url: Annotated[str, typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")],
        model: Annotated[str, typer.Option("--model", help="Model name sent with each request; recorded as the teacher.")],
        root: RootOpt = None,
        samples: Annotated[int, typer.Option("--samples", min=1, help="Trajectories to sample per problem.")] = 1,
        temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature.")] = 0.0,
        max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Longest answer in tokens; longer ones are stored as truncated.")] = 1024,
        where: Annotated[str | None, typer.Option("--where", help="SQL condition over `problems` choosing the problems, e.g. \"family = 'shopping'\" (read-only).")] = None,
        concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight at once.")] = 8,
        max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Retries per request after 429 / 5xx / timeouts (429 honours retry-after).")] = 3,
        timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Wall-clock limit per HTTP attempt in seconds (the whole answer, body included).")] = 120.0,
        api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the API key (unset: none sent, fine for local servers).")] = "OPENAI_API_KEY",
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Problems x samples committed per batch.")] = 64,
    ) -> None:
        """Sample teacher trajectories for problems from an OpenAI-compatible endpoint (writes trajectories).

        Reruns only ask for missing (problem, sample) pairs, and answers already received are read from the request cache under <root>/cache/llm, so a killed run resumes without paying twice.

        Tokens and cost of every attempt go to llm_calls (prices: annotators/llm/prices.toml or $STRATAGEM_PRICES; unknown models cost "unknown"). Answers cut at --max-tokens are stored as truncated. Run `stratagem verify` afterwards.
        """
        from annotators.llm.client import EndpointUnreachable, LLMClient, LLMError
        from annotators.llm.prices import PriceError
        from warehouse.lake import resolve_root

        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
            fail(f"--base-url {public_url(base_url)!r} is not an http(s) URL")
        problem_ids = None
        if where is not None:
            with lake_for(root, read_only=True) as ro:
                try:
                    problem_ids = select_problem_ids(ro, where)
                except LakeError as exc:
                    fail(f"--where: {exc}")
        try:
            client = LLMClient(base_url, model, concurrency=concurrency, max_retries=max_retries, timeout_s=timeout,
                               api_key_env=api_key_env, cache_dir=resolve_root(root) / "cache" / "llm")
        except (LLMError, PriceError) as exc:
            fail(str(exc))
        with lake_for(root, holder="generate") as lake, progress() as bar:
            try:
                report = generate(lake, client, samples=samples, temperature=temperature, max_tokens=max_tokens,
                                  problem_ids=problem_ids, batch_size=batch_size, progress_bar=bar)
            except EndpointUnreachable as exc:
                fail(f"{exc} (nothing from the unfinished batch was written)", code=1)
        print_report(report)
