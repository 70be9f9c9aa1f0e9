"""The flags several commands share: the LLM endpoint flags of annotate, describe and
verify --judge (how they become client arguments and a run's config) and --taxonomy.

    def command(base_url: BaseUrlOpt = None, model: ModelOpt = None, ...):
        options = llm_options(root, base_url, model, concurrency, max_retries, timeout, api_key_env,
                              retry_failed)
        config = llm_run_config(options)      # no credentials: the URL is stripped, the key is a name

Which failures a rerun sends again: a request that got no usable answer (connection
dropped, timeout, HTTP 429 or 5xx) is asked again by the next run; an answer the model gave
that failed validation or was cut off at max_tokens is cached like a success, so a rerun
records the same error without a request, unless --retry-failed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.console import fail
from schemas.taxonomy import Taxonomy, TaxonomyError, load_taxonomy

BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="LLM only: OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="LLM only: model name sent to the endpoint.")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="LLM only: requests in flight at once.")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="LLM only: retries per request after a transport failure (timeout, HTTP 429 or 5xx, dropped connection); these are also asked again by the next run.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="LLM only: wall-clock limit per HTTP attempt in seconds (the whole answer, body included).")]
KeyEnvOpt = Annotated[str, typer.Option("--api-key-env", help="LLM only: NAME of the environment variable holding the API key (the key is never stored).")]
RetryFailedOpt = Annotated[bool, typer.Option("--retry-failed", help="LLM only: send again the items whose answer failed validation or was cut off at max_tokens (by default a rerun reads that answer from the cache and records the same error without a request).")]
TaxonomyOpt = Annotated[Path | None, typer.Option("--taxonomy", help="Taxonomy TOML file (default: the packaged one).")]


def llm_options(root: Path | None, base_url, model, concurrency, max_retries, timeout, api_key_env,
                retry_failed: bool = False) -> dict:
    """`LLMClient` arguments from the flags; the API key stays in its environment variable."""
    from warehouse.lake import resolve_root

    if not base_url or not model:
        fail("an LLM annotator or judge needs --base-url and --model")
    return {"base_url": base_url, "model": model, "concurrency": concurrency, "max_retries": max_retries,
            "timeout_s": timeout, "api_key_env": api_key_env, "retry_failed": retry_failed,
            "cache_dir": resolve_root(root) / "cache" / "llm"}


def llm_run_config(options: dict) -> dict:
    """What the `runs` row records of the LLM options: credentials stripped from the URL."""
    from llm import public_url

    return {k: public_url(v) if k == "base_url" else str(v) for k, v in options.items()}


def unreachable_errors(uses_llm: bool) -> tuple[type[Exception], ...]:
    """The exception an LLM stage raises when its endpoint cannot be reached at all (imported
    only when an LLM is used, so the rules path never loads the HTTP client)."""
    if not uses_llm:
        return ()
    from llm.client import EndpointUnreachable

    return (EndpointUnreachable,)


UNREACHABLE = "(batches committed before stay; nothing from the unfinished batch was written)"


def taxonomy_or_fail(path: Path | None) -> Taxonomy:
    """The taxonomy at `path` (None: the packaged one), or a one-line failure (exit 2)."""
    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        fail(str(exc))
