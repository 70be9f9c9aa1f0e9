"""Pydantic row models, one per warehouse table (DESIGN section 2).

These models are the single source of truth: the Arrow schemas (schemas/arrow.py) and the
warehouse DDL are derived from them. Validators enforce what a row must satisfy to be
stored at all (offsets in range, known enums); taxonomy membership of a span label is
checked against the taxonomy in use (`Taxonomy.validate_span`).

Field order is column order. `dict` fields are stored as JSON text.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.export import PlanSpan  # one strategy_plan item: the export contract's type


class AnnotatorKind(str, Enum):
    rule = "rule"
    llm = "llm"
    human = "human"
    gold = "gold"


class Alignment(str, Enum):
    exact = "exact"      # quote found verbatim
    fuzzy = "fuzzy"      # quote found by approximate alignment
    segment = "segment"  # offsets are whole segment boundaries (no quote given)
    step = "step"        # offsets come from a step list joined at ingest
    human = "human"      # drawn by a person in Label Studio
    gold = "gold"        # written by the procedural teacher


class Row(BaseModel):
    """Base for table rows: strict about unknown fields, and knows its table name."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)
    table: ClassVar[str]
    key: ClassVar[tuple[str, ...]]


class Problem(Row):
    table = "problems"
    key = ("problem_id",)
    problem_id: str
    source: str
    question: str = Field(min_length=1)
    reference_answer: str | None = None
    answer_kind: str = "unknown"  # numeric | latex | text | none | unknown
    family: str | None = None  # problem family (e.g. "shopping", "algebra")
    family_seed_id: str | None = None  # problem_id of the seed this problem perturbs (itself if original)
    perturbation: str = "original"  # original | numbers | names | distractor | reversed | extra_step | <source's own>
    metadata: dict = Field(default_factory=dict)
    run_id: str | None = None


class Trajectory(Row):
    table = "trajectories"
    key = ("trajectory_id",)
    trajectory_id: str
    problem_id: str
    teacher: str
    text: str = Field(min_length=1)
    text_sha: str
    n_chars: int
    truncated: bool = False  # finish_reason == "length" or known cut
    sampling: dict = Field(default_factory=dict)  # temperature, max_tokens, sample index, ...
    source_file: str | None = None
    source_row: int | None = None
    run_id: str | None = None

    @model_validator(mode="after")
    def _n_chars_matches(self) -> "Trajectory":
        if self.n_chars != len(self.text):
            raise ValueError(f"n_chars={self.n_chars} but text has {len(self.text)} code points")
        return self


class Outcome(str, Enum):
    correct = "correct"
    incorrect = "incorrect"
    unknown = "unknown"  # no final answer found with enough confidence to judge
    no_reference = "no_reference"  # the problem has no reference answer


class Verdict(Row):
    """One judgement of a trajectory's final answer. The rule checker writes one per checker
    version (judge_model NULL); `verify --judge llm` adds one per judge model for the rule
    verdicts it re-judged, which then wins (view `current_verdicts`, warehouse/sql/verdicts.sql)."""

    table = "verdicts"
    key = ("trajectory_id", "checker_version", "judge_model")
    # Lakes made before a column existed get it filled from the old columns when it is added.
    backfill: ClassVar[dict[str, str]] = {
        "outcome": "CASE is_correct WHEN true THEN 'correct' WHEN false THEN 'incorrect' ELSE 'no_reference' END",
    }
    trajectory_id: str
    extracted_answer: str | None
    extraction: str  # boxed | hashes | answer_is | conclusion | choice | last_number | none | judge
    outcome: Outcome
    # the extraction's; None on judge verdicts (a model's self-report is no extraction confidence)
    # and on verdicts from before answers-2
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    is_correct: bool | None  # True for correct, False for incorrect, None otherwise (kept for older readers)
    checker_version: str
    run_id: str
    judge_model: str | None = None  # the LLM that gave a "judge" verdict

    @model_validator(mode="before")
    @classmethod
    def _outcome_from_is_correct(cls, data):
        """A row written the old way (is_correct only) gets the outcome the backfill gives it."""
        if isinstance(data, dict) and data.get("outcome") is None and "is_correct" in data:
            data = {**data, "outcome": {True: "correct", False: "incorrect"}.get(data["is_correct"], "no_reference")}
        return data

    @model_validator(mode="after")
    def _is_correct_follows_outcome(self) -> "Verdict":
        expected = {"correct": True, "incorrect": False}.get(self.outcome)
        if self.is_correct is not expected:
            raise ValueError(f"is_correct={self.is_correct} contradicts outcome={self.outcome!r}")
        return self


class Span(Row):
    table = "spans"
    key = ("span_id",)
    span_id: str
    trajectory_id: str
    text_sha: str
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    label: str
    annotator_kind: AnnotatorKind
    annotator: str
    annotator_version: str = ""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    alignment: Alignment
    run_id: str | None = None
    superseded_by: str | None = None  # span_id / annotation version that replaced it; "retracted" when deleted

    @model_validator(mode="after")
    def _ordered(self) -> "Span":
        if not self.start < self.end:
            raise ValueError(f"span must satisfy start < end, got [{self.start}, {self.end})")
        return self

    def check_text(self, text: str) -> None:
        """Raise ValueError unless the offsets are valid for `text` (DESIGN section 2)."""
        if self.end > len(text):
            raise ValueError(f"span end {self.end} beyond text length {len(text)}")


class Tagged(Row):
    """One tagger's finished pass over one trajectory, also when it found no spans: what makes
    `annotate` skip the trajectory next time (failed items get no row and are retried)."""

    table = "tagged"
    key = ("trajectory_id", "annotator", "annotator_version")
    trajectory_id: str
    text_sha: str
    annotator_kind: AnnotatorKind
    annotator: str
    annotator_version: str = ""
    n_spans: int = Field(ge=0)  # valid spans written for this pass
    run_id: str


class Strategy(Row):
    table = "strategies"
    key = ("strategy_id",)
    strategy_id: str
    problem_id: str
    source_trajectory_id: str | None
    problem_type: str
    approach: str
    steps: list[str]
    leakage_flags: list[str] = Field(default_factory=list)  # empty means leak-free
    score: float | None = None
    rank: int | None = None
    selected: bool = False
    edited: bool = False
    rating: int | None = Field(default=None, ge=1, le=5)
    annotator_kind: AnnotatorKind
    annotator: str
    annotator_version: str = ""
    run_id: str | None = None
    superseded_by: str | None = None


class Run(Row):
    table = "runs"
    key = ("run_id",)
    run_id: str
    stage: str
    config: dict = Field(default_factory=dict)
    config_hash: str
    code_version: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str  # ok | failed | partial (committed part way; "interrupted" when no stage is running)
    counts: dict = Field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None  # None = unknown (a model without a price), never a fake 0
    snapshot_id: int | None = None  # DuckLake snapshot the stage read from


class QuarantineRecord(Row):
    table = "quarantine"
    key = ("run_id", "locator", "reason")
    run_id: str
    stage: str
    source: str
    locator: str  # file:line, file#row, task id, ...
    reason: str
    raw: str | None = None  # truncated to a few KB


class LLMCall(Row):
    table = "llm_calls"
    key = ("cache_key", "run_id", "item_id", "attempt")
    cache_key: str
    run_id: str
    item_id: str | None = None  # trajectory / problem the call was for
    model: str
    attempt: int
    status: str  # ok | cached | http_<code> | timeout | invalid | length | error
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    error: str | None = None


class Review(Row):
    table = "reviews"
    key = ("trajectory_id", "ls_project", "part")
    trajectory_id: str
    ls_project: int
    ls_task_id: int
    part: int = 0  # index of the linked task when a long text is split
    part_offset: int = 0  # code point offset of this part in the full text
    text_sha: str
    pushed_at: datetime
    prediction_run_id: str | None = None
    last_pulled_at: datetime | None = None


class Annotation(Row):
    """One version of one person's Label Studio annotation of one task part (`review pull`): what
    they submitted or skipped, what they said about the strategy candidates, and how long it took.
    Spans and strategy rows the annotation made carry the same `annotator_version`; an edited
    annotation's older version, or a person's older annotation of the same task part, is
    `superseded_by` the newer tag, a deleted one "retracted" (current rows: superseded_by IS NULL)."""

    table = "annotations"
    key = ("annotator_version",)
    annotator_version: str  # p<project>.t<part>.a<annotation id>@<updated_at>
    trajectory_id: str
    ls_project: int
    ls_task_id: int
    ls_annotation_id: int
    part: int = 0  # the task part (of a split trajectory) this annotation covers
    annotator: str  # "ls:<account e-mail>"
    submitted_at: datetime | None = None  # the annotation's created_at in Label Studio
    updated_at: datetime | None = None
    lead_time: float | None = None  # seconds Label Studio recorded for it
    skipped: bool = False  # the annotator pressed Skip (was_cancelled)
    n_spans: int = 0  # spans stored from it
    n_quarantined: int = 0  # its result items quarantined
    candidate_rank: int | None = None  # 1-based rank of the chosen candidate description
    strategy_id: str | None = None  # that candidate's strategy_id
    none_usable: bool = False  # "None is usable" was chosen
    edited: bool = False  # the description was edited (a strategy row with edited=true holds the parse)
    edited_text: str | None = None  # the edited description exactly as typed
    edit_parse: str | None = None  # "layout" (Problem type / Approach / Steps) | "lenient" (free form)
    leak_candidates: list[int] = Field(default_factory=list)  # candidate ranks flagged as leaking the answer
    rating: int | None = Field(default=None, ge=1, le=5)
    selection: str | None = None  # why the task was pushed, e.g. "disagreement score 0.42"
    run_id: str
    superseded_by: str | None = None


class CuratedRow(Row):
    """One row of a curated set: a problem, its selected teacher trajectory and strategy, its split.
    A problem with a reference answer and no trajectory is an RL-only row (trajectory_id None)."""

    table = "curated"
    key = ("run_id", "problem_id")  # one row per problem per curate run
    run_id: str  # the curate run that produced the set
    problem_id: str
    family_seed_id: str  # the problem's family seed (itself for an original)
    split_group: str  # family seed after near-duplicate families were merged; the split hashes this
    trajectory_id: str | None  # None: an RL-only row (no teacher trajectory; exports skip it in SFT files)
    strategy_id: str | None
    split: str  # train | val | test_original | test_<perturbation>
    plan: list[PlanSpan] = Field(default_factory=list)  # consensus spans over the trajectory text
    span_source: str = ""  # how the plan was resolved, e.g. "human:alice", "vote:3", "none"


TABLES: dict[str, type[Row]] = {
    m.table: m for m in (Problem, Trajectory, Verdict, Span, Tagged, Strategy, Run, QuarantineRecord, LLMCall,
                         Review, Annotation, CuratedRow)
}
