"""The report's plots: matplotlib figures (Agg, no pyplot state) returned as `data:image/png;base64,...`
URIs, so the HTML file embeds them and needs nothing else.

    uri = label_distribution({"rules": {"planning": 3}}, taxonomy)   # None when there is nothing to draw

Each function takes the plain values of `gather.ReportData` and returns a URI or None.
"""
from __future__ import annotations

import base64
import io
import math

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

ANNOTATOR_HATCHES = ("", "//", "..", "xx", "\\\\", "++")
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def to_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def bar_counts(counts: dict[str, int], title: str, colour: str = "#4c72b0") -> str | None:
    if not counts:
        return None
    fig, (ax,) = _figure(7, 0.35 * len(counts) + 1.2)
    names = list(counts)[::-1]
    ax.barh(names, [counts[n] for n in names], color=colour)
    for i, n in enumerate(names):
        ax.annotate(f"{counts[n]:,}", (counts[n], i), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_title(title, loc="left", fontsize=10)
    return to_uri(fig)


OUTCOME_COLOURS = {"correct": "#2ca02c", "incorrect": "#d62728", "unknown": "#ff7f0e", "no_reference": "#9e9e9e"}


def verdict_shares(rows: list[dict], outcomes: list[str]) -> str | None:
    """One horizontal bar per (source, teacher): the share of each outcome, stacked, with the
    number of verdicts at the end of the bar."""
    if not rows:
        return None
    fig, (ax,) = _figure(8, 0.35 * len(rows) + 1.4)
    names = [f"{r['source'] or '–'} / {r['teacher']}" for r in rows][::-1]
    left = [0.0] * len(rows)
    for outcome in outcomes:
        shares = [r[outcome] / r["total"] for r in rows][::-1]
        ax.barh(names, shares, left=left, height=0.6, color=OUTCOME_COLOURS.get(outcome, "#7f7f7f"), label=outcome)
        left = [a + b for a, b in zip(left, shares)]
    for i, r in enumerate(rows[::-1]):
        ax.annotate(f"{r['total']:,}", (1.0, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("share of current verdicts")
    ax.legend(ncols=len(outcomes), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.4 / len(rows)))
    ax.set_title("verdicts by source and teacher", loc="left", fontsize=10)
    return to_uri(fig)


def label_distribution(labels: dict[str, dict[str, int]], taxonomy) -> str | None:
    """Spans per label, one bar per annotator (hatched), bars in the taxonomy's label colours."""
    if not labels:
        return None
    names = list(taxonomy.names) + sorted({lab for c in labels.values() for lab in c} - set(taxonomy.names))
    colours = {lab.name: lab.color for lab in taxonomy.labels}
    who = list(labels)
    width = 0.8 / len(who)
    fig, (ax,) = _figure(9, 3.6)
    for k, annotator in enumerate(who):
        xs = [i + (k - (len(who) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [labels[annotator].get(n, 0) for n in names], width=width * 0.95,
               color=[colours.get(n, "#999999") for n in names], hatch=ANNOTATOR_HATCHES[k % len(ANNOTATOR_HATCHES)],
               edgecolor="white", label=annotator)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("spans")
    legend = ax.legend(title="annotator (hatch)", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_facecolor("#bbbbbb")
    return to_uri(fig)


def spans_histogram(per_traj: dict[str, dict[int, int]]) -> str | None:
    """Trajectories per number of spans (a histogram computed in SQL), one line per annotator."""
    if not any(per_traj.values()):
        return None
    top = max(max(h) for h in per_traj.values() if h)
    fig, (ax,) = _figure(7, 3)
    for k, (who, hist) in enumerate(per_traj.items()):
        xs = list(range(0, top + 2))
        total = sum(hist.values())
        mean = sum(n * c for n, c in hist.items()) / max(total, 1)
        ax.step(xs, [hist.get(x, 0) for x in xs], where="mid", linewidth=2, color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
                label=f"{who} (mean {mean:.1f})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("spans per annotated trajectory")
    ax.set_ylabel("trajectories")
    ax.legend(fontsize=8)
    return to_uri(fig)


def agreement_heatmaps(agreement: dict) -> str | None:
    """Overlap F1 and token kappa between every pair (row = prediction, column = reference)."""
    if not agreement:
        return None
    names = agreement["names"]
    size = 1.2 + 0.7 * len(names)
    fig, axes = _figure(2 * size + 1, size, ncols=2)
    for ax, key, title in zip(axes, ("overlap_f1", "kappa"), ("span F1 (overlap)", "token Cohen's kappa")):
        grid = [[math.nan if v is None else v for v in row] for row in agreement[key]]
        ax.imshow(grid, vmin=-0.2 if key == "kappa" else 0.0, vmax=1.0, cmap="viridis")
        for i, row in enumerate(agreement[key]):
            for j, v in enumerate(row):
                ax.text(j, i, "–" if v is None else f"{v:.2f}", ha="center", va="center", fontsize=9,
                        color="white" if v is not None and v < 0.6 else "black")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("reference")
        ax.set_ylabel("prediction")
        ax.set_title(title, fontsize=10)
    return to_uri(fig)


def confusion_matrix(pair: dict) -> str | None:
    """Tokens by the label `a` gave them (rows) and the label `b` gave them (columns), "O" for none;
    colour: share of the row, text: token count."""
    conf = pair.get("confusion")
    if not conf or not any(any(row) for row in conf["matrix"]):
        return None
    names, grid = conf["labels"], conf["matrix"]
    size = 1.6 + 0.55 * len(names)
    fig, (ax,) = _figure(size + 1, size)
    shares = [[v / sum(row) if sum(row) else math.nan for v in row] for row in grid]
    ax.imshow(shares, vmin=0.0, vmax=1.0, cmap="Blues")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=8,
                    color="white" if not math.isnan(shares[i][j]) and shares[i][j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel(f"{pair['b']} (tokens)", fontsize=8)
    ax.set_ylabel(f"{pair['a']} (tokens)", fontsize=8)
    ax.set_title("label confusion", fontsize=10)
    return to_uri(fig)


def tagger_curve(tagger: dict) -> str | None:
    """The learned tagger's learning curve: held-out token kappa against training trajectories
    (log x), the rules tagger's kappa on the same held-out part as a dashed horizontal line."""
    pts = [(r["n"], r["kappa"]) for r in tagger.get("curve", []) if isinstance(r.get("kappa"), (int, float))]
    if not pts:
        return None
    fig, (ax,) = _figure(6, 3)
    xs, ys = zip(*pts)
    ax.plot(xs, ys, marker="o", markersize=4, color=SERIES_COLOURS[0], label="learned tagger")
    for x, y in pts:
        ax.annotate(f"{y:.2f}", (x, y), xytext=(0, 5), textcoords="offset points", ha="center", fontsize=7)
    rules = tagger.get("rules", {}).get("kappa")
    if isinstance(rules, (int, float)):
        ax.axhline(rules, color=SERIES_COLOURS[1], linestyle="--", linewidth=1.2, label=f"rules tagger ({rules:.2f})")
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:,}" for x in xs], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("training trajectories (log scale)")
    ax.set_ylabel("token Cohen's kappa (held out)")
    ax.set_ylim(min(0.0, *ys, rules if isinstance(rules, (int, float)) else 0.0) - 0.05, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    return to_uri(fig)


_PANELS = (("loss", ("loss", "loss_sft", "loss_grpo", "loss_sd", "loss_kl_ref")),
           ("pass rate", ("pass_rate_unguided", "pass_rate_guided", "reward_mean")),
           ("alpha (SGPO weight)", ("alpha_mean", "alpha_nonzero_frac", "kl_clipped_frac")))


def training_curves(run: dict) -> str | None:
    """Loss parts, pass rates (unguided / guided) and alpha per step of one trainer run."""
    rows = [m for m in run["metrics"] if isinstance(m.get("step"), (int, float))]
    if not rows:
        return None
    fig, axes = _figure(12, 3, ncols=3)
    for ax, (title, keys) in zip(axes, _PANELS):
        drawn = 0
        for k, key in enumerate(keys):
            pts = [(m["step"], m[key]) for m in rows if isinstance(m.get(key), (int, float))]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", markersize=3, color=SERIES_COLOURS[k], label=key)
                drawn += 1
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"not logged by {run['algo']}", ha="center", va="center", transform=ax.transAxes,
                    color="#777777")
        if title != "loss":
            ax.set_ylim(-0.05, 1.05)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    return to_uri(fig)


def eval_accuracy(evaluation: dict, label) -> str | None:
    """Accuracy per split (original first, then perturbations), one bar per model."""
    results, splits = evaluation.get("results") or [], evaluation.get("splits") or []
    if not results or not splits:
        return None
    width = 0.8 / len(results)
    fig, (ax,) = _figure(9, 3.4)
    for k, r in enumerate(results):
        xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(splits))]
        accs = [r.get("accuracy", {}).get(s, 0.0) for s in splits]
        ax.bar(xs, accs, width=width * 0.95, color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
               label=label(r.get("model", "?")))
        for x, acc in zip(xs, accs):
            ax.annotate(f"{acc:.2f}", (x, acc), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
    ax.set_xticks(range(len(splits)), [s.removeprefix("test_") for s in splits], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.axvline(0.5, color="#999999", linewidth=0.8, linestyle="--")
    ax.legend(fontsize=8)
    return to_uri(fig)
