"""`review pull`: bring new, edited and deleted Label Studio annotations back into the lake.

    report = pull(lake, client, taxonomy, project="stratagem review")

Every person's latest version is kept: each annotation version gets an `annotations` row (who,
which task part, when, lead time, skipped, the candidate chosen or "None is usable", the edit as
typed, leak flags per candidate, rating, why the task was selected); another person's annotation
of the same task is never superseded, the same person's older one (an edit, or an earlier
annotation of the same part) is. An edited description is parsed leniently (`parse_edit`) and
never quarantined for its layout; an edit box left as pre-filled is no edit. Result items kept
only in the `annotations` row ("None is usable", a rating or leak flag without a stored strategy,
an untouched edit box) are counted `recorded`, not `accepted`: read = accepted + recorded +
quarantined + duplicates. Every quarantined row names its annotator, in the locator
("... annotation 7 by ls:ann1@x.org result 2") and at the end of the reason ("[annotator
ls:ann1@x.org]", `quarantine_annotator` reads it back).

Incremental: only tasks updated since the last pull (per project, `reviews.last_pulled_at`,
minus a safety margin; reprocessing is a no-op), read in full only when they have
annotations (those without are listed cheaply, and only when there is something to retract). Every result is validated (offsets in
range, `text[start:end]` equal to the stored text, labels in the taxonomy, task text
unchanged since push) and failures are quarantined. Each annotation version gets a tag
`p<project>.t<part>.a<annotation id>@<updated_at>` stored as `annotator_version`:
- a new annotation adds human spans (and a strategy row for its choice / edit / rating);
- an edited one adds its new version and marks the rows of the old one `superseded_by` the new tag;
- a deleted (or skipped) one marks its rows `superseded_by = 'retracted'`.
The whole pull is one `review-pull` run, one transaction: a crash or a server restart
mid-pull changes nothing, and the next pull does all of it. Malformed data (an annotation
or result item of the wrong shape, checked against the pydantic models in
annotators/labelstudio.py; any error reading one task) never fails the pull: it becomes
quarantine rows naming the task, the task's other rows are kept (or, after an unexpected
error, none of that task's), and every other task is stored.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import pyarrow as pa

import re

from annotators.labelstudio import (
    CHOICE_FROM, EDIT_FROM, LEAK_FROM, RATING_FROM, SPAN_FROM, check_annotation, check_result, label_mismatch,
    parse_edit, read_strategy_choice, results_to_spans, same_description,
)
from pipeline.labelstudio.client import LSClient, ReviewError
from pipeline.labelstudio.push import DEFAULT_PROJECT
from schemas import Span, Strategy, content_id, to_arrow
from schemas.export import render_strategy
from schemas.models import Annotation
from warehouse import LakeError

MARGIN = timedelta(minutes=2)  # clock skew between us and the server; re-reading is harmless
_STRATEGY_CONTROLS = {CHOICE_FROM, EDIT_FROM, LEAK_FROM, RATING_FROM}
RETRACTED = "retracted"
_WHO = re.compile(r" \[annotator ([^\]]+)\]$")


def quarantine_annotator(reason: str) -> str | None:
    """The annotator a `review-pull` quarantine reason names ("ls:<email>"), or None."""
    m = _WHO.search(reason or "")
    return m.group(1) if m else None


def _when(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _ls_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # LS date filters need the Z


class _Pull:
    """The state of one pull: what the lake holds, what to write, and the counters."""

    def __init__(self, lake, run, pid: int, taxonomy, users: dict[int, str]):
        self.lake, self.run, self.pid, self.taxonomy, self.users = lake, run, pid, taxonomy, users
        self.spans: list[Span] = []
        self.strategies: list[Strategy] = []
        self.annotations: list[Annotation] = []
        self.supersede: list[tuple[str, str, str]] = []  # (trajectory_id, old tag, new value)
        self.who: str | None = None  # the annotator whose results are being read (named in quarantine rows)
        self.counts: Counter = Counter()  # kept here until write(), so a task that fails can be undone
        self.quarantined: list[tuple[str, str, str]] = []  # (locator, reason, raw)
        self.reviews = {(r[0], r[1]): r[2:] for r in lake.rows(
            "SELECT trajectory_id, part, part_offset, text_sha FROM reviews WHERE ls_project = ?", [pid])}
        self.tags: dict[str, set[str]] = {}
        like = f"p{pid}.%"
        for tid, tag in lake.rows(
                "SELECT trajectory_id, annotator_version FROM current_spans WHERE annotator_kind = 'human' "
                "AND annotator_version LIKE ? UNION SELECT source_trajectory_id, annotator_version "
                "FROM current_strategies WHERE annotator_kind = 'human' AND annotator_version LIKE ? "
                "UNION SELECT trajectory_id, annotator_version FROM annotations WHERE superseded_by IS NULL "
                "AND ls_project = ?", [like, like, pid]):
            self.tags.setdefault(tid, set()).add(tag)

    def task(self, task: dict) -> None:
        """Read one task; anything unexpected in it becomes quarantine rows, never a failed pull."""
        mark = (len(self.spans), len(self.strategies), len(self.supersede), self.counts.copy(), len(self.quarantined),
                len(self.annotations))
        try:
            self._task(task)
        except Exception as exc:  # noqa: BLE001 - one task's data must not stop the pull
            if isinstance(exc, LakeError):  # the lake failed, not the task's data
                raise
            del self.spans[mark[0]:], self.strategies[mark[1]:], self.supersede[mark[2]:], self.quarantined[mark[4]:]
            del self.annotations[mark[5]:]
            self.counts = mark[3]
            self.who = None
            self.count("read")
            self._quarantine(f"project {self.pid} task {_task_id(task)}",
                             f"task could not be read ({type(exc).__name__}: {str(exc)[:200]})", task)

    def _task(self, task) -> None:
        if not isinstance(task, dict):
            raise TypeError(f"task is not an object (a {type(task).__name__})")
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        tid, part = data.get("trajectory_id"), data.get("part")
        where = f"project {self.pid} task {task.get('id')}"
        raw = task.get("annotations") or []
        checked = [(a, *check_annotation(a)) for a in (raw if isinstance(raw, list) else [raw])]
        review = self.reviews.get((tid, part)) if isinstance(tid, str) and type(part) is int else None
        if review is None:
            for ann, _, _ in checked:
                self._reject_all(ann, where, "task was not pushed by stratagem to this project (no reviews row)")
            return
        part_offset, pushed_sha = review
        row = self.lake.rows("SELECT text, text_sha, problem_id FROM trajectories WHERE trajectory_id = ?", [tid])
        full, sha, problem_id = row[0] if row else (None, None, None)
        part_text = data.get("text")
        text_problem = None
        if full is None:
            text_problem = "trajectory is no longer in the lake"
        elif sha != pushed_sha or data.get("text_sha") != pushed_sha or data.get("part_offset") != part_offset \
                or not isinstance(part_text, str) or full[part_offset: part_offset + len(part_text)] != part_text:
            text_problem = "task text changed since push (offsets would be wrong)"
        prefix = f"p{self.pid}.t{part}.a"
        stored = {t for t in self.tags.get(tid, set()) if t.startswith(prefix)}
        live = set()
        latest: dict = {}  # each person's newest annotation of this task part is their current one
        for _, ann, _ in checked:
            if ann is not None:
                have = latest.get(ann.user_id)
                if have is None or (ann.updated_at or "", ann.id) > (have.updated_at or "", have.id):
                    latest[ann.user_id] = ann
        ctx = _Ctx(tid, part, task.get("id"), data, problem_id, part_text, part_offset, sha, text_problem)
        for raw_ann, ann, reason in checked:
            if isinstance(raw_ann, dict) and type(raw_ann.get("id")) is int:
                live.add(f"{prefix}{raw_ann['id']}@")  # malformed, but there: its stored rows stay
            if ann is None:
                self.count("annotations.malformed")
                self._reject_all(raw_ann, where, reason)
                continue
            older = {t for t in stored if t.startswith(f"{prefix}{ann.id}@")}
            newest = latest[ann.user_id]
            if newest is not ann:  # the same person annotated this part again later: that one is current
                self.supersede += [(tid, old, f"{prefix}{newest.id}@{newest.updated_at}") for old in older]
                self.count("annotations.older_of_same_person")
                continue
            tag = f"{prefix}{ann.id}@{ann.updated_at}"
            if tag in stored:
                self.count("annotations.unchanged")
                continue
            self.count("annotations.edited" if older else "annotations.new")
            self.supersede += [(tid, old, tag) for old in older]
            self._annotation(ann, tag, ctx, f"{where} annotation {ann.id}")
        for old in stored:
            if old.split("@", 1)[0] + "@" not in live:
                self.supersede.append((tid, old, RETRACTED))
                self.count("annotations.retracted")

    def _reject_all(self, ann, where: str, reason: str) -> None:
        """Quarantine every result item of an annotation (one row for the annotation when it has none)."""
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        items = ann.get("result") if isinstance(ann, dict) else None
        by = ann.get("completed_by") if isinstance(ann, dict) else None
        by = by.get("id") if isinstance(by, dict) else by
        self.who = self._name(by) if type(by) is int else None
        if not isinstance(items, list) or not items:
            self.count("read")
            self._quarantine(f"{where} annotation {ann_id}", reason, ann)
            return
        for i, item in enumerate(items):
            self.count("read")
            self._quarantine(f"{where} annotation {ann_id} result {i}", reason, item)
        self.who = None

    def _name(self, user_id) -> str:
        return f"ls:{self.users.get(user_id, user_id)}"

    def _annotation(self, ann, tag, ctx: "_Ctx", where) -> None:
        results = ann.result
        annotator = self._name(ann.user_id)
        self.who = annotator
        first_q, first_s = len(self.quarantined), len(self.spans)
        row = dict(annotator_version=tag, trajectory_id=ctx.tid, ls_project=self.pid,
                   ls_task_id=ctx.task_id if type(ctx.task_id) is int else -1, ls_annotation_id=ann.id,
                   part=ctx.part, annotator=annotator, submitted_at=_when(ann.created_at),
                   updated_at=_when(ann.updated_at), lead_time=ann.seconds, skipped=bool(ann.was_cancelled),
                   selection=ctx.data.get("selection") if isinstance(ctx.data.get("selection"), str) else None,
                   run_id=self.run.run_id)
        self.count("read", len(results))
        if ann.was_cancelled:
            self.count("annotations.skipped")
        span_items, other = [], []
        for i, item in enumerate(results):
            if (reason := check_result(item)) is not None:
                self._reject(where, i, reason, item)
            elif item.get("type") == "labels" or item.get("from_name") == SPAN_FROM:
                span_items.append((i, item))
            elif item.get("from_name") in _STRATEGY_CONTROLS:
                other.append(item)
            else:
                self._reject(where, i, f"result from unknown control {item.get('from_name')!r}", item)
        if ctx.text_problem:
            for i, item in span_items:
                self._reject(where, i, ctx.text_problem, item)
        else:
            good, problems = results_to_spans([it for _, it in span_items], ctx.part_text, ctx.part_offset,
                                              self.taxonomy.names)
            for p in problems:
                self._reject(where, _index(results, p.raw), p.reason, p.raw)
            seen = set()
            for sp in good:
                if (sp.start, sp.end, sp.label) in seen:
                    self.count("duplicates")
                    continue
                seen.add((sp.start, sp.end, sp.label))
                self.count("accepted")
                self.spans.append(Span(
                    span_id=content_id("span", ctx.tid, sp.start, sp.end, sp.label, "human", annotator, tag),
                    trajectory_id=ctx.tid, text_sha=ctx.sha, start=sp.start, end=sp.end, label=sp.label,
                    annotator_kind="human", annotator=annotator, annotator_version=tag, alignment="human",
                    run_id=self.run.run_id))
        row |= self._strategy(other, results, tag, ctx, annotator, where)
        row |= {"n_spans": len(self.spans) - first_s, "n_quarantined": len(self.quarantined) - first_q}
        self.annotations.append(Annotation(**row))
        self.who = None

    def _candidates(self, ids: list[str]) -> dict[str, tuple]:
        """strategy_id -> (problem_id, problem_type, approach, steps) of the task's candidates."""
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        return {r[0]: r[1:] for r in self.lake.rows(
            f"SELECT strategy_id, problem_id, problem_type, approach, steps FROM strategies WHERE strategy_id IN ({marks})",
            ids)}

    def _strategy(self, items, results, tag, ctx: "_Ctx", annotator, where) -> dict:
        """Read the strategy controls; store a strategy row for a chosen or edited description, and
        return the annotations-row fields (choice, none usable, edit as typed, leak flags, rating)."""
        data = ctx.data
        ids = data.get("strategy_ids") if isinstance(data.get("strategy_ids"), list) else []
        ids = ids if all(isinstance(i, str) for i in ids) else []
        choice = read_strategy_choice(items, k=max(len(ids), 1))
        for p in choice.problems:
            self._reject(where, _index(results, p.raw), p.reason, p.raw)
        stored = self._candidates(ids)
        fields = {"none_usable": choice.none_usable, "rating": choice.rating,
                  "leak_candidates": list(choice.leak_candidates)}
        kept: set[int] = set()  # result items that went into the strategy row
        base = None
        if choice.candidate is not None:
            item = next(it for name, it in choice.items if name == CHOICE_FROM)
            found = stored.get(ids[choice.candidate - 1]) if choice.candidate <= len(ids) else None
            if found:
                base = found
                kept.add(id(item))
                fields |= {"candidate_rank": choice.candidate, "strategy_id": ids[choice.candidate - 1]}
            else:
                choice.items.remove((CHOICE_FROM, item))
                self._reject(where, _index(results, item), f"chosen candidate {choice.candidate} is not a stored strategy",
                             item)
        edited = None
        if choice.edited_text is not None:
            item = next(it for name, it in choice.items if name == EDIT_FROM)
            renders = [render_strategy(c[1], c[2], list(c[3])) for c in stored.values()]
            if any(same_description(choice.edited_text, r) for r in renders):
                self.count("strategy.edit_box_untouched")  # the pre-filled candidate, as it was
            else:
                edited = parse_edit(choice.edited_text, fallback_type=base[1] if base else "")
                kept.add(id(item))
                fields |= {"edited": True, "edited_text": choice.edited_text, "edit_parse": edited.how}
                self.count(f"strategy.edit_{edited.how}")
        if choice.none_usable:
            self.count("strategy.none_usable")
        if choice.rating is not None:
            self.count("strategy.rated")
        if choice.leak or choice.leak_candidates:
            self.count("strategy.leak_flagged")
        if base is None and edited is None:
            self.count("recorded", len(choice.items))
            if not choice.empty and not choice.none_usable:
                self.count("strategy.no_choice")
            return fields
        for name, item in choice.items:
            if name in (RATING_FROM, LEAK_FROM):
                kept.add(id(item))
        self.count("accepted", len(kept))
        self.count("recorded", len(choice.items) - len(kept))
        problem_id = base[0] if base else ctx.problem_id
        if edited:
            ptype, approach, steps = edited.problem_type, edited.approach, edited.steps
        else:
            ptype, approach, steps = base[1], base[2], list(base[3])
        leak = choice.leak or (choice.candidate is not None and choice.candidate in choice.leak_candidates)
        self.strategies.append(Strategy(
            strategy_id=content_id("strategy", problem_id, ctx.tid, "human", annotator, tag),
            problem_id=problem_id, source_trajectory_id=ctx.tid, problem_type=ptype, approach=approach,
            steps=list(steps), leakage_flags=["human:leak"] if leak else [], selected=True, edited=edited is not None,
            rating=choice.rating, annotator_kind="human", annotator=annotator, annotator_version=tag,
            run_id=self.run.run_id))
        self.count("strategy.selected")
        return fields

    def _reject(self, where: str, i: int, reason: str, item) -> None:
        self._quarantine(f"{where} result {i}", reason, item)

    def _quarantine(self, locator: str, reason: str, raw) -> None:
        if self.who:  # who made it, in a parseable way: `status` groups reasons, the report reads the name back
            locator = re.sub(r"( annotation \S+)", lambda m: f"{m.group(1)} by {self.who}", locator, count=1)
            reason = f"{reason} [annotator {self.who}]"
        text = json.dumps(raw, ensure_ascii=False, default=repr)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: keep it escaped
            text = json.dumps(raw, default=repr)
        self.quarantined.append((locator, reason, text))

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def write(self) -> None:
        for name, n in self.counts.items():
            self.run.count(name, n)
        for locator, reason, raw in self.quarantined:
            self.run.quarantine("review-pull", locator, reason, raw)
        if self.supersede:
            tids, olds, news = (list(column) for column in zip(*self.supersede))
            for table, col in (("spans", "trajectory_id"), ("strategies", "source_trajectory_id")):
                self.lake.supersede(table, pa.table({col: tids, "annotator_version": olds,
                                                     "annotator_kind": ["human"] * len(tids), "superseded_by": news}))
            self.lake.supersede("annotations", pa.table({"trajectory_id": tids, "annotator_version": olds,
                                                         "superseded_by": news}))
        if self.spans:
            self.run.insert("spans", to_arrow(self.spans, Span))
        if self.strategies:
            self.run.insert("strategies", to_arrow(self.strategies, Strategy))
        if self.annotations:
            self.run.insert("annotations", to_arrow(self.annotations, Annotation))


@dataclass
class _Ctx:
    """The task part an annotation belongs to."""

    tid: str
    part: int
    task_id: object
    data: dict
    problem_id: str | None
    part_text: str | None
    part_offset: int
    sha: str | None
    text_problem: str | None


def _index(results: list, item) -> int:
    """Position of this very item (not an equal one) in the annotation's results."""
    return next(i for i, r in enumerate(results) if r is item)


def _task_id(task) -> object:
    return task.get("id") if isinstance(task, dict) else None


def pull(lake, client: LSClient, taxonomy, *, project: str = DEFAULT_PROJECT, page_size: int = 100,
         on_page: Callable[[int], None] | None = None, full: bool = False):
    """Pull one project; returns the RunReport of the `review-pull` run."""
    proj = client.project_by_title(project)
    if proj is None:
        raise ReviewError(f"Label Studio has no project {project!r}; run `stratagem review push` first")
    pid = proj["id"]
    mismatch = label_mismatch(proj.get("label_config", ""), taxonomy.names)
    if mismatch:
        raise ReviewError(f"project {project!r} labelling config was edited and no longer matches taxonomy "
                          f"{taxonomy.name} v{taxonomy.version}: {mismatch}; nothing was pulled")
    users = client.users()
    started = datetime.now(timezone.utc)
    last = None if full else lake.scalar("SELECT max(last_pulled_at) FROM reviews WHERE ls_project = ?", [pid])
    since = _ls_date(last - MARGIN) if last else None
    config = {"project": project, "ls_project": pid, "url": client.url, "since": since,
              "taxonomy": taxonomy.version, "full": full}
    with lake.run("review-pull", config) as run:
        state = _Pull(lake, run, pid, taxonomy, users)
        tasks = list(client.iter_tasks(pid, fields="all", updated_since=since, annotated=True, page_size=page_size,
                                       on_page=on_page))
        # tasks with no annotation counted: skipped only (Label Studio keeps skips out of total_annotations
        # and ignores a cancelled_annotations filter), or whose last annotation was deleted
        bare = list(client.iter_tasks(pid, fields="task_only", updated_since=since, annotated=False,
                                      page_size=max(page_size, 1000)))
        skipped = [t for t in bare if isinstance(t, dict) and isinstance(t.get("cancelled_annotations"), int)
                   and t["cancelled_annotations"] > 0]
        tasks += [client.task(t["id"]) for t in skipped]
        if state.tags:  # needed only to retract what we hold
            tasks += [t for t in bare if t not in skipped]
        run.count("tasks", len(tasks))
        for task in tasks:
            state.task(task)
        state.write()
        lake.update("reviews", {"last_pulled_at": started}, {"ls_project": pid})
        for name in ("read", "accepted", "recorded", "quarantined", "duplicates"):
            run.count(name, 0)
    return run.report
