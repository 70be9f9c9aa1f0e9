"""Agreement between two span annotations of the same texts (pure functions, no storage).

Spans are `(start, end, label)` triples, grouped per document (trajectory id):

    span_prf(pred, ref, match="exact" | "overlap", label=None) -> PRF
    cohen_kappa(a, b), krippendorff_alpha_nominal(a, b)        -> float | None
    compare(texts, a_spans, b_spans, labels)                    -> Agreement (per label + overall)

Definitions (what the numbers mean):
- exact match: same start, end and label. Overlap match: same label and at least one
  shared character. Precision = share of `pred` spans matching some `ref` span; recall =
  share of `ref` spans matched by some `pred` span (not a one-to-one assignment).
- token level: tokens are whitespace-separated runs (`\\S+`). A token carries a span's label
  when the span covers the token's first character; if several spans do, the shortest wins
  (then the label name). Tokens outside every span carry "O".
- per label, kappa and alpha compare the binary "token carries this label" between the two
  annotators (a token covered by spans of two labels counts for both); overall, they compare
  the single label per token above.
- a figure with no defined value (no spans at all; both annotators constant) is None,
  never a made-up 0 or 1.
"""
from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Hashable, Iterable, Literal, Mapping, Sequence

SpanT = tuple[int, int, str]
NONE_LABEL = "O"
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class PRF:
    precision: float | None
    recall: float | None
    f1: float | None
    n_pred: int
    n_ref: int
    matched_pred: int
    matched_ref: int


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None and r is None:
        return None
    p, r = p or 0.0, r or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _matched(spans: Sequence[SpanT], others: Sequence[SpanT], match: str) -> int:
    if match == "exact":
        pool = set(others)
        return sum(1 for s in spans if s in pool)
    by_label: dict[str, list[tuple[int, int]]] = {}
    for s, e, lab in others:
        by_label.setdefault(lab, []).append((s, e))
    hits = 0
    for s, e, lab in spans:
        if any(os_ < e and s < oe for os_, oe in by_label.get(lab, ())):
            hits += 1
    return hits


def span_prf(pred: Mapping[Hashable, Sequence[SpanT]], ref: Mapping[Hashable, Sequence[SpanT]], *,
             match: Literal["exact", "overlap"] = "exact", label: str | None = None) -> PRF:
    """Span precision / recall / F1 of `pred` against `ref` over all their documents."""
    if match not in ("exact", "overlap"):
        raise ValueError(f"match must be exact or overlap, got {match!r}")
    n_pred = n_ref = m_pred = m_ref = 0
    for doc in set(pred) | set(ref):
        p = [tuple(s) for s in pred.get(doc, ()) if label is None or s[2] == label]
        r = [tuple(s) for s in ref.get(doc, ()) if label is None or s[2] == label]
        n_pred += len(p)
        n_ref += len(r)
        m_pred += _matched(p, r, match)
        m_ref += _matched(r, p, match)
    precision, recall = _ratio(m_pred, n_pred), _ratio(m_ref, n_ref)
    return PRF(precision, recall, _f1(precision, recall), n_pred, n_ref, m_pred, m_ref)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two equally long label sequences; None when chance agreement is 1."""
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length ({len(a)} vs {len(b)})")
    n = len(a)
    if n == 0:
        return None
    observed = sum(1 for x, y in zip(a, b) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[c] * cb[c] for c in ca) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha_nominal(a: Sequence[Hashable | None], b: Sequence[Hashable | None]) -> float | None:
    """Krippendorff's alpha, nominal metric, two coders; a unit where either value is None
    is unpairable and left out. None when there is no expected disagreement."""
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length ({len(a)} vs {len(b)})")
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    n = 2 * len(pairs)
    if n < 2:
        return None
    marginals: Counter = Counter()
    disagreeing = 0  # sum over c != k of the coincidences o_ck
    for x, y in pairs:
        marginals[x] += 1
        marginals[y] += 1
        if x != y:
            disagreeing += 2
    expected = n * n - sum(v * v for v in marginals.values())  # sum over c != k of n_c n_k
    if expected == 0:
        return None
    return 1.0 - (n - 1) * disagreeing / expected


def tokens(text: str) -> list[tuple[int, int]]:
    """Whitespace tokens of `text` as (start, end) offsets."""
    return [m.span() for m in _TOKEN.finditer(text)]


def token_labels(toks: Sequence[tuple[int, int]], spans: Iterable[SpanT]) -> list[str]:
    """The single label per token (see the module docstring), "O" where none."""
    starts = [s for s, _ in toks]
    best: list[tuple[int, str] | None] = [None] * len(toks)
    for s, e, lab in spans:
        for i in range(bisect_left(starts, s), bisect_left(starts, e)):
            cand = (e - s, lab)
            if best[i] is None or cand < best[i]:
                best[i] = cand
    return [NONE_LABEL if b is None else b[1] for b in best]


def _token_membership(toks: Sequence[tuple[int, int]], spans: Iterable[SpanT], label: str) -> list[bool]:
    starts = [s for s, _ in toks]
    member = [False] * len(toks)
    for s, e, lab in spans:
        if lab == label:
            for i in range(bisect_left(starts, s), bisect_left(starts, e)):
                member[i] = True
    return member


@dataclass(frozen=True)
class LabelAgreement:
    label: str
    exact: PRF
    overlap: PRF
    kappa: float | None
    alpha: float | None
    tokens_a: int  # tokens carrying the label, per annotator
    tokens_b: int


@dataclass(frozen=True)
class Agreement:
    n_trajectories: int
    n_tokens: int
    exact: PRF
    overlap: PRF
    overall_kappa: float | None
    overall_alpha: float | None
    labels: dict[str, LabelAgreement] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def compare(texts: Mapping[Hashable, str], a: Mapping[Hashable, Sequence[SpanT]],
            b: Mapping[Hashable, Sequence[SpanT]], labels: Sequence[str] | None = None) -> Agreement:
    """Agreement of annotation `a` (treated as prediction) with `b` (reference) over the
    documents in `texts`; spans with labels outside `labels` (when given) are ignored."""
    keep = set(labels) if labels is not None else None

    def filt(m: Mapping[Hashable, Sequence[SpanT]]) -> dict:
        return {d: [tuple(s) for s in m.get(d, ()) if keep is None or s[2] in keep] for d in texts}

    a, b = filt(a), filt(b)
    if labels is None:
        labels = sorted({s[2] for spans in (*a.values(), *b.values()) for s in spans})
    flat_a: list[str] = []
    flat_b: list[str] = []
    member: dict[str, tuple[list[bool], list[bool]]] = {lab: ([], []) for lab in labels}
    for doc, text in texts.items():
        toks = tokens(text)
        flat_a += token_labels(toks, a[doc])
        flat_b += token_labels(toks, b[doc])
        for lab in labels:
            member[lab][0].extend(_token_membership(toks, a[doc], lab))
            member[lab][1].extend(_token_membership(toks, b[doc], lab))
    rows = {}
    for lab in labels:
        ma, mb = member[lab]
        rows[lab] = LabelAgreement(
            label=lab, exact=span_prf(a, b, match="exact", label=lab),
            overlap=span_prf(a, b, match="overlap", label=lab),
            kappa=cohen_kappa(ma, mb), alpha=krippendorff_alpha_nominal(ma, mb),
            tokens_a=sum(ma), tokens_b=sum(mb))
    return Agreement(n_trajectories=len(texts), n_tokens=len(flat_a),
                     exact=span_prf(a, b, match="exact"), overlap=span_prf(a, b, match="overlap"),
                     overall_kappa=cohen_kappa(flat_a, flat_b),
                     overall_alpha=krippendorff_alpha_nominal(flat_a, flat_b), labels=rows)
