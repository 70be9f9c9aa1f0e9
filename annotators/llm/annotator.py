"""What the LLM tagger and describer share: the client, the taxonomy, sampling and identity.

    class LLMTagger(LLMAnnotator, Tagger):
        def __init__(self, *, base_url, model, taxonomy=None, temperature=0.0, max_tokens=None, **kw):
            self.setup(base_url, model, taxonomy, PROMPT_VERSION, temperature, max_tokens, 1024, kw)
"""
from __future__ import annotations

from pathlib import Path

from annotators.llm.client import LLMClient, env_int
from schemas import Taxonomy, load_taxonomy


class LLMAnnotator:
    kind = "llm"

    def setup(self, base_url: str, model: str, taxonomy: Taxonomy | str | Path | None, prompt_version: str,
              temperature: float, max_tokens: int | None, default_max_tokens: int, client_kwargs: dict) -> None:
        """Client from `client_kwargs` (LLMClient's arguments); max_tokens falls back to
        $STRATAGEM_LLM_MAX_TOKENS, then `default_max_tokens`; name "llm:<model>", version
        "<prompt version>+<taxonomy>-<taxonomy version>"."""
        self.client = LLMClient(base_url, model, **client_kwargs)
        self.taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        self.sampling = {"temperature": temperature,
                         "max_tokens": max_tokens or env_int("STRATAGEM_LLM_MAX_TOKENS", default_max_tokens)}
        self.name = f"llm:{model}"
        self.version = f"{prompt_version}+{self.taxonomy.name}-{self.taxonomy.version}"
