"""`stratagem generate`: the generate stage's command (the stage: pipeline/generate/stage.py).

    stratagem generate --base-url http://127.0.0.1:8000/v1 --model gpt-4o-mini \\
        [--samples 4] [--temperature 0.7] [--max-tokens 1024] [--where "family = 'shopping'"] [--shard 0/4]
"""
from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import typer

from llm import public_url
from pipeline.console import RootOpt, fail, lake_for, print_report, progress
from pipeline.generate.stage import generate, select_problem_ids
from pipeline.shards import ShardOpt, shard_lock
from warehouse import LakeError


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
        shard: ShardOpt = None,
    ) -> None:
        """Sample teacher trajectories for problems from an OpenAI-compatible endpoint (writes trajectories).

        Reruns only ask for missing (problem, sample) pairs, and answers already received are read from the request cache under <root>/cache/llm, so a killed run resumes without paying twice.

        Tokens and cost of every attempt go to llm_calls (prices: llm/prices.toml or $STRATAGEM_PRICES; unknown models cost "unknown"). Answers cut at --max-tokens are stored as truncated. Run `stratagem verify` afterwards.
        """
        from llm.client import EndpointUnreachable, LLMClient, LLMError
        from llm.prices import PriceError
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
        with lake_for(root, **shard_lock("generate", shard)) as lake, progress() as bar:
            try:
                report = generate(lake, client, samples=samples, temperature=temperature, max_tokens=max_tokens,
                                  problem_ids=problem_ids, batch_size=batch_size, progress=bar, shard=shard)
            except EndpointUnreachable as exc:
                fail(f"{exc} (nothing from the unfinished batch was written)", code=1)
        print_report(report)
