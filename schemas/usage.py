"""What an LLM request cost, as the LLM client reports it (standard library only: the trainer's
machine, which has no pydantic, imports annotators and so this).

    LLMUsage(cache_key, model, attempt=1, status="ok", tokens_in=812, tokens_out=97, cost_usd=None)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LLMUsage:
    """One HTTP attempt of an LLM request (a cached answer included, status "cached"), as the
    LLM client reports it to annotators and stages; a stage stores it as an `LLMCall` row."""

    cache_key: str
    model: str
    attempt: int
    status: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    error: str | None = None
