"""Declarative ingest mappings: how fields of an input record become problems, trajectories
and gold spans. A mapping is a TOML file, validated here with pydantic.

    mapping = load_mapping("gsm8k")              # a preset shipped in pipeline/mappings/
    mapping = load_mapping("my_mapping.toml")    # a file of your own
    available_mappings()                         # names of the shipped presets

A mapping file:

    description = "GSM8K: human solution in `answer`, final answer after ####"
    source = "gsm8k"                       # constant; `--source` overrides it

    [problem]
    question = "question"                  # a field path: a.b[0].c
    answer = { field = "answer", after = "####" }
    perturbation = { field = "kind", map = { "numerical substitution" = "numbers" } }
    metadata = { level = "level" }         # name -> field spec, kept as JSON

    [[trajectory]]                         # zero or more; one trajectory (or one per element) each
    text = "answer"
    teacher = { const = "gsm8k-human" }
    sampling = { is_correct = { field = "score", each = true } }

A field spec is a path string or a table with exactly one of `field` / `const` and
optional, in this order: `role` (pick a chat message's content by role), `each` (a list:
one trajectory per element), `join` (a list of steps joined into one text), `after` (text
after the last occurrence of a marker; missing when the marker is absent), `before` (text
before the first occurrence), `regex` (first capture group), `strip`, `map` (replace
whole values), `null_if` (values meaning "missing"), `default`. Instead of `field` / `const`, a
`template` builds text from several fields. `convert`, `boxed`, `pick = "all"`, content parts,
`[joins.*]`, `license` and `source_url`: see pipeline/mappings/README.md, which documents
every feature with an example.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.ingest.values import template_fields
from schemas import Alignment, AnnotatorKind

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
DEFAULT_MAPPING = "stratagem-sample"
DEFAULT_MAX_CHARS = 4_000_000

_TOKEN = re.compile(r"""\[(-?\d+)\]|\.?([^.\[\]]+)""")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class MappingError(ValueError):
    """A mapping that cannot be used, with a one-line reason meant for the user."""


def parse_path(path: str) -> tuple[str | int, ...]:
    """`a.b[0].c` -> ("a", "b", 0, "c"); keys are strings, list indexes ints."""
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad field path {path!r} at position {pos}")
        tokens.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    if not tokens or not isinstance(tokens[0], str):
        raise ValueError(f"field path {path!r} must start with a field name")
    return tuple(tokens)


class FieldSpec(BaseModel):
    """Where one value comes from and how it is cleaned (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str | None = None
    const: str | int | float | bool | None = None
    template: str | list[str] | None = None  # "{context}\n\n{question}" or parts, see values.render_template
    role: str | list[str] | None = None
    role_key: str = "role"
    content_key: str = "content"
    part_join: str = "\n"  # between the parts of a message whose content is a list of parts
    pick: Literal["first", "last", "all"] = "last"
    each: bool = False
    join: str | None = None
    convert: bool = False  # booleans and lists become text too (True / False; elements joined by `join` or ", ")
    boxed: bool = False  # the content of the last balanced \boxed{...}; missing when there is none
    after: str | None = None
    before: str | None = None
    regex: str | None = None
    strip: bool = False
    map: dict[str, str] = Field(default_factory=dict)
    null_if: list[str] = Field(default_factory=list)
    default: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "FieldSpec":
        if sum(x is not None for x in (self.field, self.const, self.template)) != 1:
            raise ValueError("give exactly one of `field`, `const` or `template`")
        if self.field is not None:
            parse_path(self.field)
        if self.const is not None and (self.each or self.join is not None or self.role):
            raise ValueError("`each`, `join` and `role` need a `field`, not a `const`")
        if self.template is not None:
            if self.each or self.role:
                raise ValueError("`each` and `role` need a `field`, not a `template`")
            for path, _ in template_fields(self.template):
                parse_path(path)
        if self.each and self.join is not None:
            raise ValueError("`each` (one trajectory per element) and `join` (one text) exclude each other")
        if self.pick == "all" and not (self.role and (self.each or self.join is not None)):
            raise ValueError("`pick = \"all\"` needs a `role` and `join` (one text) or `each` (one per turn)")
        if self.regex is not None:
            try:
                if re.compile(self.regex).groups < 1:
                    raise ValueError(f"regex {self.regex!r} needs a capture group")
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r}: {exc}") from exc
        return self

    @property
    def path(self) -> tuple[str | int, ...]:
        return parse_path(self.field) if self.field is not None else ()

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.role,) if isinstance(self.role, str) else tuple(self.role or ())

    @property
    def root(self) -> str | None:
        return self.path[0] if self.field is not None else None  # type: ignore[return-value]


def _coerce_spec(value: Any) -> Any:
    return {"field": value} if isinstance(value, str) else value


Spec = Annotated[FieldSpec, BeforeValidator(_coerce_spec)]


class SpansSpec(BaseModel):
    """Spans given with the record (gold spans): a list of {start, end, label} objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    start: str = "start"
    end: str = "end"
    label: str = "label"
    annotator_kind: AnnotatorKind = AnnotatorKind.gold
    annotator: str = Field(min_length=1)
    annotator_version: str = ""
    alignment: Alignment = Alignment.gold

    @field_validator("field")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_path(value)
        return value


class ProblemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    question: Spec
    answer: Spec | None = None
    family: Spec | None = None
    perturbation: Spec | None = None
    seed_question: Spec | None = None
    seed_answer: Spec | None = None
    seed_problems: bool = False  # also store each seed (seed_question, seed_answer) as an original problem
    metadata: dict[str, Spec] = Field(default_factory=dict)

    @field_validator("question", "seed_question")
    @classmethod
    def _one_text(cls, spec: FieldSpec | None) -> FieldSpec | None:
        if spec is not None and spec.each:
            raise ValueError("a question is one text: `each` is for trajectories")
        return spec


class TrajectorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: Spec
    teacher: Spec
    sampling: dict[str, Spec] = Field(default_factory=dict)
    spans: SpansSpec | None = None

    @model_validator(mode="after")
    def _per_element(self) -> "TrajectorySpec":
        for name, spec in self.sampling.items():
            if spec.each and not self.text.each:
                raise ValueError(f"sampling.{name} has `each` but the text is not a list (`each = true`)")
        if self.spans is not None and (self.text.each or self.text.join is not None):
            raise ValueError("gold spans need a single text field (no `each` / `join`)")
        return self


class FolderSpec(BaseModel):
    """A record is a folder holding these files; fields are `<alias>.<path>` (plus `_dir`,
    `_name`, `_parent`: the folder's path under the input, its name, its parent's name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    files: dict[str, str] = Field(min_length=1)

    @field_validator("files")
    @classmethod
    def _plain_names(cls, files: dict[str, str]) -> dict[str, str]:
        for alias, name in files.items():
            if not _NAME.match(name) or not _NAME.match(alias):
                raise ValueError(f"file {alias} = {name!r} must be a plain file name")
        return files


class JoinSpec(BaseModel):
    """Records of a second file, looked up by key: `[joins.<alias>]` makes `<alias>.<path>`
    address the record of `file` whose `key` equals this record's `on` (canonical text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str  # relative to the mapping file's folder, or absolute
    key: str
    on: str
    records: str | None = None  # inside a JSON object file: the path of its list of records

    @field_validator("key", "on")
    @classmethod
    def _path(cls, value: str) -> str:
        parse_path(value)
        return value


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str = ""
    source: str | None = None
    license: str | None = None  # of the data, e.g. "MIT"; recorded in the runs row (config.mapping)
    source_url: str | None = None  # where the data comes from
    joins: dict[str, JoinSpec] = Field(default_factory=dict)
    records: str | None = None  # inside a JSON object file: the path of its list of records
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, gt=0)
    folder: FolderSpec | None = None
    problem: ProblemSpec
    trajectory: list[TrajectorySpec] = Field(default_factory=list)
    sha256: str = ""

    def with_overrides(self, *, source: str | None = None, teacher: str | None = None) -> "Mapping":
        """The same mapping with `--source` / `--teacher` constants applied."""
        update: dict[str, Any] = {}
        if source:
            update["source"] = source
        if teacher:
            update["trajectory"] = [t.model_copy(update={"teacher": FieldSpec(const=teacher)}) for t in self.trajectory]
        return self.model_copy(update=update)

    @property
    def source_name(self) -> str:
        return self.source or self.name

    def required_roots(self) -> dict[str, str]:
        """Top-level fields the mapping cannot do without: {what: field}."""
        need = {"question": self.problem.question.root}
        for i, t in enumerate(self.trajectory):
            need[f"trajectory[{i}].text"] = t.text.root
        return {k: v for k, v in need.items() if v is not None and v not in self.joins}

    def describe(self) -> dict:
        """A JSON-able summary for the runs ledger."""
        return {"name": self.name, "sha256": self.sha256, "source": self.source_name, "license": self.license,
                "source_url": self.source_url}


def available_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.toml"))


def load_mapping(name_or_path: str | Path | None = None) -> Mapping:
    """A shipped preset by name, or a TOML file by path; raises MappingError (one line)."""
    target = str(name_or_path or DEFAULT_MAPPING)
    path = Path(target).expanduser()
    if not (target.endswith(".toml") or path.is_file()):
        if not _NAME.match(target):
            raise MappingError(f"bad mapping name {target!r}")
        path = MAPPINGS_DIR / f"{target}.toml"
        if not path.is_file():
            raise MappingError(f"no mapping named {target!r}; shipped: {', '.join(available_mappings())} "
                               "(or pass a .toml file)")
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"mapping {path} is not valid TOML: {exc}") from exc
    data.setdefault("name", path.stem)
    data["sha256"] = hashlib.sha256(raw).hexdigest()
    joins = data.get("joins")
    if isinstance(joins, dict):  # join files are found beside the mapping file
        for spec in joins.values():
            if isinstance(spec, dict) and isinstance(spec.get("file"), str):
                spec["file"] = str((path.resolve().parent / Path(spec["file"]).expanduser()))
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "mapping"
        raise MappingError(f"mapping {path}: {where}: {err['msg']}") from exc
