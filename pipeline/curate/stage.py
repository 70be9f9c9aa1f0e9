"""The curate stage: resolve everything annotated so far into a curated set, recorded with its run
(the command: pipeline/curate/command.py; the pure rules: logic.py; the policy: policy.py).

    from pipeline.curate import curate
    report = curate(lake, load_policy())      # RunReport; rows land in table `curated` under report.run_id

Per trajectory: filters (correct answer, excluded sources, length in characters and in
tokens), consensus spans (policy [spans]), at least N strategy spans. The verdict is the
newest checker version's (pipeline/report/verdicts.py); under correct_only an `unknown` one is
dropped.unknown unless [filters] unknown = "include" (then counted in unknown_accepted), and
`no_reference` or no verdict is dropped.not_verified; verdicts.<outcome> counts the verdicts
of the trajectories read. Per problem: the selected strategy description and one trajectory. Near-duplicate problems are collapsed and
their families merged; each family (seed + perturbed variants) gets one split from a stable
hash, perturbed variants of test seeds go to `test_<perturbation>`.
Problems with no trajectory at all (a verl Parquet, AIME/AMC answer sets) become RL-only rows
(policy [problems_only]): no trajectory, an empty plan, the best usable strategy if any; they
need a reference answer, and only exclude_sources of the [filters] applies to them.
Counts satisfy read = accepted + duplicates + sum(dropped.*), where read counts trajectories
plus problems without one (`rl_only` counts the accepted RL-only rows; `quarantined` counts
the quarantine rows, which are trajectories without a problem and unusable spans: offsets for
another text, labels outside the taxonomy).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from pipeline.curate.logic import (SpanIn, UnionFind, consensus_annotator, consensus_precedence, consensus_vote,
                                   near_duplicate_pairs, perturbation_split, split_of, strategy_sort_key)
from pipeline.curate.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy
from pipeline.report.verdicts import current_verdicts_sql
from schemas import CuratedRow, PlanSpan, load_taxonomy, to_arrow
from warehouse import Lake, RunReport

if TYPE_CHECKING:
    from rich.progress import Progress


class CurateError(ValueError):
    """The policy does not fit the lake (e.g. it names an annotator the lake has never seen)."""


def _check_annotator(lake: Lake, policy: Policy, snapshot: int) -> None:
    if policy.spans.method != "annotator":
        return
    names = [r[0] for r in lake.rows("SELECT DISTINCT annotator FROM spans AT (VERSION => ?) ORDER BY 1", [snapshot])]
    if policy.spans.annotator not in names:
        raise CurateError(f"policy names unknown annotator {policy.spans.annotator!r}; annotators with spans in the "
                          f"lake: {', '.join(names) or 'none'}")


def _candidates(lake: Lake, snapshot: int, with_text: bool) -> list[dict]:
    text = "t.text" if with_text else "NULL AS text"
    return lake.query(f"""
        SELECT t.trajectory_id, t.problem_id, t.text_sha, t.n_chars, t.truncated, {text}, p.problem_id IS NOT NULL AS has_problem,
               p.source, p.question, p.perturbation, coalesce(p.family_seed_id, p.problem_id) AS family_seed_id,
               v.outcome
        FROM trajectories t AT (VERSION => $s)
        LEFT JOIN problems p AT (VERSION => $s) USING (problem_id)
        LEFT JOIN ({current_verdicts_sql(lake, at="$s")}) v USING (trajectory_id)
        ORDER BY t.trajectory_id""", {"s": snapshot}).to_pylist()


def _spans(lake: Lake, snapshot: int) -> dict[str, list[tuple[str, str, SpanIn]]]:
    by_traj: dict[str, list[tuple[str, str, SpanIn]]] = defaultdict(list)
    for r in lake.query("""
            SELECT span_id, trajectory_id, text_sha, start, "end", label, annotator_kind, annotator, confidence, run_id
            FROM spans AT (VERSION => ?) WHERE superseded_by IS NULL""", [snapshot]).to_pylist():
        by_traj[r["trajectory_id"]].append((r["span_id"], r["text_sha"], SpanIn(
            r["start"], r["end"], r["label"], r["annotator_kind"], r["annotator"], r["confidence"], r["run_id"])))
    return by_traj


def _strategies(lake: Lake, snapshot: int) -> dict[str, list[dict]]:
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for r in lake.query("""
            SELECT strategy_id, problem_id, source_trajectory_id, leakage_flags, score, rank, selected, edited,
                   annotator_kind FROM strategies AT (VERSION => ?) WHERE superseded_by IS NULL""",
                        [snapshot]).to_pylist():
        by_problem[r["problem_id"]].append(r)
    return by_problem


def _plan(policy: Policy, spans: list[SpanIn]):
    sp = policy.spans
    if sp.method == "precedence":
        return consensus_precedence(spans, sp.precedence)
    if sp.method == "vote":
        return consensus_vote(spans, sp.precedence, sp.min_confidence)
    return consensus_annotator(spans, sp.annotator)


def _filter_reason(r: dict, f) -> str | None:
    """Why a trajectory is left out by the policy's [filters], or None."""
    if r["source"] in f.exclude_sources:
        return "excluded_source"
    if f.exclude_truncated and r["truncated"]:
        return "truncated"
    if f.correct_only:
        if r["outcome"] in (None, "no_reference"):
            return "not_verified"
        if r["outcome"] == "unknown" and f.unknown == "exclude":
            return "unknown"
        if r["outcome"] not in ("correct", "unknown"):
            return "incorrect"
    if r["n_chars"] < f.min_chars or (f.max_chars is not None and r["n_chars"] > f.max_chars):
        return "length_chars"
    if f.tokenizer and ((f.min_tokens is not None and r["n_tokens"] < f.min_tokens)
                        or (f.max_tokens is not None and r["n_tokens"] > f.max_tokens)):
        return "length_tokens"
    return None


def _usable_spans(run, r: dict, spans: list[tuple[str, str, SpanIn]], taxonomy) -> list[SpanIn]:
    """The trajectory's spans that fit its text and the taxonomy; the others are quarantined."""
    usable = []
    for span_id, sha, s in spans:
        if sha != r["text_sha"] or s.end > r["n_chars"]:
            run.count("spans.stale")
            run.quarantine("spans", f"span:{span_id}", "span offsets refer to another text "
                           f"(text_sha or length differs from trajectory {r['trajectory_id']})")
        elif s.label not in taxonomy.names:
            run.count("spans.unknown_label")
            run.quarantine("spans", f"span:{span_id}", f"label {s.label!r} is not in taxonomy "
                           f"{taxonomy.name} {taxonomy.version}")
        else:
            usable.append(s)
    return usable


def _problems_without_trajectory(lake: Lake, snapshot: int) -> list[dict]:
    return lake.query("""
        SELECT p.problem_id, p.source, p.question, p.reference_answer, p.perturbation,
               coalesce(p.family_seed_id, p.problem_id) AS family_seed_id
        FROM problems p AT (VERSION => $s)
        WHERE NOT EXISTS (SELECT 1 FROM trajectories t AT (VERSION => $s) WHERE t.problem_id = p.problem_id)
        ORDER BY p.problem_id""", {"s": snapshot}).to_pylist()


def _best_strategy(policy: Policy, candidates: list[dict]) -> dict | None:
    order = policy.strategy.order
    cands = [s for s in candidates if not (policy.strategy.leak_free and s["leakage_flags"])
             and (s["annotator_kind"] in order or s["selected"] or s["edited"])]
    return min(cands, key=lambda s: strategy_sort_key(s, order)) if cands else None


def _add_problems_only(policy: Policy, rows: list[dict], strategies: dict[str, list[dict]], chosen: dict[str, dict],
                       drop: Counter) -> None:
    """RL-only rows for problems without a trajectory (policy [problems_only]), into `chosen`."""
    for r in rows:
        if r["source"] in policy.filters.exclude_sources:
            drop["excluded_source"] += 1
        elif not (r["reference_answer"] or "").strip():
            drop["no_reference_answer"] += 1
        else:
            best = _best_strategy(policy, strategies.get(r["problem_id"], []))
            chosen[r["problem_id"]] = r | {"trajectory_id": None, "strategy_id": best["strategy_id"] if best else None,
                                           "plan": [], "span_source": "none"}


def _choose_per_problem(policy: Policy, kept: list[dict], strategies: dict[str, list[dict]],
                        drop: Counter) -> dict[str, dict]:
    """One strategy and one trajectory per problem (policy [strategy] and [selection])."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for r in kept:
        by_problem[r["problem_id"]].append(r)
    sign = -1 if policy.selection.trajectory == "longest" else 1
    chosen: dict[str, dict] = {}
    for pid, trajs in by_problem.items():
        best = _best_strategy(policy, strategies.get(pid, []))
        if best is None and policy.strategy.required:
            drop["no_strategy" if not strategies.get(pid) else "no_usable_strategy"] += len(trajs)
            continue
        source = best["source_trajectory_id"] if best and policy.selection.prefer_strategy_source else None
        pick = min(trajs, key=lambda r: (r["trajectory_id"] != source, sign * r["n_chars"], r["trajectory_id"]))
        if len(trajs) > 1:
            drop["not_selected"] += len(trajs) - 1
        chosen[pid] = pick | {"strategy_id": best["strategy_id"] if best else None}
    return chosen


def _collapse_duplicates(policy: Policy, chosen: dict[str, dict]) -> tuple[UnionFind, int]:
    """Drop near-duplicate problems in place (of each pair the variant, else the larger id) and
    merge the families of every near-duplicate pair, so that they share a split."""
    groups = UnionFind()
    if not policy.dedup.enabled:
        return groups, 0
    pairs = near_duplicate_pairs({p: r["question"] for p, r in chosen.items()},
                                 policy.dedup.similarity, policy.dedup.shingle_words)
    dropped: set[str] = set()
    for a, b in pairs:
        ra, rb = chosen[a], chosen[b]
        if ra["family_seed_id"] == rb["family_seed_id"] and ra["perturbation"] != rb["perturbation"]:
            continue  # variants of one seed are similar by design
        groups.union(ra["family_seed_id"], rb["family_seed_id"])
        if a not in dropped and b not in dropped:
            dropped.add(max(a, b, key=lambda p: (chosen[p]["perturbation"] != "original", p)))
    for p in dropped:
        del chosen[p]
    return groups, len(dropped)


def curate(lake: Lake, policy: Policy, *, progress: Progress | None = None) -> RunReport:
    """Apply `policy` to the lake as it stands; write the curated set in one run."""
    taxonomy = load_taxonomy(policy.taxonomy)
    f = policy.filters
    with lake.run("curate", policy.as_config() | {"taxonomy_sha256": taxonomy.sha256}) as run:
        snap = run.snapshot_id
        _check_annotator(lake, policy, snap)
        rows = _candidates(lake, snap, with_text=bool(f.tokenizer))
        run.count("read", len(rows))
        if f.tokenizer:
            from pipeline.export.tokens import load_token_counter

            for r, n in zip(rows, load_token_counter(f.tokenizer)([r["text"] or "" for r in rows])):
                r["n_tokens"] = n
        spans = _spans(lake, snap)
        drop: Counter = Counter()
        kept: list[dict] = []
        task = progress.add_task("curate", total=len(rows)) if progress else None
        for i, r in enumerate(rows):
            if task is not None and i % 1000 == 999:
                progress.advance(task, 1000)
            if not r["has_problem"]:
                drop["no_problem"] += 1
                run.quarantine("trajectories", f"trajectory:{r['trajectory_id']}",
                               f"problem {r['problem_id']} is not in the lake")
                continue
            run.count(f"verdicts.{r['outcome'] or 'none'}")
            reason = _filter_reason(r, f)
            if reason is None:
                r["plan"], r["span_source"] = _plan(policy, _usable_spans(run, r, spans.get(r["trajectory_id"], []),
                                                                          taxonomy))
                if len(r["plan"]) < f.min_strategy_spans:
                    reason = "too_few_spans"
            if reason:
                drop[reason] += 1
            else:
                kept.append(r)

        if task is not None:
            progress.update(task, completed=len(rows))
        strategies = _strategies(lake, snap)
        chosen = _choose_per_problem(policy, kept, strategies, drop)
        if policy.problems_only.include:
            problems_only = _problems_without_trajectory(lake, snap)
            run.count("read", len(problems_only))
            _add_problems_only(policy, problems_only, strategies, chosen, drop)
        groups, duplicates = _collapse_duplicates(policy, chosen)
        run.count("duplicates", duplicates)

        sp = policy.splits
        out: list[CuratedRow] = []
        for pid in sorted(chosen):
            r = chosen[pid]
            group = groups.find(r["family_seed_id"])
            split = split_of(group, sp.salt, sp.train, sp.val)
            if r["perturbation"] != "original":
                if split == "test":
                    split = perturbation_split(r["perturbation"])
                elif not sp.variants_in_train:
                    drop["variant_outside_test"] += 1
                    continue
            elif split == "test":
                split = "test_original"
            out.append(CuratedRow(run_id=run.run_id, problem_id=pid, family_seed_id=r["family_seed_id"],
                                  split_group=group, trajectory_id=r["trajectory_id"], strategy_id=r["strategy_id"],
                                  split=split, span_source=r["span_source"],
                                  plan=[PlanSpan(label=lab, start=s, end=e) for lab, s, e in r["plan"]]))
            run.count(f"split.{split}")
            if r["trajectory_id"] is None:
                run.count("rl_only")
            elif r["outcome"] == "unknown":
                run.count("unknown_accepted")
        for reason, n in drop.items():
            run.count(f"dropped.{reason}", n)
        run.count("accepted", len(out))
        run.insert("curated", to_arrow(out, CuratedRow))
    return run.report
