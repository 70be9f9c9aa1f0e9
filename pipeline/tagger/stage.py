"""The learned tagger's stage: train it on the lake's corrected spans, find and load saved models,
and rank trajectories by its uncertainty (for `review push --select uncertain`).

    report, model = train(lake)                        # human + gold spans; silver=True adds LLM spans
    folder = model_folder(lake.root, model.version)    # <root>/models/tagger/<version>/
    version = latest_version(lake)                     # the newest `tagger-train` run whose model exists
    tagger = load_tagger(lake.root, version, taxonomy) # the "learned" Tagger
    uncertain_ids(lake, limit=100)                     # most uncertain first

Training data, per trajectory (its current spans, on the trajectory's current text): the human
spans if any (all current spans of the person whose latest review run is newest), else the gold
spans, else, with `silver`, the spans of the LLM annotator version of the latest run (weighted
`silver_weight`). A trajectory with none of these is not used. A person's trace split into
Label Studio parts trains only on the parts they submitted (pipeline/agreement/reviewed.py):
the rest of its text is blanked, so it is not taken as "no strategy there". The model itself
(annotators/learned.py) is saved under <root>/models/tagger/<version>/ (version = content
hash, so training twice on the same data gives the same folder), and the run is recorded as a
`tagger-train` row in `runs`: config = model version, folder, label set, taxonomy, settings;
counts = trajectories per source and segments per label; `snapshot_id` = the DuckLake snapshot
the data was read at. There is no models table: the runs ledger is where the lake keeps it.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from annotators.learned import LearnedModel, LearnedModelError, LearnedTagger, fit, rank_uncertain
from pipeline.agreement.reviewed import blank_outside, reviewed_ranges
from schemas.taxonomy import Taxonomy, load_taxonomy
from warehouse import Lake, RunReport

STAGE = "tagger-train"
MODELS = Path("models") / "tagger"

_SPANS = """
    WITH s AS (
        SELECT s.trajectory_id, s.start, s."end", s.label, s.annotator_kind, s.annotator, s.annotator_version,
               s.run_id
        FROM current_spans s JOIN trajectories t ON t.trajectory_id = s.trajectory_id AND t.text_sha = s.text_sha
        WHERE s.annotator_kind IN (SELECT unnest(CAST(? AS VARCHAR[])))),
    pick AS (  -- per trajectory: the source it trains on (human > gold > llm) and, within it, who
        SELECT trajectory_id,
               arg_min(annotator_kind, CASE annotator_kind WHEN 'human' THEN 0 WHEN 'gold' THEN 1 ELSE 2 END)
                   AS kind
        FROM s GROUP BY 1),
    who AS (
        SELECT s.trajectory_id, s.annotator_kind AS kind,
               arg_max(s.annotator, s.run_id) AS annotator,
               arg_max(s.annotator_version, s.run_id) AS version
        FROM s JOIN pick p ON p.trajectory_id = s.trajectory_id AND p.kind = s.annotator_kind GROUP BY 1, 2)
    SELECT s.trajectory_id, t.text, w.kind, s.start, s."end", s.label, s.annotator_version
    FROM s JOIN who w ON w.trajectory_id = s.trajectory_id AND w.kind = s.annotator_kind AND w.annotator = s.annotator
         AND (w.kind = 'human' OR s.annotator_version = w.version)
    JOIN trajectories t ON t.trajectory_id = s.trajectory_id
    ORDER BY s.trajectory_id, s.start, s."end", s.label
"""


class TaggerError(ValueError):
    """No training data, no model, an unreadable model: one line for the user."""


@dataclass
class TrainingSet:
    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    spans: list[list[tuple[int, int, str]]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def training_set(lake: Lake, *, silver: bool = False, labels: tuple[str, ...] | None = None) -> TrainingSet:
    """The trajectories and reference spans `train` fits on (see the module docstring)."""
    kinds = ["human", "gold"] + (["llm"] if silver else [])
    out = TrainingSet()
    tags: dict[str, set[str]] = {}  # a person's annotation tags, naming the parts they reviewed
    for tid, text, kind, start, end, label, version in lake.rows(_SPANS, [kinds]):
        if not out.ids or out.ids[-1] != tid:
            out.ids.append(tid)
            out.texts.append(text)
            out.spans.append([])
            out.kinds.append(kind)
        if kind == "human":
            tags.setdefault(tid, set()).add(version)
        if labels is None or label in labels:
            out.spans[-1].append((start, end, label))
    # text of a split trace outside the parts the person submitted is not evidence of "no strategy"
    partial = reviewed_ranges(lake, tags) if tags else {}
    out.texts = [blank_outside(text, partial[tid]) if tid in partial else text
                 for tid, text in zip(out.ids, out.texts)]
    return out


def model_folder(root: str | Path, version: str) -> Path:
    return Path(root) / MODELS / version


def train(lake: Lake, *, taxonomy: Taxonomy | None = None, silver: bool = False, silver_weight: float = 0.5,
          C: float = 1.0, min_count: int = 2, context: float = 0.5, threshold: float = 0.5,
          limit: int | None = None) -> tuple[RunReport, LearnedModel]:
    """Fit the learned tagger on the lake's human and gold spans (+ LLM spans with `silver`),
    save it under <root>/models/tagger/<version>/ and record a `tagger-train` run.
    limit: at most this many trajectories (in trajectory id order), for learning curves."""
    taxonomy = taxonomy or load_taxonomy()
    data = training_set(lake, silver=silver, labels=taxonomy.names)
    if limit is not None:
        data = TrainingSet(data.ids[:limit], data.texts[:limit], data.spans[:limit], data.kinds[:limit])
    if not data.ids:
        where = "human, gold or LLM" if silver else "human or gold"
        raise TaggerError(f"no {where} spans in the lake to train on (pull reviews with `stratagem review pull`, "
                          "ingest gold spans, e.g. `stratagem sample` + `stratagem ingest`, or add --silver)")
    weights = [silver_weight if k == "llm" else 1.0 for k in data.kinds]
    settings = {"C": C, "min_count": min_count, "context": context, "threshold": threshold}
    with lake.run(STAGE, {}) as run:
        model = fit(data.texts, data.spans, taxonomy.names, weights=weights, **settings,
                    meta={"snapshot_id": run.snapshot_id, "run_id": run.run_id,
                          "taxonomy": f"{taxonomy.name}@{taxonomy.version}", "taxonomy_sha256": taxonomy.sha256})
        version = model.version
        folder = model_folder(lake.root, version)
        _save(model, folder)
        run.config.update({
            "model_version": version, "model_path": str(MODELS / version), "labels": list(model.labels),
            "taxonomy": f"{taxonomy.name}@{taxonomy.version}", "taxonomy_sha256": taxonomy.sha256,
            "silver": silver, "silver_weight": silver_weight if silver else None, "limit": limit, **settings})
        for kind in ("human", "gold", "llm"):
            run.count(f"trajectories.{kind}", data.kinds.count(kind))
        run.count("trajectories", len(data.ids))
        run.count("spans", sum(len(s) for s in data.spans))
        for name, n in model.meta["counts"].items():
            if name.startswith("segments") or name == "features":
                run.count(name, n)
    return run.report, model


def _save(model: LearnedModel, folder: Path) -> None:
    """Write the model into `folder` atomically (a temp folder renamed into place); a folder that
    already holds this version (same content hash) is kept."""
    if folder.is_dir():
        try:
            LearnedModel.load(folder)
            return
        except LearnedModelError:
            shutil.rmtree(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save(tmp)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def versions(lake: Lake) -> list[tuple[str, str, dict]]:
    """(version, run_id, counts) of every ok `tagger-train` run, newest first."""
    import json

    rows = lake.rows("SELECT config, run_id, counts FROM runs WHERE stage = ? AND status = 'ok' ORDER BY run_id DESC",
                     [STAGE])
    out = []
    for config, run_id, counts in rows:
        config = json.loads(config) if isinstance(config, str) else (config or {})
        counts = json.loads(counts) if isinstance(counts, str) else (counts or {})
        if config.get("model_version"):
            out.append((config["model_version"], run_id, counts))
    return out


def latest_version(lake: Lake) -> str:
    """The version of the newest `tagger-train` run whose model folder exists; TaggerError if none."""
    for version, _, _ in versions(lake):
        if (model_folder(lake.root, version) / "model.json").is_file():
            return version
    raise TaggerError(f"no learned tagger model in {lake.root / MODELS} (train one with `stratagem tagger train`)")


def load_tagger(root: str | Path, version: str, taxonomy: Taxonomy | None = None) -> LearnedTagger:
    folder = model_folder(root, version)
    if not folder.is_dir():
        have = sorted(p.name for p in (Path(root) / MODELS).glob("*") if p.is_dir() and not p.name.startswith("."))
        raise TaggerError(f"no learned tagger model {version!r} in {Path(root) / MODELS} "
                          f"(models: {', '.join(have) or 'none'})")
    try:
        tagger = LearnedTagger.from_folder(folder, taxonomy)
    except LearnedModelError as exc:
        raise TaggerError(str(exc)) from None
    if tagger.version != version:
        raise TaggerError(f"model folder {folder} holds version {tagger.version}, not {version}")
    return tagger


def uncertain_ids(lake: Lake, limit: int, *, version: str | None = None, batch: int = 5000) -> list[tuple[str, float]]:
    """(trajectory_id, uncertainty) of the trajectories no person and no gold has annotated yet,
    most uncertain first under the learned tagger (`version`, default the latest); TaggerError
    when there is no model."""
    tagger = load_tagger(lake.root, version or latest_version(lake))
    ids = [r[0] for r in lake.rows(
        "SELECT trajectory_id FROM trajectories WHERE trajectory_id NOT IN "
        "(SELECT trajectory_id FROM current_spans WHERE annotator_kind IN ('human', 'gold')) ORDER BY 1")]
    best: list[tuple[str, float]] = []
    for lo in range(0, len(ids), batch):
        chunk = ids[lo: lo + batch]
        items = lake.rows("SELECT trajectory_id, text FROM trajectories "
                          "WHERE trajectory_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY 1", [chunk])
        best = sorted(best + rank_uncertain(tagger.model, items, limit), key=lambda r: (-r[1], r[0]))[:limit]
    return best
