"""The lead's page of the report: how the annotation team is doing, read from the lake (read-only).

    lead = gather_lead(lake, taxonomy)   # {} when no person has annotated anything
    lead["annotators"], lead["queue"], lead["pairs"], lead["quarantine"], lead["candidates"], lead["rates"]

What it reads (the queries are the functions in the first block below; adapting to a new
table is an edit there):
- `current_spans` and `current_strategies` rows of annotator_kind human: who annotated what;
  their annotator_version `p<project>.t<part>.a<annotation id>@<updated_at>` names the task
  part and the annotation; strategies give the rating, the edit flag and the "human:leak" flag;
- `reviews` (trajectory_id, ls_project, part): the pushed tasks;
- `quarantine` rows of stage review-pull: the annotator their reason names (`... [annotator
  ls:EMAIL]`, pipeline.labelstudio.pull.quarantine_annotator), else (older pulls) the locator's
  `project P ... annotation A` matched to the annotator of that annotation's rows (any version),
  else the raw JSON's `completed_by` user id;
- `annotations`, the per-annotation table `review pull` is getting (one row per annotation
  version), when the lake has it: lead_time, skipped, candidate_rank, none_usable, edited,
  leak_candidates, rating, superseded_by, with annotator, trajectory_id, ls_project, part,
  annotator_version (any of them missing reads None). Figures that only this table holds (time
  per task, skips, "none usable", the chosen candidate rank as recorded) are None ("not
  recorded") without it; the candidate rank is then inferred by matching a person's unedited
  strategy to a stored candidate.
Agreement per pair of annotators (every pair with a person in it, human vs model included),
per label, with a token-level confusion matrix and the differing spans: pipeline.agreement,
compared only on what both sides reviewed.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from statistics import median

from annotators.agreement import NONE_LABEL, compare, token_labels, tokens
from pipeline.agreement import AnnotatorRef, annotators, load_spans, restrict
from pipeline.agreement.reviewed import intersect, parse_tag

PAIR_DOCS = 1000       # trajectories per comparison (first by id)
PAIRS_SHOWN = 12       # pairs with a person in them, person-person first
DISAGREEMENTS = 5      # trajectories with differing spans shown per pair
CONTEXT = 80           # characters shown around the differing spans
EXCERPT = 1500         # longest excerpt shown
ANNOTATIONS = "annotations"
ANNOTATION_COLUMNS = ("annotator", "trajectory_id", "ls_project", "part", "annotator_version", "lead_time", "skipped",
                      "candidate_rank", "none_usable", "edited", "leak_candidates", "rating")
_LOCATOR = re.compile(r"project (\d+) task (\d+)(?: annotation (\d+))?")
_ANNOTATION_ID = re.compile(r"\.a(\d+)@")


# ---------------------------------------------------------------- what is read
def _columns(lake, table: str) -> set[str]:
    return {r[0] for r in lake.rows("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_catalog = 'lake' AND table_name = ?", [table])}


def _human_tags(lake) -> list[tuple[str, str, str, int, int]]:
    """(annotator, trajectory_id, annotator_version, spans, strategy rows) per current human annotation."""
    return lake.rows("""
        SELECT annotator, trajectory_id, annotator_version, sum(spans)::BIGINT, sum(strategies)::BIGINT FROM (
            SELECT annotator, trajectory_id, annotator_version, 1 AS spans, 0 AS strategies FROM current_spans
            WHERE annotator_kind = 'human'
            UNION ALL
            SELECT annotator, source_trajectory_id, annotator_version, 0, 1 FROM current_strategies
            WHERE annotator_kind = 'human' AND source_trajectory_id IS NOT NULL)
        GROUP BY ALL ORDER BY ALL""")


def _human_strategies(lake) -> list[tuple]:
    """(annotator, annotator_version, edited, rating, leak flagged, inferred candidate rank) per current
    human strategy row; the rank: a stored non-human candidate of the problem with the same text."""
    return lake.rows("""
        SELECT h.annotator, h.annotator_version, h.edited, h.rating,
               len(list_filter(h.leakage_flags, f -> f LIKE 'human:%')) > 0,
               CASE WHEN NOT h.edited THEN (
                   SELECT min(c.rank) FROM current_strategies c
                   WHERE c.problem_id = h.problem_id AND c.annotator_kind <> 'human'
                     AND c.problem_type = h.problem_type AND c.approach = h.approach AND c.steps = h.steps) END
        FROM current_strategies h WHERE h.annotator_kind = 'human' ORDER BY ALL""")


def _pushed(lake) -> list[tuple[int, str, int]]:
    """(ls_project, trajectory_id, part) of every pushed task."""
    return lake.rows("SELECT ls_project, trajectory_id, part FROM reviews ORDER BY ALL")


def _pull_quarantine(lake) -> list[tuple[str, str, str | None]]:
    return lake.rows("SELECT locator, reason, raw FROM quarantine WHERE stage = 'review-pull' ORDER BY ALL")


def _every_human_tag(lake) -> list[tuple[str, str]]:
    """(annotator, annotator_version) of every human row, superseded ones included (quarantine lookup)."""
    return lake.rows("SELECT DISTINCT annotator, annotator_version FROM spans WHERE annotator_kind = 'human' UNION "
                     "SELECT DISTINCT annotator, annotator_version FROM strategies WHERE annotator_kind = 'human'")


def _recorded(lake) -> list[dict]:
    """Current rows of the per-annotation table (`annotations`), the columns of ANNOTATION_COLUMNS it has
    (a missing one reads None); [] when the lake has no such table."""
    have = _columns(lake, ANNOTATIONS)
    if not {"annotator", "annotator_version"} <= have:
        return []
    cols = [c for c in ANNOTATION_COLUMNS if c in have]
    where = " WHERE superseded_by IS NULL" if "superseded_by" in have else ""
    rows = lake.rows(f"SELECT {', '.join(cols)} FROM {ANNOTATIONS}{where} ORDER BY annotator_version")
    return [dict.fromkeys(ANNOTATION_COLUMNS) | dict(zip(cols, r)) for r in rows]


# ---------------------------------------------------------------- figures
def _annotation_key(tag: str) -> tuple[int, int, int] | None:
    where, m = parse_tag(tag), _ANNOTATION_ID.search(tag or "")
    return (*where, int(m.group(1))) if where and m else None


def _per_annotator(tags, strategies, recorded, quarantined: Counter) -> tuple[list[dict], set]:
    people: dict[str, dict] = {}

    def person(name: str) -> dict:
        return people.setdefault(name, {"annotator": name, "annotations": set(), "tasks": set(), "trajectories": set(),
                                        "spans": 0, "strategies": 0, "edited": 0, "ratings": [], "lead_times": [],
                                        "skipped": None, "none_usable": None, "quarantined": 0})
    submitted = set()
    for who, tid, tag, n_spans, n_strategies in tags:
        p = person(who)
        key = _annotation_key(tag)
        p["annotations"].add(tag.split("@", 1)[0] if key else tag)
        if key:
            p["tasks"].add((key[0], tid, key[1]))
            submitted.add((key[0], tid, key[1]))
        p["trajectories"].add(tid)
        p["spans"] += n_spans
        p["strategies"] += n_strategies
    for who, _tag, edited, rating, _leak, _rank in strategies:
        p = person(who)
        p["edited"] += bool(edited)
        if rating is not None:
            p["ratings"].append(rating)
    for row in recorded:
        p = person(row["annotator"])
        if row["lead_time"] is not None:
            p["lead_times"].append(float(row["lead_time"]))
        for flag in ("skipped", "none_usable"):
            if row[flag] is not None:
                p[flag] = (p[flag] or 0) + bool(row[flag])
        if row["ls_project"] is not None and row["trajectory_id"] and row["part"] is not None and not row["skipped"]:
            key = (int(row["ls_project"]), row["trajectory_id"], int(row["part"]))
            p["tasks"].add(key)
            submitted.add(key)
    for who, n in quarantined.items():
        person(who)["quarantined"] = n
    out = []
    for p in sorted(people.values(), key=lambda p: p["annotator"]):
        out.append({"annotator": p["annotator"], "annotations": len(p["annotations"]), "tasks": len(p["tasks"]),
                    "trajectories": len(p["trajectories"]), "spans": p["spans"], "strategies": p["strategies"],
                    "edited": p["edited"],
                    "mean_rating": sum(p["ratings"]) / len(p["ratings"]) if p["ratings"] else None,
                    "median_lead_time": median(p["lead_times"]) if p["lead_times"] else None,
                    "skipped": p["skipped"], "none_usable": p["none_usable"], "quarantined": p["quarantined"]})
    return out, submitted


def _queue(pushed, submitted: set, recorded: list[dict]) -> list[dict]:
    """Per project: tasks pushed, submitted (a current annotation by someone), skipped (only skips
    recorded; None without the per-annotation table), pending (the rest)."""
    skipped_by_task: dict[tuple, bool] = {}
    for row in recorded:
        if row["ls_project"] is not None and row["part"] is not None and row["skipped"] is not None:
            key = (int(row["ls_project"]), row["trajectory_id"], int(row["part"]))
            skipped_by_task[key] = skipped_by_task.get(key, True) and bool(row["skipped"])
    projects: dict[int, dict] = {}
    for project, tid, part in pushed:
        q = projects.setdefault(int(project), {"project": int(project), "pushed": 0, "submitted": 0,
                                               "skipped": 0 if recorded else None, "pending": 0})
        q["pushed"] += 1
        key = (int(project), tid, int(part))
        if key in submitted:
            q["submitted"] += 1
        elif skipped_by_task.get(key):
            q["skipped"] += 1
        else:
            q["pending"] += 1
    return [projects[p] for p in sorted(projects)]


def _quarantine_by_annotator(rows, every_tag) -> tuple[Counter, list[dict]]:
    owner: dict[tuple[int, int], str] = {}
    for who, tag in every_tag:
        key = _annotation_key(tag)
        if key:
            owner[(key[0], key[2])] = who
    from pipeline.labelstudio.pull import quarantine_annotator

    per: Counter = Counter()
    reasons: Counter = Counter()
    for locator, reason, raw in rows:
        who = quarantine_annotator(reason)  # pulls since the annotations table name the annotator
        if who is not None:
            reason = reason[:reason.rindex(" [annotator ")]
        m = _LOCATOR.search(locator or "")
        if who is None and m and m.group(3):
            who = owner.get((int(m.group(1)), int(m.group(3))))
        if who is None:
            try:
                user = json.loads(raw or "null").get("completed_by")
            except (ValueError, AttributeError):
                user = None
            who = f"Label Studio user {user}" if isinstance(user, int) else "unknown (no stored annotation)"
        per[who] += 1
        reasons[(who, reason)] += 1
    return per, [{"annotator": w, "reason": r, "n": n} for (w, r), n in sorted(reasons.items())]


def _candidates(strategies, recorded: list[dict]) -> dict:
    """How often each candidate rank is chosen, and the "none usable", leak-flag and edit rates among
    the annotations that answered the strategy question (a rank, "none usable" or an edit)."""
    ranks: Counter = Counter()
    answered = [r for r in recorded if not r["skipped"] and (r["candidate_rank"] is not None or r["none_usable"]
                                                             or r["edited"])]
    if answered:
        source = "recorded"
        for r in answered:
            ranks["none usable" if r["none_usable"] else r["candidate_rank"] or "edited, no candidate"] += 1
        leak = sum(1 for r in answered if r["leak_candidates"]) / len(answered)
        none_usable = sum(1 for r in answered if r["none_usable"]) / len(answered)
        edited = sum(1 for r in answered if r["edited"]) / len(answered)
    else:
        source = "inferred"
        for _who, _tag, was_edited, _rating, _leak, rank in strategies:
            ranks["edited" if was_edited else rank if rank is not None else "unmatched"] += 1
        n = len(strategies)
        leak = sum(1 for s in strategies if s[4]) / n if n else None
        none_usable = None
        edited = sum(1 for s in strategies if s[2]) / n if n else None
    order = sorted(ranks, key=lambda k: (not isinstance(k, int), k if isinstance(k, int) else str(k)))
    ratings = [r["rating"] for r in recorded if r["rating"] is not None] if answered else [
        s[3] for s in strategies if s[3] is not None]
    return {"source": source, "ranks": [{"choice": k, "n": ranks[k]} for k in order], "choices": sum(ranks.values()),
            "leak_rate": leak, "none_usable_rate": none_usable, "edit_rate": edited,
            "ratings": dict(sorted(Counter(ratings).items()))}


# ---------------------------------------------------------------- agreement per pair
def _pairs(refs: list[AnnotatorRef]) -> list[tuple[AnnotatorRef, AnnotatorRef]]:
    """Every pair with a person in it: person-person (by name), then model or gold (prediction) against person."""
    people = [r for r in refs if r.kind == "human"]
    others = [r for r in refs if r.kind != "human"]
    return ([(a, b) for i, a in enumerate(people) for b in people[i + 1:]]
            + [(o, p) for p in people for o in others])[:PAIRS_SHOWN]


def confusion(texts, a, b, labels: list[str]) -> list[list[int]]:
    """Token counts: row = a's label, column = b's label (single label per token, annotators.agreement)."""
    index = {lab: i for i, lab in enumerate(labels)}
    grid = [[0] * len(labels) for _ in labels]
    for tid, text in texts.items():
        toks = tokens(text)
        for x, y in zip(token_labels(toks, a[tid]), token_labels(toks, b[tid])):
            grid[index[x]][index[y]] += 1
    return grid


def _disagreements(texts, a, b, originals, reviewed_a, reviewed_b) -> list[dict]:
    """Per trajectory with differing spans: an excerpt around them (inside what both reviewed) and
    the spans only `a` has and only `b` has, with offsets into the excerpt."""
    out = []
    for tid in texts:
        only_a = sorted(set(a[tid]) - set(b[tid]))
        only_b = sorted(set(b[tid]) - set(a[tid]))
        if not only_a and not only_b:
            continue
        first, last = min(s for s, _, _ in only_a + only_b), max(e for _, e, _ in only_a + only_b)
        ranges = intersect(reviewed_a.get(tid), reviewed_b.get(tid)) or [(0, len(originals[tid]))]
        low = max([s for s, _ in ranges if s <= first], default=0)
        high = min([e for _, e in ranges if e >= last], default=len(originals[tid]))
        lo = max(low, first - CONTEXT)
        hi = min(high, last + CONTEXT, lo + EXCERPT)
        out.append({"trajectory_id": tid, "start": lo, "end": hi, "text": originals[tid][lo:hi],
                    "a": [(s - lo, e - lo, lab) for s, e, lab in only_a if s < hi],
                    "b": [(s - lo, e - lo, lab) for s, e, lab in only_b if s < hi]})
        if len(out) == DISAGREEMENTS:
            break
    return out


def _agreement(lake, refs: list[AnnotatorRef], taxonomy) -> list[dict]:
    pairs = _pairs(refs)
    if not pairs:
        return []
    people = [r for r in refs if r.kind == "human"]
    loaded_people = load_spans(lake, people, texts=False)
    ids = sorted({t for r in people for t in loaded_people.spans[r]})[:PAIR_DOCS]
    loaded = load_spans(lake, refs, trajectory_ids=ids)
    out = []
    for a, b in pairs:
        texts, view_a, view_b, info = restrict(loaded.texts, loaded.spans[a], loaded.spans[b])
        if not texts:
            out.append({"a": str(a), "b": str(b), "trajectories": 0, "in_part": 0, "left_out": info.disjoint})
            continue
        present = {s[2] for d in (view_a, view_b) for spans in d.values() for s in spans}
        labels = [n for n in taxonomy.names if n in present] + sorted(present - set(taxonomy.names))
        result = compare(texts, view_a, view_b, labels=labels)
        grid_labels = labels + [NONE_LABEL]
        out.append({"a": str(a), "b": str(b), "trajectories": info.compared, "in_part": info.partial,
                    "left_out": info.disjoint, "exact_f1": result.exact.f1, "overlap_f1": result.overlap.f1,
                    "kappa": result.overall_kappa, "alpha": result.overall_alpha,
                    "labels": [{"label": lab, "spans_a": r.exact.n_pred, "spans_b": r.exact.n_ref,
                                "overlap_f1": r.overlap.f1, "kappa": r.kappa} for lab, r in result.labels.items()],
                    "confusion": {"labels": grid_labels, "matrix": confusion(texts, view_a, view_b, grid_labels)},
                    "disagreements": _disagreements(texts, view_a, view_b, loaded.texts, loaded.spans[a].reviewed,
                                                    loaded.spans[b].reviewed)})
    return out


def gather_lead(lake, taxonomy) -> dict:
    """Everything the lead's page shows (module docstring); {} when no person annotated anything and
    nothing was pushed."""
    tags, pushed = _human_tags(lake), _pushed(lake)
    recorded = _recorded(lake)
    if not tags and not pushed and not recorded:
        return {}
    strategies = _human_strategies(lake)
    per_quarantine, quarantine = _quarantine_by_annotator(_pull_quarantine(lake), _every_human_tag(lake))
    people, submitted = _per_annotator(tags, strategies, recorded, per_quarantine)
    refs = annotators(lake) if tags else []
    return {"annotators": people, "queue": _queue(pushed, submitted, recorded),
            "pairs": _agreement(lake, refs, taxonomy), "quarantine": quarantine, "candidates": _candidates(strategies, recorded),
            "recorded": bool(recorded), "limits": {"docs": PAIR_DOCS, "pairs": PAIRS_SHOWN,
                                                   "disagreements": DISAGREEMENTS}}
