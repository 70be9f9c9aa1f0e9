"""What the LLM tagger and describer share: the injected chat client, the taxonomy, sampling
and identity. Annotators stay pure: they build prompts and response models and read answers;
the client that sends requests (llm/client.py) is made by the `llm` package and passed in.

    class LLMTagger(LLMAnnotator, Tagger):
        def __init__(self, client, *, taxonomy=None, temperature=0.0, max_tokens=1024):
            self.setup(client, taxonomy, PROMPT_VERSION, temperature, max_tokens)

The client needs `model` and `run(fn, items, on_done, item_ids)`, which calls
`await fn(session, item)` per item; `session.chat(messages, sampling=..., prompt_version=...,
response_model=..., context=..., key_extra=...)` returns an outcome with `value`, `error`
and `calls` (llm.client.LLMClient is the one in use).
"""
from __future__ import annotations

from pathlib import Path

from schemas import Taxonomy, load_taxonomy


class LLMAnnotator:
    kind = "llm"

    def setup(self, client, taxonomy: Taxonomy | str | Path | None, prompt_version: str, temperature: float,
              max_tokens: int) -> None:
        """Name "llm:<model>", version "<prompt version>+<taxonomy>-<taxonomy version>"."""
        self.client = client
        self.taxonomy = taxonomy if isinstance(taxonomy, Taxonomy) else load_taxonomy(taxonomy)
        self.sampling = {"temperature": temperature, "max_tokens": max_tokens}
        self.name = f"llm:{client.model}"
        self.version = f"{prompt_version}+{self.taxonomy.name}-{self.taxonomy.version}"
