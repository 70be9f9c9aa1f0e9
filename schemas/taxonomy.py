"""The strategy taxonomy: a TOML file (schemas/taxonomy.toml by default) loaded and validated.

    tax = load_taxonomy()            # the packaged default
    tax = load_taxonomy("my.toml")   # a project's own
    tax.names                        # ("planning", "decomposition", ...)
    tax.validate_span(span, text)    # raises ValueError for an unknown label or bad offsets

Each label may carry annotator guidelines (definition, span boundaries, examples, what not to
tag) that Label Studio shows (annotators/labelstudio.py). The file's sha256 is recorded with
everything the taxonomy shaped; editing the file, guidelines included, is a new version: bump
`version` with it.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_TAXONOMY = Path(__file__).with_name("taxonomy.toml")


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used, with a one-line reason."""


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z_]*$")
    description: str = Field(min_length=1)
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    hotkey: str = Field(min_length=1, max_length=1)
    cues: tuple[str, ...] = ()
    # annotator guidelines (Label Studio's instructions panel and per-label hints)
    definition: str = ""  # what counts as this strategy (default: the description)
    span: str = ""  # where a span of it starts and ends
    examples: tuple[str, ...] = Field(default=(), max_length=4)  # short examples, the span's text
    not_this: str = ""  # what not to tag as this label

    @field_validator("cues")
    @classmethod
    def _cues_compile(cls, cues: tuple[str, ...]) -> tuple[str, ...]:
        for cue in cues:
            try:
                re.compile(cue)
            except re.error as exc:
                raise ValueError(f"cue {cue!r} is not a valid regular expression: {exc}") from exc
        return cues


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: str
    guidelines: str = ""  # general rules for annotators, paragraphs separated by blank lines
    labels: tuple[Label, ...] = Field(min_length=1)
    sha256: str = ""  # of the file's bytes, filled by the loader

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: tuple[Label, ...]) -> tuple[Label, ...]:
        for attr in ("name", "hotkey"):
            seen: set[str] = set()
            for label in labels:
                value = getattr(label, attr)
                if value in seen:
                    raise ValueError(f"duplicate {attr} {value!r}")
                seen.add(value)
        return labels

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def label(self, name: str) -> Label:
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(name)

    def validate_span(self, span, text: str | None = None) -> None:
        """Raise ValueError for a label outside the taxonomy or offsets outside `text`."""
        if span.label not in self.names:
            raise ValueError(f"unknown label {span.label!r} (taxonomy {self.name} has {', '.join(self.names)})")
        if text is not None:
            span.check_text(text)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    path = Path(path) if path else DEFAULT_TAXONOMY
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"taxonomy {path} is not valid TOML: {exc}") from exc
    try:
        return Taxonomy(**data, sha256=hashlib.sha256(raw).hexdigest())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TaxonomyError(f"taxonomy {path}: {where}: {first['msg']}") from exc
