"""The learned tagger's stage: train it on the lake's corrected spans, find and load saved models,
and rank trajectories by its uncertainty (for `review push --select uncertain`).

    report, model = train(lake)                        # human + gold spans; silver=True adds LLM spans
    report, model = train(lake, curve=False)           # without the held-out learning curve
    run_config(lake, report.run_id)["learning_curve"]  # [{"n", "kappa", "f1"}, ...]
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

Learning curve (`learning_curve`, run by `train` unless curve=False / `--no-curve`): each
training trajectory's family key is coalesce(family_seed_id, problem_id) of its problem, so a
seed problem and all its perturbed variants share one; families whose MD5 (first 32 bits) mod 5
is 0 are held out (about 20%; `held_out`), and of their trajectories those whose spans are human
or gold are scored (silver ones are dropped from both sides). The other trajectories, in a
stable shuffled order (MD5 of the trajectory id), are fitted for the first n = 5, 10, 20, 50,
100, 200, 500 (the sizes up to 80% of what is there) and all of them, with the same settings
and weights as the final model; each fit, and the rules tagger (`get_tagger("rules")`, the
reference line), is scored on the held-out part with annotators.agreement.compare: token-level
Cohen's kappa (overall) and span F1 with overlap matching. The run's config records
"learning_curve" [{n, kappa, f1}], "rules_on_holdout" {kappa, f1, n_holdout} and "holdout"
(the rule, trajectories and families on each side); with fewer than 10 trajectories, no held-out
family with human or gold spans, or nothing left to train on, it records
"learning_curve_skipped" (the reason) instead. The saved model is then fitted on every
trajectory, as without the curve. `stratagem report` shows the newest run's curve.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from annotators import TagItem, get_tagger
from annotators.agreement import compare
from annotators.learned import LearnedModel, LearnedModelError, LearnedTagger, fit, rank_uncertain
from pipeline.agreement.reviewed import blank_outside, reviewed_ranges
from pipeline.shards import shard_of, stable_hash
from schemas.taxonomy import Taxonomy, load_taxonomy
from warehouse import Lake, RunReport

STAGE = "tagger-train"
MODELS = Path("models") / "tagger"
CURVE_SIZES = (5, 10, 20, 50, 100, 200, 500)  # curve points: those up to 80% of the count, then all
HOLDOUT_BUCKETS = 5    # a family is held out when md5(family key) % 5 == 0: about 20%
MIN_CURVE = 10         # fewer trajectories than this: no curve
SCORED_KINDS = ("human", "gold")  # held-out trajectories scored against their spans (silver ones are left out)

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
    SELECT s.trajectory_id, t.text, w.kind, s.start, s."end", s.label, s.annotator_version,
           coalesce(p.family_seed_id, p.problem_id, t.problem_id, t.trajectory_id) AS family
    FROM s JOIN who w ON w.trajectory_id = s.trajectory_id AND w.kind = s.annotator_kind AND w.annotator = s.annotator
         AND (w.kind = 'human' OR s.annotator_version = w.version)
    JOIN trajectories t ON t.trajectory_id = s.trajectory_id
    LEFT JOIN problems p ON p.problem_id = t.problem_id
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
    families: list[str] = field(default_factory=list)  # coalesce(family_seed_id, problem_id): a seed and its variants

    def take(self, index: Sequence[int]) -> "TrainingSet":
        return TrainingSet(*([getattr(self, f)[i] for i in index]
                             for f in ("ids", "texts", "spans", "kinds", "families")))


def training_set(lake: Lake, *, silver: bool = False, labels: tuple[str, ...] | None = None) -> TrainingSet:
    """The trajectories and reference spans `train` fits on (see the module docstring)."""
    kinds = ["human", "gold"] + (["llm"] if silver else [])
    out = TrainingSet()
    tags: dict[str, set[str]] = {}  # a person's annotation tags, naming the parts they reviewed
    for tid, text, kind, start, end, label, version, family in lake.rows(_SPANS, [kinds]):
        if not out.ids or out.ids[-1] != tid:
            out.ids.append(tid)
            out.texts.append(text)
            out.spans.append([])
            out.kinds.append(kind)
            out.families.append(family)
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


def held_out(family: str) -> bool:
    """True for a family key in the held-out part: shard 0 of HOLDOUT_BUCKETS (pipeline.shards)."""
    return shard_of(family, HOLDOUT_BUCKETS) == 0


def holdout_split(data: TrainingSet) -> tuple[list[int], list[int]]:
    """(train, held-out) indexes of `data`, split by family key, so a seed problem and its perturbed
    variants are on one side. The training side is in a stable shuffled order (by the MD5 of the
    trajectory id), so its first n are a spread of families, and each curve point's set contains
    the smaller ones; the held-out side keeps only trajectories scored against human or gold spans."""
    train = [i for i, f in enumerate(data.families) if not held_out(f)]
    test = [i for i, f in enumerate(data.families) if held_out(f) and data.kinds[i] in SCORED_KINDS]
    train.sort(key=lambda i: (stable_hash(data.ids[i]), data.ids[i]))
    return train, test


def curve_sizes(available: int) -> list[int]:
    """CURVE_SIZES below `available`, then `available` itself; a size within 20% of all is left out
    (a near-copy of the last point: 500 of 503 would cost a fit and say nothing new)."""
    return [n for n in CURVE_SIZES if n < available and n <= 0.8 * available] + [available]


def _score(test: TrainingSet, pred: list[list[tuple[int, int, str]]], labels: Sequence[str]) -> dict:
    rep = compare(dict(zip(test.ids, test.texts)), dict(zip(test.ids, pred)), dict(zip(test.ids, test.spans)),
                  labels=list(labels))
    r = lambda x: None if x is None else round(x, 4)  # noqa: E731
    return {"kappa": r(rep.overall_kappa), "f1": r(rep.overlap.f1)}


def _tag(tagger, test: TrainingSet) -> list[list[tuple[int, int, str]]]:
    results = tagger.tag([TagItem(i, t) for i, t in zip(test.ids, test.texts)])
    return [[(sp.start, sp.end, sp.label) for sp in r.spans] for r in results]


def learning_curve(data: TrainingSet, taxonomy: Taxonomy, *, weights: Sequence[float] | None = None,
                   **settings) -> dict:
    """The learned tagger's learning curve on held-out families (see the module docstring), as the
    run's config keys: "learning_curve" [{n, kappa, f1}], "rules_on_holdout" {kappa, f1,
    n_holdout}, "holdout" (how it was split); or {"learning_curve_skipped": why}."""
    labels = taxonomy.names
    if len(data.ids) < MIN_CURVE:
        return {"learning_curve_skipped": f"{len(data.ids)} training trajectories, fewer than {MIN_CURVE}"}
    train_idx, test_idx = holdout_split(data)
    if not test_idx:
        return {"learning_curve_skipped": "no held-out family with human or gold spans "
                                          f"(md5(family) % {HOLDOUT_BUCKETS} == 0)"}
    if not train_idx:
        return {"learning_curve_skipped": "every family is held out: nothing left to train the curve on"}
    test, train = data.take(test_idx), data.take(train_idx)
    w = None if weights is None else [weights[i] for i in train_idx]
    curve = []
    for n in curve_sizes(len(train_idx)):
        model = fit(train.texts[:n], train.spans[:n], labels, weights=None if w is None else w[:n], **settings)
        curve.append({"n": n, **_score(test, _tag(LearnedTagger(model), test), labels)})
    rules = _score(test, _tag(get_tagger("rules", taxonomy=taxonomy), test), labels)
    return {"learning_curve": curve, "rules_on_holdout": rules | {"n_holdout": len(test_idx)},
            "holdout": {"rule": f"md5(coalesce(family_seed_id, problem_id)) % {HOLDOUT_BUCKETS} == 0",
                        "trajectories": len(test_idx), "families": len({data.families[i] for i in test_idx}),
                        "train_trajectories": len(train_idx),
                        "train_families": len({data.families[i] for i in train_idx})}}


def train(lake: Lake, *, taxonomy: Taxonomy | None = None, silver: bool = False, silver_weight: float = 0.5,
          C: float = 1.0, min_count: int = 2, context: float = 0.5, threshold: float = 0.5,
          class_weight: str | None = "balanced", limit: int | None = None, curve: bool = True
          ) -> tuple[RunReport, LearnedModel]:
    """Fit the learned tagger on the lake's human and gold spans (+ LLM spans with `silver`),
    save it under <root>/models/tagger/<version>/ and record a `tagger-train` run; with `curve`,
    first measure the learning curve on held-out families (`learning_curve`) into the run's config.
    limit: at most this many trajectories (in trajectory id order)."""
    taxonomy = taxonomy or load_taxonomy()
    data = training_set(lake, silver=silver, labels=taxonomy.names)
    if limit is not None:
        data = data.take(range(min(limit, len(data.ids))))
    if not data.ids:
        where = "human, gold or LLM" if silver else "human or gold"
        raise TaggerError(f"no {where} spans in the lake to train on (pull reviews with `stratagem review pull`, "
                          "ingest gold spans, e.g. `stratagem sample` + `stratagem ingest`, or add --silver)")
    weights = [silver_weight if k == "llm" else 1.0 for k in data.kinds]
    settings = {"C": C, "min_count": min_count, "context": context, "threshold": threshold,
                "class_weight": class_weight}
    with lake.run(STAGE, {}) as run:
        measured = (learning_curve(data, taxonomy, weights=weights, **settings) if curve
                    else {"learning_curve_skipped": "skipped with --no-curve"})
        model = fit(data.texts, data.spans, taxonomy.names, weights=weights, **settings,
                    meta={"snapshot_id": run.snapshot_id, "run_id": run.run_id,
                          "taxonomy": f"{taxonomy.name}@{taxonomy.version}", "taxonomy_sha256": taxonomy.sha256})
        version = model.version
        folder = model_folder(lake.root, version)
        _save(model, folder)
        run.config.update({
            "model_version": version, "model_path": str(MODELS / version), "labels": list(model.labels),
            "taxonomy": f"{taxonomy.name}@{taxonomy.version}", "taxonomy_sha256": taxonomy.sha256,
            "silver": silver, "silver_weight": silver_weight if silver else None, "limit": limit, **settings,
            **measured})
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


def run_config(lake: Lake, run_id: str) -> dict:
    """The config a `tagger-train` run recorded (model version, settings, learning curve); {} if none."""
    import json

    rows = lake.rows("SELECT config FROM runs WHERE run_id = ? AND stage = ?", [run_id, STAGE])
    config = rows[0][0] if rows else None
    return json.loads(config) if isinstance(config, str) else (config or {})


def versions(lake: Lake) -> list[tuple[str, str, dict]]:
    """(version, run_id, counts) of every ok `tagger-train` run, newest first."""
    import json

    rows = lake.rows("SELECT config, run_id, counts FROM runs WHERE stage = ? AND status = 'ok' "
                     "ORDER BY started_at DESC, run_id DESC", [STAGE])  # run ids sort only to the second
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
