"""What the learned tagger (annotators/learned.py) sees: sentence segments, their labels and features.

    batch = Segments.build(texts, "sentence", MAX_CHARS)       # the units
    y = segment_labels(batch, spans, labels)                    # training targets, (segments, labels) bool
    vocab = Vocabulary.fit(batch.texts, min_count=2, max_vocab=50_000)
    X = features(batch, vocab, context=0.5)                     # CSR (segments, 3 * vocab + N_PLACE)
    spans = segments_to_spans(batch, proba, labels, len(texts))  # predictions back to character spans

Units are the rules tagger's sentence segments (annotators.segments, built for a whole batch
at once by `annotators.rules.Segments`).
- spans -> segments (training): a segment carries label L when L's spans (their union) cover
  more than half of the segment's characters; it can carry several labels, or none.
- segments -> spans (prediction): a segment carries every label whose probability is at least
  `threshold` (0.5); consecutive segments of one text carrying the same label merge into one
  span [start of the first, end of the last); the span's confidence is the mean probability
  of its segments.

Features of a segment (a sparse row): its text as lowercased tokens (`[a-z]+` words and single
other characters; digit runs read as "0"; a start marker makes the first word a bigram of its
own) -> unigram and bigram counts over a vocabulary fitted on the training segments (at least
`min_count` occurrences, the `max_vocab` most frequent), scaled by 1/sqrt(entries); the same
block for the previous and for the next segment of the text, times `context`; and its place:
relative position in the text (5 bins), first, last, and length in characters (5 bins).
The vocabulary, not a hash, maps tokens to columns, so a saved model reads the same on any
machine and library version.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from annotators.base import SpanOut
from annotators.rules import Segments
from annotators.segments import merge_ranges

TOKEN = r"[a-z]+|[^\sa-z]"
START = "\x02 "  # the start marker: a token of its own before each segment
POSITION_BINS = 5
LENGTH_EDGES = (20, 40, 80, 160)  # characters: 5 bins
N_PLACE = POSITION_BINS + 2 + len(LENGTH_EDGES) + 1

SpanT = tuple[int, int, str]


# ------------------------------------------------------------------ spans <-> segments
def segment_labels(batch: Segments, spans: Sequence[Sequence[SpanT]], labels: Sequence[str]) -> np.ndarray:
    """(n_segments, n_labels) bool: label L's spans cover more than half of the segment's characters."""
    index = {lab: j for j, lab in enumerate(labels)}
    y = np.zeros((len(batch.doc), len(labels)), dtype=bool)
    if not len(batch.doc):
        return y
    first = np.searchsorted(batch.doc, np.arange(len(spans)), side="left")
    last = np.searchsorted(batch.doc, np.arange(len(spans)), side="right")
    for d, doc_spans in enumerate(spans):
        lo, hi = first[d], last[d]
        if lo == hi:
            continue
        starts, ends = batch.start[lo:hi], batch.end[lo:hi]
        by_label: dict[int, list[tuple[int, int]]] = {}
        for s, e, lab in doc_spans:
            if lab in index and s < e:
                by_label.setdefault(index[lab], []).append((s, e))
        for j, ivs in by_label.items():
            covered = np.zeros(hi - lo, dtype=np.int64)
            for s, e in merge_ranges(ivs):
                covered += np.clip(np.minimum(ends, e) - np.maximum(starts, s), 0, None)
            y[lo:hi, j] = 2 * covered > (ends - starts)
    return y


def segments_to_spans(batch: Segments, proba: np.ndarray, labels: Sequence[str], n_docs: int,
                      threshold: float = 0.5) -> list[list[SpanOut]]:
    """Per text, the spans of the labelled segments (see the module docstring), sorted."""
    out: list[list[SpanOut]] = [[] for _ in range(n_docs)]
    for j, lab in enumerate(labels):
        keep = np.flatnonzero(proba[:, j] >= threshold)
        if not len(keep):
            continue
        doc = batch.doc[keep]
        new = np.ones(len(keep), dtype=bool)
        new[1:] = (np.diff(keep) != 1) | (np.diff(doc) != 0)
        first = np.flatnonzero(new)
        last = np.append(first[1:], len(keep)) - 1
        conf = np.add.reduceat(proba[keep, j], first) / (last - first + 1)
        for d, s, e, c in zip(doc[first].tolist(), batch.start[keep[first]].tolist(),
                              batch.end[keep[last]].tolist(), np.round(conf, 4).tolist()):
            out[d].append(SpanOut(start=s, end=e, label=lab, confidence=min(1.0, max(0.0, c)), alignment="segment"))
    for spans in out:
        spans.sort(key=lambda sp: (sp.start, sp.end, sp.label))
    return out


# ------------------------------------------------------------------ features
def _tokens(seg_texts: Sequence[str]):
    """Flat token Series and the number of tokens per segment."""
    import polars as pl

    s = pl.Series("t", seg_texts, dtype=pl.String)
    toks = (START + s.str.to_lowercase()).str.replace_all(r"[0-9]+", "0").str.extract_all(TOKEN)
    counts = toks.list.len().fill_null(0).to_numpy().astype(np.int64)
    return toks.explode().drop_nulls(), counts


def place(batch: Segments) -> np.ndarray:
    """(n_segments, N_PLACE) one-hot position and length features."""
    n = len(batch.doc)
    out = np.zeros((n, N_PLACE), dtype=np.float32)
    if not n:
        return out
    new_doc = np.ones(n, dtype=bool)
    new_doc[1:] = batch.doc[1:] != batch.doc[:-1]
    first = np.flatnonzero(new_doc)
    sizes = np.diff(np.append(first, n))
    k = np.arange(n) - np.repeat(first, sizes)
    size = np.repeat(sizes, sizes)
    rel = np.where(size > 1, k / np.maximum(size - 1, 1), 0.0)
    rows = np.arange(n)
    out[rows, np.minimum((rel * POSITION_BINS).astype(np.int64), POSITION_BINS - 1)] = 1
    out[:, POSITION_BINS] = k == 0
    out[:, POSITION_BINS + 1] = k == size - 1
    out[rows, POSITION_BINS + 2 + np.searchsorted(LENGTH_EDGES, batch.end - batch.start, side="right")] = 1
    return out


@dataclass
class Vocabulary:
    """Token -> column: unigrams (`words`), then bigrams (`bigrams`: sorted keys id1 * V + id2)."""

    words: list[str]
    bigrams: np.ndarray

    @classmethod
    def fit(cls, seg_texts: Sequence[str], min_count: int, max_vocab: int) -> "Vocabulary":
        import polars as pl

        flat, counts = _tokens(seg_texts)
        vc = flat.value_counts(sort=True, name="n").filter(pl.col("n") >= min_count)
        vc = vc.sort(["n", vc.columns[0]], descending=[True, False]).head(max_vocab)
        words = vc[vc.columns[0]].to_list()
        vocab = cls(words, np.zeros(0, dtype=np.int64))
        keys = vocab._bigram_keys(vocab._ids(flat), counts)
        uniq, n = np.unique(keys, return_counts=True)
        keep = uniq[n >= min_count]
        if len(keep) > max_vocab:
            keep = np.sort(uniq[np.argsort(-n, kind="stable")[:max_vocab]])
        vocab.bigrams = keep.astype(np.int64)
        return vocab

    @property
    def size(self) -> int:
        return len(self.words) + len(self.bigrams)

    def _ids(self, flat) -> np.ndarray:
        import polars as pl

        if not hasattr(self, "_map"):
            self._map = pl.DataFrame({"tok": pl.Series(self.words, dtype=pl.String),
                                      "id": np.arange(len(self.words), dtype=np.int64)})
        joined = pl.DataFrame({"tok": flat}).join(self._map, on="tok", how="left", maintain_order="left")
        return joined["id"].fill_null(-1).to_numpy()

    def _bigram_keys(self, ids: np.ndarray, counts: np.ndarray) -> np.ndarray:
        row = np.repeat(np.arange(len(counts)), counts)
        nxt = np.append(ids[1:], -1)
        ok = (ids >= 0) & (nxt >= 0) & np.append(row[1:] == row[:-1], False)
        return ids[ok] * len(self.words) + nxt[ok]

    def parts(self, seg_texts: Sequence[str]):
        """Two CSR matrices (n_segments, V) of unigrams and (n_segments, n_bigrams) of bigrams,
        each entry 1/sqrt(the row's unigram + bigram entries): the text block, in two halves."""
        import scipy.sparse as sp

        n = len(seg_texts)
        if not n:
            return (sp.csr_matrix((0, len(self.words)), dtype=np.float32),
                    sp.csr_matrix((0, len(self.bigrams)), dtype=np.float32))
        flat, counts = _tokens(seg_texts)
        ids = self._ids(flat)
        row = np.repeat(np.arange(n), counts)
        nxt = np.append(ids[1:], -1)
        ok = (ids >= 0) & (nxt >= 0) & np.append(row[1:] == row[:-1], False)
        keys = ids[ok] * len(self.words) + nxt[ok]
        pos = np.minimum(np.searchsorted(self.bigrams, keys), max(len(self.bigrams) - 1, 0))
        hit = (self.bigrams[pos] == keys) if len(self.bigrams) else np.zeros(len(keys), dtype=bool)
        uni = ids >= 0
        u_rows, b_rows = row[uni], row[ok][hit]  # both sorted by row
        n_u, n_b = np.bincount(u_rows, minlength=n), np.bincount(b_rows, minlength=n)
        scale = (1.0 / np.sqrt(np.maximum(n_u + n_b, 1))).astype(np.float32)
        U = sp.csr_matrix((scale[u_rows], ids[uni], np.concatenate(([0], np.cumsum(n_u)))),
                          shape=(n, len(self.words)))
        B = sp.csr_matrix((scale[b_rows], pos[hit], np.concatenate(([0], np.cumsum(n_b)))),
                          shape=(n, len(self.bigrams)))
        return U, B

    def transform(self, seg_texts: Sequence[str]):
        """CSR (n_segments, size): the text block, unigram columns then bigram columns."""
        import scipy.sparse as sp

        return sp.hstack(self.parts(seg_texts), format="csr", dtype=np.float32)


def neighbours(batch: Segments) -> tuple[np.ndarray, np.ndarray]:
    """Per segment, the row of the previous and of the next segment of its text (n = none)."""
    n = len(batch.doc)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = batch.doc[1:] == batch.doc[:-1]
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = same_prev[1:]
    return np.where(same_prev, np.arange(n) - 1, n), np.where(same_next, np.arange(n) + 1, n)


def features(batch: Segments, vocab: Vocabulary, context: float):
    """The full feature matrix of a batch: text | previous text * context | next text * context | place."""
    import scipy.sparse as sp

    text = vocab.transform(batch.texts)
    padded = sp.vstack([text, sp.csr_matrix((1, vocab.size), dtype=np.float32)], format="csr")
    prev, nxt = neighbours(batch)
    return sp.hstack([text, padded[prev] * context, padded[nxt] * context, sp.csr_matrix(place(batch))],
                     format="csr", dtype=np.float32)
