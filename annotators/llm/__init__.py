"""LLM annotators over any OpenAI-compatible endpoint: the client machinery (client.py, over
the counting HTTP transport in transport.py), the request cache (cache.py), the price table
(prices.py, prices.toml), the tagger (tagger.py) and the describer (describer.py).

Importing this package is cheap (no openai / instructor import): `register()` adds lazy
factories for the name "llm" to the annotator registry.

    from annotators import get_tagger
    tagger = get_tagger("llm", base_url="http://127.0.0.1:8000/v1", model="gpt-4o-mini",
                        concurrency=16, max_retries=3, timeout_s=60, api_key_env="OPENAI_API_KEY",
                        cache_dir=root / "cache" / "llm", taxonomy=None)
    describer = get_describer("llm", k=5, base_url=..., model=..., cache_dir=...)
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """The endpoint without credentials or query string: safe to print or store in a run's config."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def make_tagger(**kwargs):
    from annotators.llm.tagger import LLMTagger

    return LLMTagger(**kwargs)


def make_describer(**kwargs):
    from annotators.llm.describer import LLMDescriber

    return LLMDescriber(**kwargs)


def register() -> None:
    from annotators.base import register_describer, register_tagger

    register_tagger("llm", make_tagger)
    register_describer("llm", make_describer)
