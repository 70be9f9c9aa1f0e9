"""The LLM client for every stage that talks to an OpenAI-compatible endpoint: the async client
with retries, backoff and deadlines (client.py) over a counting HTTP transport (transport.py),
the content-addressed request cache (cache.py), the spend journal (spend.py) and the price
table (prices.py, prices.toml). Imports point one way: schemas <- annotators <- llm <- pipeline
(annotators never import this package; it hands them a client).

Importing the package is cheap (no openai / instructor / httpx import) and registers lazy
factories for the name "llm" in the annotator registry, which build the client from the
`LLMClient` arguments and pass it to the pure annotator:

    import llm
    tagger = annotators.get_tagger("llm", base_url="http://127.0.0.1:8000/v1", model="gpt-4o-mini",
                                   concurrency=16, cache_dir=root / "cache" / "llm", taxonomy=None)
    describer = annotators.get_describer("llm", k=5, base_url=..., model=..., cache_dir=...)
"""
from __future__ import annotations

import inspect
from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """The endpoint without credentials or query string: safe to print or store in a run's config."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _split(kwargs: dict, default_max_tokens: int):
    """(LLMClient, the annotator's own kwargs): the client takes the arguments its constructor
    names; max_tokens falls back to $STRATAGEM_LLM_MAX_TOKENS, then `default_max_tokens`."""
    from llm.client import LLMClient, env_int

    names = set(inspect.signature(LLMClient).parameters)
    client = LLMClient(**{k: v for k, v in kwargs.items() if k in names})
    own = {k: v for k, v in kwargs.items() if k not in names}
    if own.get("max_tokens") is None:
        own["max_tokens"] = env_int("STRATAGEM_LLM_MAX_TOKENS", default_max_tokens)
    return client, own


def make_tagger(**kwargs):
    """An `LLMTagger` with its client: the `LLMClient` arguments plus the tagger's own."""
    from annotators.llm.tagger import LLMTagger

    client, own = _split(kwargs, 1024)
    return LLMTagger(client, **own)


def make_describer(**kwargs):
    """An `LLMDescriber` with its client: the `LLMClient` arguments plus the describer's own."""
    from annotators.llm.describer import LLMDescriber

    client, own = _split(kwargs, 512)
    return LLMDescriber(client, **own)


def _register() -> None:
    from annotators import register_describer, register_tagger

    register_tagger("llm", make_tagger)
    register_describer("llm", make_describer)


_register()
