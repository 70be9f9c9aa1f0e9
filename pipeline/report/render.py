"""Build the static HTML report: gather, plot, fill the packaged jinja2 template, write one file.

    from pipeline.report import build_report
    with Lake.open(root, read_only=True) as lake:
        build_report(lake, export_dir=root / "exports/demo", run_dirs=[root / "runs/sft", root / "runs/sgpo"],
                     eval_json=root / "runs/eval.json", out=root / "report.html")

The file needs no server and loads nothing from the network (plots are embedded PNGs).
Every text from the data is HTML-escaped (jinja2 autoescape; spans via `highlight_spans`).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from pipeline.report.gather import RUNS_SHOWN, ReportData, ReportError, gather

TEMPLATE = "report.html.j2"


def highlight_spans(text: str, spans: list[tuple[int, int, str]], colours: dict[str, str]) -> Markup:
    """`text` as escaped HTML with each spanned stretch in a <mark> coloured by its label. Where
    spans overlap, the shortest span's label colours the stretch and the title lists all labels."""
    cuts = sorted({0, len(text)} | {max(0, min(p, len(text))) for s, e, _ in spans for p in (s, e)})
    parts = []
    for a, b in zip(cuts, cuts[1:]):
        piece = escape(text[a:b])
        over = sorted((e - s, lab) for s, e, lab in spans if s <= a and b <= e)
        if not over:
            parts.append(piece)
            continue
        label = over[0][1]
        title = ", ".join(dict.fromkeys(lab for _, lab in over))
        parts.append(Markup('<mark class="span" style="--c:{}" title="{}" data-label="{}">{}</mark>').format(
            colours.get(label, "#999999"), title, label, piece))
    return Markup("").join(parts)


def model_label(name: str) -> str:
    """`.../runs/sgpo/final` -> `sgpo/final`; presets stay as they are."""
    parts = Path(name).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else name


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    env.filters["model_label"] = model_label
    return env


def render(data: ReportData) -> str:
    from pipeline.report import plots  # matplotlib: loaded only when a report is drawn, not at CLI start-up

    tax = data.taxonomy
    colours = {lab.name: lab.color for lab in tax.labels}
    for ex in data.examples:
        ex["html"] = {who: highlight_spans(ex["text"], spans, colours) for who, spans in ex["annotations"].items()}
    for pair in data.lead.get("pairs", []):
        pair["figure"] = plots.confusion_matrix(pair)
        for dis in pair.get("disagreements", []):
            dis["html_a"] = highlight_spans(dis["text"], dis["a"], colours)
            dis["html_b"] = highlight_spans(dis["text"], dis["b"], colours)
    stage_rows = {}
    for run in data.runs:
        stage_rows[run["stage"]] = stage_rows.get(run["stage"], 0) + int(run["counts"].get("read", 0) or 0)
    figures = {
        "tables": plots.bar_counts({k: v for k, v in data.tables.items() if v}, "rows per table"),
        "quarantine": plots.bar_counts({f"{q['stage']}: {q['reason'][:60]}": q["n"] for q in data.quarantine[:15]},
                                       "quarantined inputs by stage and reason", colour="#c44e52")
        if len(data.quarantine) > 1 else None,
        "verdicts": plots.verdict_shares(data.verdicts.get("by_source_teacher", []), data.verdicts.get("outcomes", [])),
        "labels": plots.label_distribution(data.labels, tax),
        "spans": plots.spans_histogram(data.spans_per_trajectory),
        "agreement": plots.agreement_heatmaps(data.agreement),
        "tagger": plots.tagger_curve(data.tagger),
        "splits": plots.bar_counts(data.export.get("counts", {}), "rows per split") if data.export else None,
        "eval": plots.eval_accuracy(data.evaluation, model_label),
    }
    span_stats = {who: {"trajectories": sum(h.values()), "spans": sum(n * c for n, c in h.items()),
                        "max": max(h) if h else 0} for who, h in data.spans_per_trajectory.items()}
    for run in data.training:
        run["figure"] = plots.training_curves(run)
        run["last"] = run["metrics"][-1] if run["metrics"] else {}
    return _environment().get_template(TEMPLATE).render(
        d=data, figures=figures, span_stats=span_stats, run_limit=RUNS_SHOWN, colours=colours, labels=tax.labels,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def build_report(lake, *, export_dir: Path | None, run_dirs: list[Path], eval_json: Path | None, out: Path) -> Path:
    """Write the HTML report of `lake` (may be None), an export folder, trainer run folders and an
    eval JSON to `out`; returns `out`. Raises ReportError when there is nothing to report."""
    data = gather(lake, export_dir=export_dir, run_dirs=list(run_dirs), eval_json=eval_json)
    if data.is_empty():
        where = f" at {lake.root}" if lake is not None else ""
        raise ReportError(f"nothing to report{where}: the lake is empty and no export, trainer run or eval report "
                          "was given (run `stratagem demo` first)")
    html = render(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = ["ReportError", "build_report", "highlight_spans", "render"]
