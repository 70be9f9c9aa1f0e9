"""The curation policy: a TOML file, validated by pydantic, that `stratagem curate` applies.

    policy = load_policy()                     # pipeline/curate/policies/default.toml (documented there)
    policy = load_policy("my-policy.toml")     # a project's own; missing keys take the defaults
    policy.as_config()                         # plain dict, stored with the curate run and the export

Unknown keys and unknown annotator kinds are refused with one line naming the key
(`PolicyError`); a named annotator (`[spans] method = "annotator"`) is checked against the
lake when curation starts, since only the lake knows which annotators exist.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas import AnnotatorKind
from schemas.export import PROMPT_SUFFIX

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.toml"
KINDS = tuple(k.value for k in AnnotatorKind)


class PolicyError(ValueError):
    """A policy file that cannot be used, with a one-line reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_kinds(kinds: list[str]) -> list[str]:
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown annotator {kind!r} (annotator kinds are {', '.join(KINDS)})")
    if len(set(kinds)) != len(kinds):
        raise ValueError("an annotator kind is listed twice")
    return kinds


class SpanPolicy(_Section):
    method: Literal["precedence", "vote", "annotator"] = "precedence"
    precedence: list[str] = ["human", "gold", "llm", "rule"]
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    annotator: str | None = None

    _kinds = field_validator("precedence")(classmethod(lambda cls, v: _known_kinds(v)))

    @model_validator(mode="after")
    def _annotator_given(self) -> "SpanPolicy":
        if self.method == "annotator" and not self.annotator:
            raise ValueError('method = "annotator" needs annotator = "<name>"')
        return self


class StrategyPolicy(_Section):
    order: list[str] = ["human", "llm", "rule"]
    required: bool = True
    leak_free: bool = True

    _kinds = field_validator("order")(classmethod(lambda cls, v: _known_kinds(v)))


class FilterPolicy(_Section):
    correct_only: bool = True
    unknown: Literal["exclude", "include"] = "exclude"
    exclude_truncated: bool = True
    min_chars: int = Field(1, ge=0)
    max_chars: int | None = Field(None, ge=1)
    tokenizer: str | None = None
    min_tokens: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    min_strategy_spans: int = Field(1, ge=0)
    exclude_sources: list[str] = []

    @model_validator(mode="after")
    def _tokens_need_tokenizer(self) -> "FilterPolicy":
        if (self.min_tokens is not None or self.max_tokens is not None) and not self.tokenizer:
            raise ValueError("min_tokens / max_tokens need tokenizer = \"<tokenizer.json, folder or model name>\"")
        return self


class DedupPolicy(_Section):
    enabled: bool = True
    similarity: float = Field(0.9, gt=0.0, le=1.0)
    shingle_words: int = Field(3, ge=1)


class SplitPolicy(_Section):
    salt: str = "stratagem-v1"
    train: float = Field(0.8, ge=0.0, le=1.0)
    val: float = Field(0.1, ge=0.0, le=1.0)
    test: float = Field(0.1, ge=0.0, le=1.0)
    variants_in_train: bool = True

    @model_validator(mode="after")
    def _sum_to_one(self) -> "SplitPolicy":
        if abs(self.train + self.val + self.test - 1.0) > 1e-9:
            raise ValueError(f"train + val + test must be 1, got {self.train + self.val + self.test:g}")
        return self


class SelectionPolicy(_Section):
    trajectory: Literal["shortest", "longest"] = "shortest"
    prefer_strategy_source: bool = True


class ProblemsOnlyPolicy(_Section):
    include: bool = True


class PromptPolicy(_Section):
    suffix: str = PROMPT_SUFFIX


class Policy(_Section):
    name: str = "default"
    taxonomy: str | None = None
    spans: SpanPolicy = SpanPolicy()
    strategy: StrategyPolicy = StrategyPolicy()
    filters: FilterPolicy = FilterPolicy()
    dedup: DedupPolicy = DedupPolicy()
    splits: SplitPolicy = SplitPolicy()
    selection: SelectionPolicy = SelectionPolicy()
    problems_only: ProblemsOnlyPolicy = ProblemsOnlyPolicy()
    prompt: PromptPolicy = PromptPolicy()

    def as_config(self) -> dict:
        return self.model_dump(mode="json")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def policy_from_dict(data: dict, origin: str = "policy") -> Policy:
    try:
        return Policy(**data)
    except ValidationError as exc:
        raise PolicyError(f"{origin}: {_first_error(exc)}") from None
    except TypeError as exc:
        raise PolicyError(f"{origin}: {exc}") from None


def load_policy(path: str | Path | None = None) -> Policy:
    path = Path(path) if path else DEFAULT_POLICY
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PolicyError(f"policy {path} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {path} is not valid TOML: {exc}") from None
    return policy_from_dict(data, f"policy {path}")
