"""`review push`: select trajectories, build Label Studio tasks with pre-annotations, import
them in batches, and record the sync state in `reviews`.

    report = push(lake, client, select="random", limit=100, predictions="rules")

Tasks are keyed on `trajectory_id` + part in the task data (`stratagem_key`), never on
Label Studio task ids. Pushing again is idempotent: a task whose text or predictions
changed is updated in place, an unchanged one is left alone, nothing is duplicated.
Texts longer than `max_chars` become linked tasks (`part`, `part_offset`), and predicted
spans are clipped to each part (each region carries its confidence as `score` and in its meta).
The problem, the candidate descriptions, the strategy choice, leak flags and rating are on a
trajectory's first part only; each task says why it was selected (policy and score).

Overlap (`annotators_per_task`): the project's `maximum_annotations`, with every task in the
overlap cohort; predictions pre-label each new annotation (`show_collab_predictions`), history
and other people's annotations are not shown in the labelling stream ("Label All Tasks": Label
Studio's next-task API returns only the caller's own annotations). The free edition has no
roles and no task assignment: any account can open any task in the Data Manager and see every
annotation there.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from annotators.labelstudio import (
    CHOICE_OPTIONS, DEFAULT_K, DEFAULT_MAX_CHARS, EDIT_FROM, LEAK_OPTIONS, TEXT_TO, candidate_options, guidelines_html,
    label_mismatch, labelling_config, spans_to_results, split_text,
)
from pipeline.labelstudio.client import LSClient, ReviewError
from schemas import Review, to_arrow
from annotators.labelstudio import candidate_value
from schemas.export import render_strategy
from warehouse import LakeError

DEFAULT_PROJECT = "stratagem review"
POLICIES = ("random", "disagreement", "low-confidence", "uncertain")


@dataclass
class TaskSpec:
    key: str
    trajectory_id: str
    part: int
    offset: int
    text_sha: str
    data: dict
    predictions: list[dict] = field(default_factory=list)
    prediction_run_id: str | None = None


def task_key(trajectory_id: str, part: int) -> str:
    return f"{trajectory_id}#{part}"


# ---------------------------------------------------------------- selection
def select_trajectories(lake, select: str, limit: int, annotator: str | None, seed: int = 0) -> list[str]:
    """Trajectory ids for a policy (`select_scored` without the scores)."""
    return [tid for tid, _ in select_scored(lake, select, limit, annotator, seed)]


def select_scored(lake, select: str, limit: int, annotator: str | None,
                  seed: int = 0) -> list[tuple[str, float | None]]:
    """(trajectory id, the policy's score or None) for a policy: random | disagreement | low-confidence | uncertain |
    sql:<SELECT ... trajectory_id> (user SQL needs a lake opened read-only). uncertain: the
    trajectories no person or gold has annotated, most uncertain first under the latest learned
    tagger (pipeline.tagger.stage.uncertain_ids); a ReviewError when no model was trained."""
    if select == "random":
        rows = lake.rows("SELECT trajectory_id, NULL FROM trajectories ORDER BY hash(trajectory_id || ?::VARCHAR), "
                         "trajectory_id LIMIT ?", [str(seed), limit])
    elif select == "low-confidence":
        rows = lake.rows(
            "SELECT trajectory_id, avg(confidence) FROM current_spans WHERE annotator_kind <> 'human' "
            "AND confidence IS NOT NULL AND (?::VARCHAR IS NULL OR annotator = ?) GROUP BY 1 ORDER BY 2, 1 LIMIT ?",
            [annotator, annotator, limit])
    elif select == "disagreement":
        rows = lake.rows("""
            WITH s AS (SELECT DISTINCT trajectory_id, annotator, start, "end", label FROM current_spans
                       WHERE annotator_kind <> 'human'),
                 n AS (SELECT trajectory_id, count(DISTINCT annotator) AS na FROM s GROUP BY 1 HAVING na >= 2),
                 k AS (SELECT trajectory_id, start, "end", label, count(DISTINCT annotator) AS c
                       FROM s JOIN n USING (trajectory_id) GROUP BY ALL)
            SELECT trajectory_id, avg(CASE WHEN c < na THEN 1.0 ELSE 0.0 END) AS d FROM k JOIN n USING (trajectory_id)
            GROUP BY trajectory_id ORDER BY d DESC, trajectory_id LIMIT ?""",
                         [limit])
    elif select == "uncertain":
        from pipeline.tagger.stage import TaggerError, uncertain_ids

        try:
            return [(tid, float(score)) for tid, score in uncertain_ids(lake, limit)]
        except TaggerError as exc:
            raise ReviewError(f"--select uncertain: {exc}") from None
    elif select.startswith("sql:"):
        try:
            result = lake.select(select[4:])
        except LakeError as exc:
            raise ReviewError(f"--select sql: {exc}") from exc
        if "trajectory_id" not in result.column_names:
            raise ReviewError("--select sql: the query must return a trajectory_id column")
        ids = [t for t in result.column("trajectory_id").to_pylist() if t is not None]
        return [(tid, None) for tid in list(dict.fromkeys(ids))[:limit]]
    else:
        raise ReviewError(f"unknown --select {select!r}; use one of {', '.join(POLICIES)} or sql:\"SELECT ...\"")
    return [(r[0], None if r[1] is None else float(r[1])) for r in rows]


def why_selected(select: str, score: float | None, rank: int, total: int) -> str:
    """What a task shows about why it was picked, e.g. "--select disagreement, score 0.425 (3 of 50)"."""
    policy = "sql query" if select.startswith("sql:") else select
    return f"--select {policy}" + (f", score {score:.3f}" if score is not None else "") + f" ({rank} of {total})"


# ---------------------------------------------------------------- task building
def build_tasks(lake, trajectory_ids: list[str], *, annotator: str | None, k: int = DEFAULT_K,
                max_chars: int = DEFAULT_MAX_CHARS, select: str = "sql:",
                scores: dict[str, float | None] | None = None) -> tuple[list[TaskSpec], list[str]]:
    """Task specs for the ids (in order) and the ids that are not in the lake. Each first part has
    the problem, the candidates (only those that exist, up to `k`), the strategy controls' options
    and a prediction that pre-fills the edit box with the describer's selected candidate (else the
    first); later parts have none of these. Predictions carry no model_version yet (`push` stamps
    the project's)."""
    if not trajectory_ids:
        return [], []
    scores = scores or {}
    with lake.temp_table("_ids", _id_table(trajectory_ids)):
        trajs = {r[0]: r[1:] for r in lake.rows(
            "SELECT t.trajectory_id, t.problem_id, t.text, t.text_sha, p.question FROM trajectories t "
            "JOIN _ids USING (trajectory_id) LEFT JOIN problems p USING (problem_id)")}
        spans: dict[str, list] = {}
        if annotator:
            for row in lake.rows(
                    'SELECT s.trajectory_id, s.start, s."end", s.label, s.confidence, s.run_id, s.text_sha '
                    "FROM current_spans s JOIN _ids USING (trajectory_id) WHERE s.annotator = ? "
                    'ORDER BY s.start, s."end", s.label', [annotator]):
                spans.setdefault(row[0], []).append(_SpanRow(*row[1:]))
        cands: dict[str, list] = {}
        for row in lake.rows(
                "SELECT s.problem_id, s.strategy_id, s.problem_type, s.approach, s.steps, s.selected "
                "FROM current_strategies s "
                "WHERE s.annotator_kind <> 'human' AND s.problem_id IN (SELECT problem_id FROM trajectories "
                "JOIN _ids USING (trajectory_id)) ORDER BY s.problem_id, s.rank NULLS LAST, s.score DESC NULLS LAST, "
                "s.strategy_id"):
            cands.setdefault(row[0], []).append(row[1:])
    specs, missing = [], []
    total = len(trajectory_ids)
    for rank, tid in enumerate(trajectory_ids, 1):
        if tid not in trajs:
            missing.append(tid)
            continue
        problem_id, text, sha, question = trajs[tid]
        own = [s for s in spans.get(tid, []) if s.text_sha == sha]  # spans on another text version are not shown
        chosen = cands.get(problem_id, [])[:k]
        rendered = [render_strategy(pt, ap, list(st)) for _, pt, ap, st, _ in chosen]
        cand_text = "\n\n".join(f"{candidate_value(i)}\n{r}" for i, r in enumerate(rendered, 1))
        options, leak_options = candidate_options(rendered)
        prefill = next((r for r, c in zip(rendered, chosen) if c[4]), rendered[0] if rendered else None)
        why = why_selected(select, scores.get(tid), rank, total)
        parts = split_text(text, max_chars)
        run_ids = sorted({s.run_id for s in own if s.run_id})
        for part, (offset, part_text) in enumerate(parts):
            first = part == 0
            results = spans_to_results(own, offset, part_text)
            if first and prefill is not None:
                results.append({"id": "prefill", "from_name": EDIT_FROM, "to_name": TEXT_TO, "type": "textarea",
                                "value": {"text": [prefill]}})
            preds = []
            if results:
                confs = [s.confidence for s in own if s.confidence is not None]
                preds = [{"score": sum(confs) / len(confs) if confs else None, "result": results}]
            label = f"part {part + 1} of {len(parts)}"
            data = {
                "stratagem_key": task_key(tid, part), "trajectory_id": tid, "problem_id": problem_id,
                "part": part, "n_parts": len(parts), "part_offset": offset,
                "part_label": label, "text": part_text, "text_sha": sha,
                "why": f"Why this task: {why}; {label}"
                       + (f"; predicted spans by {annotator}, each with its confidence" if annotator else ""),
                "selection": why,
                "problem_header": "Problem" if first else "Problem: shown on part 1 of this trajectory",
                "question": (question or "") if first else "",
                "strategy_ids": [c[0] for c in chosen],
                "candidates_header": ("Candidate strategy descriptions (how to reason, never the answer): pick the best"
                                      if chosen else "No candidate descriptions yet: choose None is usable to write "
                                                     "one or to rate the trajectory"
                                      ) if first else "Strategy choice and rating: on part 1 of this trajectory",
                "candidates": cand_text if first else "",
                CHOICE_OPTIONS: options if first else [],
                LEAK_OPTIONS: leak_options if first else [],
                "prediction_sha": _sha(preds),
            }
            specs.append(TaskSpec(task_key(tid, part), tid, part, offset, sha, data, preds,
                                  run_ids[-1] if run_ids else None))
    return specs, missing


@dataclass
class _SpanRow:
    start: int
    end: int
    label: str
    confidence: float | None
    run_id: str | None
    text_sha: str


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _id_table(ids: list[str]):
    import pyarrow as pa

    return pa.table({"trajectory_id": pa.array(list(dict.fromkeys(ids)), pa.string())})


# ---------------------------------------------------------------- project
PREFILL_VERSION = "candidates"  # predictions' model_version when no --predictions annotator is named


def project_settings(taxonomy, annotators_per_task: int, model_version: str) -> dict:
    """The project fields push sets: overlap, pre-labelling from predictions, what an annotator is
    shown, and the guidelines in the Instructions panel (checked against label-studio 1.23.2)."""
    return {
        "maximum_annotations": annotators_per_task,  # each task goes to this many people
        "overlap_cohort_percentage": 100,             # ... every task, not a sample
        "show_overlap_first": False,
        "show_collab_predictions": True,   # "use predictions to pre-label": each new annotation starts from them
        "reveal_preannotations_interactively": False,
        "show_ground_truth_first": False,
        "show_annotation_history": False,
        "model_version": model_version,    # predictions show only when theirs matches
        "expert_instruction": guidelines_html(taxonomy),
        "show_instruction": True,          # the instructions open with each task
        "show_skip_button": True,
        "skip_queue": "REQUEUE_FOR_OTHERS",
    }


def ensure_project(client: LSClient, title: str, taxonomy, k: int, model_version: str | None,
                   annotators_per_task: int = 1) -> dict:
    """Get or create the project with the current config and settings; refuse one whose span
    labels no longer match the taxonomy."""
    project = client.project_by_title(title)
    config = labelling_config(taxonomy, k)
    if project is None:
        project = client.create_project(title, config, model_version)
    else:
        mismatch = label_mismatch(project.get("label_config", ""), taxonomy.names)
        if mismatch:
            raise ReviewError(f"project {title!r} has a labelling config that does not match taxonomy "
                              f"{taxonomy.name} v{taxonomy.version}: {mismatch}")
    version = model_version or project.get("model_version") or PREFILL_VERSION
    fields = project_settings(taxonomy, annotators_per_task, version)
    if project.get("label_config") != config:
        fields["label_config"] = config
    changed = {k: v for k, v in fields.items() if project.get(k) != v}
    if changed:
        try:
            project = client.update_project(project["id"], **changed)
        except ReviewError:
            if "label_config" not in changed:
                raise
            # an older config whose controls hold annotations cannot be replaced: keep it, set the rest
            del changed["label_config"]
            project = client.update_project(project["id"], **changed)
    return project


# ---------------------------------------------------------------- push
def push(lake, client: LSClient, taxonomy, *, select: str = "random", limit: int = 100,
         predictions: str | None = None, project: str = DEFAULT_PROJECT, k: int = DEFAULT_K,
         max_chars: int = DEFAULT_MAX_CHARS, batch: int = 1000, seed: int = 0, progress=None,
         ids: list[str] | list[tuple[str, float | None]] | None = None, annotators_per_task: int = 1):
    """Create or update the project and its tasks; returns the RunReport of the `review-push` run.

    ids: the trajectories `select` chose (or (id, score) pairs), when the caller resolved it
    already (a `sql:` selection is resolved on a read-only lake before the writable one is opened).
    annotators_per_task: how many people annotate each task independently (the project's overlap)."""
    if limit < 1:
        raise ReviewError("--limit must be at least 1")
    if annotators_per_task < 1:
        raise ReviewError("--annotators-per-task must be at least 1")
    if ids is None:
        ids = select_scored(lake, select, limit, predictions, seed)
    scored = [(i, None) if isinstance(i, str) else (i[0], i[1]) for i in ids]
    ids = [tid for tid, _ in scored]
    specs, missing = build_tasks(lake, ids, annotator=predictions, k=k, max_chars=max_chars, select=select,
                                 scores=dict(scored))
    proj = ensure_project(client, project, taxonomy, k, predictions, annotators_per_task)
    pid = proj["id"]
    version = proj.get("model_version") or PREFILL_VERSION
    for spec in specs:
        for pred in spec.predictions:
            pred["model_version"] = version
    existing = {t["data"].get("stratagem_key"): t for t in client.iter_tasks(pid, fields="task_only", page_size=1000)
                if isinstance(t.get("data"), dict)}
    new = [s for s in specs if s.key not in existing]
    changed = [s for s in specs if s.key in existing and existing[s.key]["data"] != s.data]
    changed_keys = {s.key for s in changed}

    bar = progress.add_task("pushing tasks", total=len(new) + len(changed)) if progress else None
    for i in range(0, len(new), batch):
        chunk = new[i: i + batch]
        client.import_tasks(pid, [{"data": s.data, "predictions": s.predictions} for s in chunk])
        if progress:
            progress.advance(bar, len(chunk))
    for spec in changed:
        task_id = existing[spec.key]["id"]
        client.update_task(task_id, spec.data)
        for pred in client.predictions(task_id):
            if pred.get("model_version") == version:
                client.delete_prediction(pred["id"])
        if spec.predictions:
            client.import_predictions(pid, [p | {"task": task_id} for p in spec.predictions])
        if progress:
            progress.advance(bar, 1)
    if new:
        existing = {t["data"].get("stratagem_key"): t for t in client.iter_tasks(pid, fields="task_only",
                                                                                   page_size=1000)}

    config = {"select": select, "limit": limit, "predictions": predictions, "project": project, "k": k,
              "max_chars": max_chars, "ls_project": pid, "url": client.url, "taxonomy": taxonomy.version,
              "annotators_per_task": annotators_per_task}
    now = datetime.now(timezone.utc)
    with lake.run("review-push", config) as run:
        run.count("selected", len(ids))
        for tid in missing:
            run.quarantine("review-push", f"trajectory:{tid}", "selected trajectory is not in the lake", tid)
        stored = {(r[0], r[1]): r[2:] for r in lake.rows(
            "SELECT trajectory_id, part, ls_task_id, text_sha, prediction_run_id, last_pulled_at FROM reviews "
            "WHERE ls_project = ?", [pid])}
        rows = []
        for spec in specs:
            task = existing.get(spec.key)
            if task is None:
                raise ReviewError(f"task {spec.key} was imported but is not listed by Label Studio")
            old = stored.get((spec.trajectory_id, spec.part))
            if old and old[:3] == (task["id"], spec.text_sha, spec.prediction_run_id) and spec.key not in changed_keys:
                continue
            rows.append(Review(trajectory_id=spec.trajectory_id, ls_project=pid, ls_task_id=task["id"],
                               part=spec.part, part_offset=spec.offset, text_sha=spec.text_sha, pushed_at=now,
                               prediction_run_id=spec.prediction_run_id,
                               last_pulled_at=old[3] if old else None))
        if rows:
            run.replace("reviews", to_arrow(rows, Review))
        run.count("tasks", len(specs))
        run.count("tasks.new", len(new))
        run.count("tasks.updated", len(changed))
        run.count("tasks.unchanged", len(specs) - len(new) - len(changed))
        run.count("predictions", sum(len(s.predictions) for s in new + changed))
    return run.report, pid
