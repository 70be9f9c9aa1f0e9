"""Everything the report shows, read from the lake (read-only), an export folder, trainer run
folders (metrics.jsonl, config.json, signal.json when the trainer wrote one) and an eval JSON
into plain Python values (no plotting, no HTML here).

    data = gather(lake, export_dir=Path("stratagem-data/exports/demo"),
                  run_dirs=[Path("stratagem-data/runs/sft")], eval_json=Path("stratagem-data/runs/eval.json"))
    data.tables, data.runs, data.verdicts, data.agreement, data.examples, data.tagger, data.training, ...

A section with nothing to show is an empty value; the template says so. `lake` may be None
(a report of training runs only).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.agreement import (AnnotatorRef, annotators, compare_restricted, load_spans, selected_spans,
                                shared_trajectories)
from pipeline.report.lead import gather_lead
from pipeline.report.verdicts import current_verdicts_sql, verdict_breakdown
from schemas import TABLES, Taxonomy, load_taxonomy
from trainer.metrics import read_metrics

AGREEMENT_DOCS = 1000   # trajectories per comparison (first by id): stable figures at any lake size
EXAMPLES = 3            # trajectories rendered with their spans
STRATEGY_EXAMPLES = 4   # strategy descriptions shown in full
RUNS_SHOWN = 30         # latest stage runs listed one by one (every run counts in the per-stage totals)


class ReportError(ValueError):
    """Nothing to report, or an input that cannot be read: one line for the user."""


@dataclass
class ReportData:
    root: str = ""
    snapshot_id: int | None = None
    taxonomy: Taxonomy | None = None
    tables: dict[str, int] = field(default_factory=dict)             # table -> rows
    runs: list[dict] = field(default_factory=list)                   # one per stage run, oldest first
    stages: list[dict] = field(default_factory=list)                 # per stage: runs and summed counts
    quarantine: list[dict] = field(default_factory=list)             # stage, reason, n
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # annotator -> label -> spans
    spans_per_trajectory: dict[str, dict[int, int]] = field(default_factory=dict)  # annotator -> spans -> trajectories
    agreement: dict = field(default_factory=dict)                    # names, matrices, per-label vs gold
    lead: dict = field(default_factory=dict)                         # the lead's page: pipeline.report.lead
    tagger: dict = field(default_factory=dict)                       # the latest tagger-train run: _tagger
    examples: list[dict] = field(default_factory=list)               # trajectories with spans per annotator
    strategies: dict = field(default_factory=dict)                   # totals, flags, examples
    export: dict = field(default_factory=dict)                       # manifest summary
    verdicts: dict = field(default_factory=dict)                     # pipeline.report.verdicts.verdict_breakdown
    training: list[dict] = field(default_factory=list)               # name, config, metrics rows, signal
    evaluation: dict = field(default_factory=dict)                   # eval.json as written by `stratagem eval`
    demo_claim: str | None = None                                    # demo.json "what_it_shows", in a demo root

    def is_empty(self) -> bool:
        return not (any(self.tables.values()) or self.export or self.training or self.evaluation)


def _lake_tables(lake) -> dict[str, int]:
    have = {r[0] for r in lake.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake'")}
    return {name: int(lake.scalar(f"SELECT count(*) FROM {name}")) for name in TABLES if name in have}


def _runs(lake) -> list[dict]:
    rows = lake.rows("""SELECT run_id, stage, status, started_at, finished_at, counts, tokens_in, tokens_out, cost_usd
                        FROM runs ORDER BY started_at, run_id""")
    runs = []
    for run_id, stage, status, started, finished, counts, t_in, t_out, cost in rows:
        seconds = (finished - started).total_seconds() if started and finished else None
        runs.append({"run_id": run_id, "stage": stage, "status": status, "started_at": str(started)[:19],
                     "seconds": seconds, "counts": json.loads(counts) if counts else {},
                     "tokens_in": t_in or 0, "tokens_out": t_out or 0, "cost_usd": cost})
    return runs


def stage_totals(runs: list[dict]) -> list[dict]:
    """Per stage, in order of first run: runs, failed runs, and the counts every stage keeps, summed."""
    stages: dict[str, dict] = {}
    for run in runs:
        row = stages.setdefault(run["stage"], {"stage": run["stage"], "runs": 0, "failed": 0, "read": None,
                                               "accepted": None, "quarantined": None, "duplicates": None,
                                               "seconds": 0.0})
        row["runs"] += 1
        row["failed"] += run["status"] != "ok"
        row["seconds"] += run["seconds"] or 0.0
        for key in ("read", "accepted", "quarantined", "duplicates"):
            value = run["counts"].get(key)
            if isinstance(value, int):  # None: no run of this stage keeps that count
                row[key] = (row[key] or 0) + value
    return list(stages.values())


def _label_counts(lake, refs: list[AnnotatorRef]) -> tuple[dict, dict]:
    """Per annotator (pipeline.agreement: latest version; gold: every gold span): spans per label,
    and trajectories per number of spans."""
    labels: dict[str, dict[str, int]] = {}
    per_traj: dict[str, dict[int, int]] = {}
    with selected_spans(lake, refs) as spans:
        for who, label, n in lake.rows(f"SELECT who, label, count(*) FROM {spans} GROUP BY ALL ORDER BY ALL"):
            labels.setdefault(who, {})[label] = int(n)
        for who, n, trajectories in lake.rows(f"""
                SELECT who, n, count(*) FROM (SELECT who, trajectory_id, count(*) AS n FROM {spans} GROUP BY ALL)
                GROUP BY ALL ORDER BY ALL"""):
            per_traj.setdefault(who, {})[int(n)] = int(trajectories)
    return labels, per_traj


def _agreement(lake, refs: list[AnnotatorRef], taxonomy: Taxonomy) -> dict:
    """Pairwise overlap F1 and token kappa (row = prediction, column = reference) and per-label
    figures of each annotator against gold, over the first AGREEMENT_DOCS shared trajectories."""
    if len(refs) < 2:
        return {}
    ids = shared_trajectories(lake, refs, AGREEMENT_DOCS)
    if not ids:
        return {}
    loaded = load_spans(lake, refs, trajectory_ids=ids)
    names = [str(r) for r in refs]
    f1 = [[None] * len(names) for _ in names]
    kappa = [[None] * len(names) for _ in names]
    docs = [[0] * len(names) for _ in names]
    vs_gold: dict[str, dict] = {}
    for i, a in enumerate(refs):
        for j, b in enumerate(refs):
            if i == j or not set(loaded.spans[a]) & set(loaded.spans[b]):
                continue
            result, info = compare_restricted(loaded.texts, loaded.spans[a], loaded.spans[b],
                                              labels=list(taxonomy.names))
            docs[i][j] = info.compared  # on what both reviewed: a person's task parts only
            if not docs[i][j]:
                continue
            f1[i][j], kappa[i][j] = result.overlap.f1, result.overall_kappa
            if b.every_gold:
                vs_gold[names[i]] = {
                    "trajectories": docs[i][j], "exact_f1": result.exact.f1, "overlap_f1": result.overlap.f1,
                    "kappa": result.overall_kappa,
                    "labels": {lab: {"overlap_f1": r.overlap.f1, "kappa": r.kappa, "spans": r.exact.n_pred,
                                     "gold": r.exact.n_ref} for lab, r in result.labels.items()}}
    return {"names": names, "overlap_f1": f1, "kappa": kappa, "docs": docs, "vs_gold": vs_gold,
            "limit": AGREEMENT_DOCS}


TAGGER_STAGE = "tagger-train"  # pipeline.tagger.stage.STAGE (not imported: it loads the model code)


def _tagger(lake) -> dict:
    """The newest ok `tagger-train` run: model version (and whether its folder exists), training
    counts, settings, and the learning curve it recorded on held-out families; {} when none."""
    rows = lake.rows("SELECT run_id, started_at, config, counts FROM runs WHERE stage = ? AND status = 'ok' "
                     "ORDER BY started_at DESC, run_id DESC LIMIT 1", [TAGGER_STAGE])
    if not rows:
        return {}
    run_id, started, config, counts = rows[0]
    config = json.loads(config) if isinstance(config, str) else (config or {})
    counts = json.loads(counts) if isinstance(counts, str) else (counts or {})
    path = config.get("model_path")
    curve = [r for r in config.get("learning_curve") or [] if isinstance(r, dict) and isinstance(r.get("n"), int)]
    return {"run_id": run_id, "started_at": str(started)[:19], "version": config.get("model_version"),
            "path": path, "on_disk": bool(path) and (Path(lake.root) / path / "model.json").is_file(),
            "taxonomy": config.get("taxonomy"), "labels": config.get("labels") or [],
            "silver": bool(config.get("silver")),
            "settings": {k: config.get(k) for k in ("C", "threshold", "context", "min_count", "silver_weight")
                         if config.get(k) is not None},
            "counts": {k: counts.get(k, 0) for k in ("trajectories", "trajectories.human", "trajectories.gold",
                                                      "trajectories.llm", "spans", "segments", "segments_labelled")},
            "curve": curve, "rules": config.get("rules_on_holdout") or {}, "holdout": config.get("holdout") or {},
            "skipped": None if curve else config.get("learning_curve_skipped",
                                                     "not measured (trained before the curve was recorded)")}


def _examples(lake, refs: list[AnnotatorRef]) -> list[dict]:
    """A few trajectories (of different families where possible) annotated by the most annotators."""
    with selected_spans(lake, refs) as spans:
        ids = [r[0] for r in lake.rows(f"""
            WITH per AS (SELECT trajectory_id, count(DISTINCT who) AS n, count(*) AS spans FROM {spans}
                         GROUP BY trajectory_id)
            SELECT t.trajectory_id FROM per JOIN trajectories t USING (trajectory_id) JOIN problems p USING (problem_id)
            QUALIFY row_number() OVER (PARTITION BY coalesce(p.family, p.source)
                                       ORDER BY per.n DESC, per.spans DESC, t.trajectory_id) = 1
            ORDER BY per.n DESC, per.spans DESC, t.trajectory_id LIMIT ?""", [EXAMPLES])]
    if not ids:
        return []
    spans = load_spans(lake, refs, trajectory_ids=ids, texts=False).spans
    rows = lake.rows(f"""
        SELECT t.trajectory_id, t.text, t.teacher, p.question, p.reference_answer, p.family, p.perturbation,
               v.outcome
        FROM trajectories t JOIN problems p USING (problem_id)
        LEFT JOIN ({current_verdicts_sql(lake)}) v USING (trajectory_id)
        WHERE t.trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[])))""", [ids])
    by_id = {r[0]: r for r in rows}
    out = []
    for tid in ids:
        _, text, teacher, question, answer, family, pert, outcome = by_id[tid]
        out.append({"trajectory_id": tid, "text": text, "teacher": teacher, "question": question, "answer": answer,
                    "family": family, "perturbation": pert, "outcome": outcome,
                    "annotations": {str(ref): spans[ref][tid] for ref in refs if tid in spans[ref]}})
    return out


def _strategies(lake, has_curated: bool) -> dict:
    total, leak_free, selected = lake.rows("""
        SELECT count(*), count(*) FILTER (WHERE len(leakage_flags) = 0), count(*) FILTER (WHERE selected)
        FROM strategies WHERE superseded_by IS NULL""")[0]
    if not total:
        return {}
    flags = [{"flag": f, "n": int(n)} for f, n in lake.rows("""
        SELECT split_part(f, ':', 1) AS flag, count(*) FROM
            (SELECT unnest(leakage_flags) AS f FROM strategies WHERE superseded_by IS NULL) GROUP BY 1 ORDER BY 2 DESC""")]
    by_annotator = [{"annotator": a, "kind": k, "n": int(n), "leak_free": int(lf)} for a, k, n, lf in lake.rows("""
        SELECT annotator, annotator_kind, count(*), count(*) FILTER (WHERE len(leakage_flags) = 0)
        FROM strategies WHERE superseded_by IS NULL GROUP BY ALL ORDER BY ALL""")]
    # Leak-free descriptions (those the latest curated set uses first) and one flagged one when any.
    curated = ("s.strategy_id IN (SELECT strategy_id FROM curated WHERE run_id = "
               "(SELECT max(run_id) FROM curated))") if has_curated else "false"
    examples = [{"question": q, "answer": a, "problem_type": pt, "approach": ap, "steps": list(st or []),
                 "flags": list(fl or []), "rank": rk, "annotator": an, "selected": sel, "curated": cur}
                for q, a, pt, ap, st, fl, rk, an, sel, cur in lake.rows(f"""
        WITH s AS (SELECT s.*, p.question, p.reference_answer, {curated} AS in_curated,
                          row_number() OVER (PARTITION BY len(s.leakage_flags) > 0
                                             ORDER BY {curated} DESC, s.selected DESC, s.rank NULLS LAST,
                                                      s.strategy_id) AS i
                   FROM strategies s JOIN problems p USING (problem_id) WHERE s.superseded_by IS NULL)
        SELECT question, reference_answer, problem_type, approach, steps, leakage_flags, rank, annotator, selected,
               in_curated
        FROM s WHERE (len(leakage_flags) = 0 AND i <= ?) OR (len(leakage_flags) > 0 AND i <= 1)
        ORDER BY len(leakage_flags) > 0, i""", [STRATEGY_EXAMPLES - 1])]
    return {"total": int(total), "leak_free": int(leak_free), "selected": int(selected), "flags": flags,
            "by_annotator": by_annotator, "examples": examples}


def _demo_claim(root: Path) -> str | None:
    """The one-sentence claim `stratagem demo` records in its root's demo.json, if any."""
    try:
        claim = json.loads((root / "demo.json").read_text()).get("what_it_shows")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return claim if isinstance(claim, str) and claim.strip() else None


def gather_lake(lake, data: ReportData) -> None:
    data.root = str(lake.root)
    data.snapshot_id = lake.snapshot_id()
    data.tables = _lake_tables(lake)
    data.demo_claim = _demo_claim(Path(lake.root))
    if data.tables.get("verdicts"):
        data.verdicts = verdict_breakdown(lake)
    if "runs" in data.tables:
        data.runs = _runs(lake)
        data.stages = stage_totals(data.runs)
        data.tagger = _tagger(lake)
    if "quarantine" in data.tables:
        data.quarantine = [{"stage": s, "reason": r, "n": int(n), "example": loc} for s, r, n, loc in lake.rows(
            "SELECT stage, reason, count(*), min(locator) FROM quarantine GROUP BY stage, reason "
            "ORDER BY 3 DESC, 1, 2 LIMIT 50")]
    if data.tables.get("spans"):
        refs = annotators(lake)  # each annotator at its latest version, gold last
        data.labels, data.spans_per_trajectory = _label_counts(lake, refs)
        data.agreement = _agreement(lake, refs, data.taxonomy)
        data.examples = _examples(lake, refs)
    data.lead = gather_lead(lake, data.taxonomy)
    if data.tables.get("strategies"):
        data.strategies = _strategies(lake, bool(data.tables.get("curated")))


def gather_export(export_dir: Path) -> dict:
    manifest_path = export_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read export manifest {manifest_path}: {exc}") from exc
    return {"path": str(export_dir), "name": manifest.get("export_name", export_dir.name),
            "created_at": manifest.get("created_at"), "snapshot_id": manifest.get("snapshot_id"),
            "schema_version": manifest.get("schema_version"), "counts": manifest.get("counts", {}),
            "files": len(manifest.get("files", {})), "taxonomy": manifest.get("taxonomy", {}).get("name")}


def gather_run(run_dir: Path) -> dict:
    metrics_path = run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        raise ReportError(f"{run_dir} is not a trainer run folder (no metrics.jsonl)")
    try:
        metrics = read_metrics(metrics_path)
        config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else {}
        signal = json.loads((run_dir / "signal.json").read_text()) if (run_dir / "signal.json").is_file() else None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read trainer run {run_dir}: {exc}") from exc
    if signal is not None and not isinstance(signal, dict):
        raise ReportError(f"cannot read trainer run {run_dir}: signal.json is not a JSON object")
    return {"name": run_dir.name, "path": str(run_dir), "algo": config.get("algo", run_dir.name),
            "model": config.get("model"), "max_steps": config.get("max_steps"), "metrics": metrics,
            "signal": learning_signal(signal) if signal is not None else None}


# signal.json (written by `stratagem train` at the end of a run) -> the report's rows, in this order;
# keys that do not apply to an algorithm are absent or null and are not shown.
SIGNAL_ROWS = {
    "steps": "optimiser steps",
    "nonzero_grad_share": "share of steps with nonzero grad norm",
    "reward_variance_group_share": "share of groups with reward variance",
    "alpha_positive_share": "share of problems with alpha > 0",
    "targets_per_step": "distillation targets per step (mean)",
    "kl_per_target": "KL per target (mean)",
    "clipped_token_share": "clipped-token share",
    "truncated_completion_share": "completions cut before EOS / answer",
    "left_cut_prompt_share": "prompts cut from the left",
    "guided_prompts_without_strategy": "guided prompts without their strategy",
}


def learning_signal(signal: dict) -> dict:
    """signal.json as {"rows": [(label, value)], "warning": str | None}: the known figures in
    SIGNAL_ROWS order, then any other numeric figure under its own key."""
    rows = [(label, signal[key]) for key, label in SIGNAL_ROWS.items() if signal.get(key) is not None]
    rows += [(key, value) for key, value in signal.items() if key not in SIGNAL_ROWS and key not in ("algo", "warning")
             and isinstance(value, (int, float)) and not isinstance(value, bool)]
    warning = signal.get("warning")
    return {"rows": rows, "warning": str(warning) if warning else None}


def gather_eval(eval_json: Path) -> dict:
    try:
        report = json.loads(eval_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"cannot read eval report {eval_json}: {exc}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ReportError(f"{eval_json} is not a `stratagem eval --json` report (no results list)")
    return report


def gather(lake, *, export_dir: Path | None, run_dirs: list[Path], eval_json: Path | None,
           taxonomy: Taxonomy | None = None) -> ReportData:
    data = ReportData(taxonomy=taxonomy or load_taxonomy())
    if lake is not None:
        gather_lake(lake, data)
    if export_dir is not None:
        data.export = gather_export(export_dir)
    data.training = [gather_run(d) for d in run_dirs]
    if eval_json is not None:
        data.evaluation = gather_eval(eval_json)
    return data
