"""The learned tagger: a fast sentence-segment classifier fitted on corrected spans (issue 13 item 5).

    model = fit(texts, spans, labels)              # spans[i]: (start, end, label) triples of texts[i]
    [result] = LearnedTagger(model).tag([TagItem("t1", "First, find the total. Let me check: ...")])
    model.save(folder); model = LearnedModel.load(folder)   # JSON + .npz, never pickle
    uncertainty(model, texts)                      # per text, highest first = most worth a person's look

`pipeline/tagger` trains it on the lake's human and gold spans (`stratagem tagger train`),
stores it under <root>/models/tagger/<version>/ and registers "learned" for `annotate`.

Units, labels and features of a sentence segment: annotators/learned_features.py.

Model: one logistic regression per label (one-vs-rest, scikit-learn's liblinear, L2, `C`),
with balanced class weights by default: a label on 6-15% of segments (R1 traces) is otherwise
pulled toward its base rate and rarely reaches the 0.5 threshold. Stored as a weight matrix W (features x labels) and biases; prediction is
sigmoid(X @ W + b) with NumPy/SciPy only. A label never positive in training gets p = 0.

Saved form (a folder): `model.json` (format, version, labels, settings, vocabulary,
training metadata) and `weights.npz` (W, b, bigram keys), read with
`np.load(allow_pickle=False)`. The version is a content hash (sha256, 12 hex digits) of
everything but the training metadata; `load` recomputes it and refuses a file that does not
match (edited, truncated or not ours) with one line (`LearnedModelError`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from annotators.base import Tagger, TagItem, TagResult
from annotators.learned_features import (
    LENGTH_EDGES, N_PLACE, POSITION_BINS, TOKEN, SpanT, Vocabulary, features, neighbours, place, segment_labels,
    segments_to_spans,
)
from annotators.rules import Segments
from annotators.segments import MAX_CHARS

FORMAT = "stratagem-learned-tagger"
FORMAT_VERSION = 1
MODEL_FILE, WEIGHTS_FILE = "model.json", "weights.npz"


class LearnedModelError(ValueError):
    """A model folder that cannot be used (missing, foreign, tampered): one line for the user."""


# ------------------------------------------------------------------ the model
@dataclass
class LearnedModel:
    labels: list[str]
    vocab: Vocabulary
    W: np.ndarray  # (features, labels) float32
    b: np.ndarray  # (labels,) float32
    settings: dict
    meta: dict = field(default_factory=dict)  # training counts and provenance: not part of the version

    @property
    def threshold(self) -> float:
        return float(self.settings["threshold"])

    def _core(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "labels": list(self.labels),
                "settings": self.settings, "vocab": self.vocab.words}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"W": np.ascontiguousarray(self.W, dtype=np.float32), "b": np.ascontiguousarray(self.b, dtype=np.float32),
                "bigrams": np.ascontiguousarray(self.vocab.bigrams, dtype=np.int64)}

    @property
    def version(self) -> str:
        return _content_hash(self._core(), self._arrays())

    def proba(self, batch: Segments) -> np.ndarray:
        """(n_segments, n_labels) probabilities: sigmoid(features(batch) @ W + b), computed block by
        block (the neighbours' blocks as shifted score rows, no feature matrix built)."""
        n, L = len(batch.doc), len(self.labels)
        if not n:
            return np.zeros((0, L), dtype=np.float32)
        if not hasattr(self, "_W3"):  # text-block weights of the three blocks side by side
            V = self.vocab.size
            self._W3 = np.ascontiguousarray(np.hstack([self.W[:V], self.W[V:2 * V], self.W[2 * V:3 * V]]))
            self._nw = len(self.vocab.words)
        U, B = self.vocab.parts(batch.texts)
        S = U @ self._W3[:self._nw] + B @ self._W3[self._nw:]  # (n, 3L): own, as-previous, as-next
        S = np.vstack([S, np.zeros((1, 3 * L), dtype=S.dtype)])
        prev, nxt = neighbours(batch)
        ctx = self.settings["context"]
        z = S[:n, :L] + ctx * S[prev, L:2 * L] + ctx * S[nxt, 2 * L:] + place(batch) @ self.W[3 * self.vocab.size:] + self.b
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)

    def segments(self, texts: Sequence[str]) -> Segments:
        return Segments.build(texts, "sentence", self.settings.get("max_chars", MAX_CHARS))

    # -------------------------------------------------------------- save / load
    def save(self, folder: str | Path) -> Path:
        """Write model.json and weights.npz into `folder` (created); returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        doc = self._core() | {"version": self.version, "meta": self.meta}
        (folder / MODEL_FILE).write_text(json.dumps(doc, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        with open(folder / WEIGHTS_FILE, "wb") as fh:
            np.savez(fh, **self._arrays())
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "LearnedModel":
        """The model saved in `folder`; LearnedModelError (one line) for anything else."""
        folder = Path(folder)
        where = f"model {folder}"
        try:
            doc = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LearnedModelError(f"{where}: no {MODEL_FILE} (not a saved learned-tagger model)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LearnedModelError(f"{where}: {MODEL_FILE} is not readable JSON ({type(exc).__name__})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LearnedModelError(f"{where}: {MODEL_FILE} is not a {FORMAT} file")
        if doc.get("format_version") != FORMAT_VERSION:
            raise LearnedModelError(f"{where}: format version {doc.get('format_version')!r}, "
                                    f"this code reads {FORMAT_VERSION}")
        try:
            with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("W", "b", "bigrams")}
        except FileNotFoundError:
            raise LearnedModelError(f"{where}: no {WEIGHTS_FILE}") from None
        except (OSError, ValueError, KeyError, EOFError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LearnedModelError(f"{where}: {WEIGHTS_FILE} is not a plain NumPy archive of W, b, bigrams "
                                    f"({msg})") from None
        try:
            labels, settings, words = list(doc["labels"]), dict(doc["settings"]), list(doc["vocab"])
            vocab = Vocabulary(words, arrays["bigrams"].astype(np.int64))
            model = cls(labels, vocab, arrays["W"].astype(np.float32), arrays["b"].astype(np.float32), settings,
                        dict(doc.get("meta") or {}))
            if model.W.shape != (vocab.size * 3 + N_PLACE, len(labels)) or model.b.shape != (len(labels),):
                raise ValueError("weight shapes do not fit the vocabulary and labels")
            for key in ("threshold", "context"):
                float(settings[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise LearnedModelError(f"{where}: malformed ({exc})") from None
        if model.version != doc.get("version"):
            raise LearnedModelError(f"{where}: content does not match its version {doc.get('version')!r} "
                                    "(edited or damaged); retrain with `stratagem tagger train`")
        return model


def _content_hash(core: dict, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(json.dumps(core, ensure_ascii=False, sort_keys=True).encode())
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:12]


def fit(texts: Sequence[str], spans: Sequence[Sequence[SpanT]], labels: Sequence[str], *,
        weights: Sequence[float] | None = None, C: float = 1.0, min_count: int = 2, max_vocab: int = 50_000,
        context: float = 0.5, threshold: float = 0.5, max_chars: int = MAX_CHARS,
        class_weight: str | None = "balanced", meta: dict | None = None) -> LearnedModel:
    """Fit the tagger on `texts` and their reference spans.

    texts / spans: one list of (start, end, label) per text (labels outside `labels` ignored);
    weights: per text (e.g. 0.5 for silver LLM spans), default 1; C: inverse L2 strength;
    min_count / max_vocab: the vocabulary; context: weight of the neighbours' blocks;
    threshold: the probability from which a segment carries a label; class_weight: "balanced"
    (each label's positives and negatives weighted n / (2 * their count), times `weights`) or
    None (plain counts)."""
    from sklearn.linear_model import LogisticRegression

    if len(texts) != len(spans):
        raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
    labels = list(labels)
    settings = {"token": TOKEN, "lowercase": True, "digits": "0", "start_marker": True, "min_count": int(min_count),
                "max_vocab": int(max_vocab), "context": float(context), "threshold": float(threshold), "C": float(C),
                "position_bins": POSITION_BINS, "length_edges": list(LENGTH_EDGES), "segments": "sentence",
                "max_chars": int(max_chars), "class_weight": class_weight,
                "classifier": "one-vs-rest logistic regression (liblinear, L2)"}
    batch = Segments.build(list(texts), "sentence", max_chars)
    y = segment_labels(batch, spans, labels)
    vocab = Vocabulary.fit(batch.texts, min_count, max_vocab)
    X = features(batch, vocab, context)
    sw = None if weights is None else np.asarray(weights, dtype=np.float64)[batch.doc]
    W = np.zeros((X.shape[1], len(labels)), dtype=np.float32)
    b = np.full(len(labels), -30.0, dtype=np.float32)  # never seen: p = 0
    for j in range(len(labels)):
        pos = int(y[:, j].sum())
        if pos == 0:
            continue
        if pos == len(y):
            b[j] = 30.0
            continue
        clf = LogisticRegression(C=C, solver="liblinear", class_weight=class_weight, random_state=0, max_iter=200)
        clf.fit(X, y[:, j], sample_weight=sw)
        W[:, j] = clf.coef_[0]
        b[j] = clf.intercept_[0]
    counts = {"texts": len(texts), "segments": int(len(y)),
              "segments_labelled": int(y.any(axis=1).sum()),
              "features": int(X.shape[1]), **{f"segments.{lab}": int(y[:, j].sum()) for j, lab in enumerate(labels)}}
    return LearnedModel(labels, vocab, W, b, settings, {"counts": counts} | (meta or {}))


# ------------------------------------------------------------------ tagger and uncertainty
def segment_uncertainty(proba: np.ndarray) -> np.ndarray:
    """Per segment, 1 - the smallest margin |2p - 1| over labels: 1 when some label is a coin
    flip, 0 when every label is certain."""
    if proba.shape[1] == 0:
        return np.zeros(len(proba))
    return 1.0 - np.abs(2.0 * proba.astype(np.float64) - 1.0).min(axis=1)


def uncertainty(model: LearnedModel, texts: Sequence[str]) -> np.ndarray:
    """Per text, the mean segment uncertainty (0 for a text with no segment)."""
    batch = model.segments(texts)
    u = segment_uncertainty(model.proba(batch))
    total = np.bincount(batch.doc, weights=u, minlength=len(texts))
    n = np.bincount(batch.doc, minlength=len(texts))
    return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def rank_uncertain(model: LearnedModel, items: Sequence[tuple[str, str]], limit: int | None = None
                   ) -> list[tuple[str, float]]:
    """(id, uncertainty) of (id, text) items, most uncertain first (ties: by id), at most `limit`."""
    if not items:
        return []
    u = uncertainty(model, [t if isinstance(t, str) else "" for _, t in items])
    ranked = sorted(((tid, round(float(x), 6)) for (tid, _), x in zip(items, u)), key=lambda r: (-r[1], r[0]))
    return ranked if limit is None else ranked[:limit]


class LearnedTagger(Tagger):
    """The registry's "learned" tagger: kind "rule" (an offline, deterministic machine tagger
    with no LLM), name "learned", version = the model's content hash."""

    kind = "rule"
    name = "learned"

    def __init__(self, model: LearnedModel):
        self.model = model
        self.version = model.version
        self.labels = list(model.labels)

    @classmethod
    def from_folder(cls, folder: str | Path, taxonomy=None) -> "LearnedTagger":
        model = LearnedModel.load(folder)
        if taxonomy is not None:
            unknown = [lab for lab in model.labels if lab not in taxonomy.names]
            if unknown:
                raise LearnedModelError(f"model {model.version} has labels not in taxonomy {taxonomy.name}: "
                                        f"{', '.join(unknown)}")
        return cls(model)

    def tag(self, items: Sequence[TagItem]) -> list[TagResult]:
        texts = [it.text if isinstance(it.text, str) else "" for it in items]
        batch = self.model.segments(texts)
        spans = segments_to_spans(batch, self.model.proba(batch), self.labels, len(texts), self.model.threshold)
        return [TagResult(item_id=it.item_id, error="text is empty or whitespace only") if not texts[i].strip()
                else TagResult(item_id=it.item_id, spans=spans[i]) for i, it in enumerate(items)]
