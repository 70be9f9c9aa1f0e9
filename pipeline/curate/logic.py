"""Pure curation logic (no storage): consensus spans, strategy choice, near-duplicate
problems and family-level splits. `pipeline/curate/stage.py` feeds it rows read from the lake.

    consensus_precedence(spans, ["human", "gold", "llm", "rule"]) -> (plan, "human:alice")
    consensus_vote(spans, ["llm", "rule"], min_confidence=0.5)  -> (plan, "vote:3")
    near_duplicate_pairs({problem_id: question}, threshold=0.9)  -> [(a, b), ...]
    split_of(group, salt, train=0.8, val=0.1)                     -> "train" | "val" | "test"
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import xxhash


@dataclass(frozen=True)
class SpanIn:
    """A current span of one trajectory, as curation sees it."""

    start: int
    end: int
    label: str
    kind: str
    annotator: str
    confidence: float | None = None
    run_id: str | None = None


Plan = list[tuple[str, int, int]]  # (label, start, end), sorted by (start, end, label)


def _sorted_plan(items) -> Plan:
    return sorted(set(items), key=lambda s: (s[1], s[2], s[0]))


def consensus_precedence(spans: list[SpanIn], precedence: list[str]) -> tuple[Plan, str]:
    """All spans of the first kind in `precedence` present; within it, the annotator of the latest run."""
    for kind in precedence:
        of_kind = [s for s in spans if s.kind == kind]
        if not of_kind:
            continue
        best = max(of_kind, key=lambda s: (s.run_id or "", s.annotator)).annotator
        plan = _sorted_plan((s.label, s.start, s.end) for s in of_kind if s.annotator == best)
        return plan, f"{kind}:{best}"
    return [], "none"


def consensus_annotator(spans: list[SpanIn], annotator: str) -> tuple[Plan, str]:
    plan = _sorted_plan((s.label, s.start, s.end) for s in spans if s.annotator == annotator)
    return plan, f"annotator:{annotator}" if plan else "none"


def consensus_vote(spans: list[SpanIn], kinds: list[str], min_confidence: float) -> tuple[Plan, str]:
    """Per label, the characters covered by a strict majority of the voting annotators.

    Voters are the annotators (of the kinds listed) with at least one span on the trajectory;
    spans under `min_confidence` do not vote (a span without confidence counts as 1.0).
    """
    eligible = [s for s in spans if s.kind in kinds]
    voters = {(s.kind, s.annotator) for s in eligible}
    if not voters:
        return [], "none"
    need = len(voters) // 2 + 1
    by_label: dict[str, list[SpanIn]] = defaultdict(list)
    for s in eligible:
        if (1.0 if s.confidence is None else s.confidence) >= min_confidence:
            by_label[s.label].append(s)
    plan: Plan = []
    for label, group in by_label.items():
        points = sorted({p for s in group for p in (s.start, s.end)})
        run_start = None
        for a, b in zip(points, points[1:]):
            covering = {(s.kind, s.annotator) for s in group if s.start <= a and s.end >= b}
            if len(covering) >= need:
                run_start = a if run_start is None else run_start
                run_end = b
            elif run_start is not None:
                plan.append((label, run_start, run_end))
                run_start = None
        if run_start is not None:
            plan.append((label, run_start, run_end))
    return _sorted_plan(plan), f"vote:{len(voters)}"


def strategy_sort_key(row: dict, order: list[str]) -> tuple:
    """Smaller is better: human-selected or edited first, then kind order, rank, score, id."""
    chosen = bool(row["selected"] or row["edited"])
    kind_pos = order.index(row["annotator_kind"]) if row["annotator_kind"] in order else len(order)
    rank = row["rank"] if row["rank"] is not None else 1 << 30
    score = -(row["score"] if row["score"] is not None else float("-inf"))
    return (not chosen, kind_pos, rank, score, row["strategy_id"])


_WORD = re.compile(r"\w+")


def normalised_question(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _shingles(text: str, k: int) -> set[str]:
    words = normalised_question(text).split()
    if len(words) <= k:
        return {" ".join(words)}
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def minhash_signatures(shingles: list[set[str]], n_perm: int, chunk: int = 4096) -> np.ndarray:
    """(len(shingles), n_perm) uint64 MinHash signatures, computed in vectorised chunks."""
    rng = np.random.default_rng(0x5EED)
    a = rng.integers(1, (1 << 61) - 1, n_perm, dtype=np.uint64)
    b = rng.integers(0, (1 << 61) - 1, n_perm, dtype=np.uint64)
    sigs = np.empty((len(shingles), n_perm), dtype=np.uint64)
    for lo in range(0, len(shingles), chunk):
        part = shingles[lo:lo + chunk]
        sizes = np.fromiter((len(sh) for sh in part), dtype=np.int64, count=len(part))
        flat = np.fromiter((xxhash.xxh64_intdigest(s.encode()) for sh in part for s in sh), dtype=np.uint64,
                           count=int(sizes.sum()))
        # uint64 wrap-around is fine for hashing; min over each problem's rows
        sigs[lo:lo + len(part)] = np.minimum.reduceat(flat[:, None] * a + b, np.cumsum(sizes) - sizes, axis=0)
    return sigs


def lsh_rows(threshold: float, n_perm: int = 64, recall: float = 0.995) -> int:
    """Rows per band (a power of two dividing n_perm), as many as keep the chance that a pair at
    `threshold` shares some band >= `recall`: more rows, fewer false candidates."""
    rows = n_perm
    while rows > 1 and 1 - (1 - threshold ** rows) ** (n_perm // rows) < recall:
        rows //= 2
    return rows


def near_duplicate_pairs(questions: dict[str, str], threshold: float, shingle_words: int = 3,
                         n_perm: int = 64, window: int = 8) -> list[tuple[str, str]]:
    """Pairs of ids whose questions are identical after normalisation or whose word-shingle
    Jaccard similarity is >= threshold.

    Candidates come from MinHash LSH done by sorting: per band, problems are sorted by the band's
    values and each is compared with the next `window` problems of equal band (vectorised, so a
    templated data set that fills one band with thousands of problems stays linear); a candidate
    whose signatures agree on at least threshold - 0.1 of their entries is confirmed with the
    exact Jaccard similarity.
    """
    ids = sorted(questions)
    pairs: set[tuple[str, str]] = set()
    exact: dict[str, list[str]] = defaultdict(list)
    for pid in ids:
        exact[normalised_question(questions[pid])].append(pid)
    for group in exact.values():
        pairs.update((group[0], other) for other in group[1:])
    if threshold >= 1.0 or len(ids) < 2:
        return sorted(pairs)
    shingles = [_shingles(questions[pid], shingle_words) for pid in ids]
    rows = lsh_rows(threshold, n_perm)
    bands = n_perm // rows
    sigs = minhash_signatures(shingles, n_perm)
    n = len(ids)
    keys = []
    for band in range(bands):
        block = np.ascontiguousarray(sigs[:, band * rows:(band + 1) * rows])
        order = np.lexsort(block.T[::-1])
        ordered = block[order]
        for d in range(1, min(window, n - 1) + 1):
            same_band = (ordered[:-d] == ordered[d:]).all(axis=1)
            left, right = order[:-d][same_band], order[d:][same_band]
            keys.append(np.minimum(left, right).astype(np.int64) * n + np.maximum(left, right))
    pair_keys = np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
    left, right = pair_keys // n, pair_keys % n
    small = sigs.astype(np.uint32)  # half the memory traffic; a 32-bit collision is rare enough here
    step = 1 << 18
    agree = np.concatenate([(small[left[k:k + step]] == small[right[k:k + step]]).mean(axis=1) >= threshold - 0.1
                            for k in range(0, len(left), step)] or [np.empty(0, bool)])
    candidates = zip(left[agree].tolist(), right[agree].tolist())
    for i, j in candidates:
        inter = len(shingles[i] & shingles[j])
        if inter / (len(shingles[i]) + len(shingles[j]) - inter) >= threshold:
            pairs.add((ids[i], ids[j]))
    return sorted(pairs)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: str, y: str) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:  # the smaller id becomes the root: groups are named deterministically
            self.parent[max(rx, ry)] = min(rx, ry)


def split_of(group: str, salt: str, train: float, val: float) -> str:
    """train / val / test from a stable hash of (salt, split group)."""
    u = xxhash.xxh3_64_intdigest(f"{salt}\x1f{group}".encode()) / 2.0**64
    return "train" if u < train else "val" if u < train + val else "test"


def perturbation_split(perturbation: str) -> str:
    """Folder-safe split name for perturbed test variants: `test_<perturbation>`."""
    slug = re.sub(r"[^a-z0-9]+", "_", perturbation.lower()).strip("_") or "unknown"
    return "test_original" if slug == "original" else f"test_{slug}"
