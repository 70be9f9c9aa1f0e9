"""Count tokens with a named tokenizer, for length filters in curation and export.

    counter = load_token_counter("path/to/tokenizer.json")   # or a folder holding one,
    counter(["text", ...]) -> [n_tokens, ...]                 # or a model name in the local HF cache

Nothing is downloaded: a name that is neither a local file/folder nor cached raises
TokenizerError with one line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

TokenCounter = Callable[[Sequence[str]], list[int]]


class TokenizerError(ValueError):
    """A tokenizer that cannot be loaded, with a one-line reason."""


def load_token_counter(name: str) -> TokenCounter:
    path = Path(name).expanduser()
    if path.is_dir() and (path / "tokenizer.json").is_file():
        path = path / "tokenizer.json"
    if path.is_file():
        from tokenizers import Tokenizer

        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad files
            raise TokenizerError(f"cannot load tokenizer {name}: {str(exc).splitlines()[0]}") from None
        return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:  # a path, and no hub model id (org/name)
        raise TokenizerError(f"tokenizer {name!r}: no such tokenizer.json or folder holding one")
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception as exc:
        raise TokenizerError(f"tokenizer {name!r} is neither a tokenizer.json, a folder holding one, "
                             f"nor a model in the local cache ({type(exc).__name__})") from None
    return lambda texts: [len(ids) for ids in hf(list(texts), add_special_tokens=False)["input_ids"]]
