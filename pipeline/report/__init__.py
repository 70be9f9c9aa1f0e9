"""The HTML report: one static file (no server, no CDN) showing every stage of a lake, an
export, trainer runs and an evaluation, with embedded plots.

    stratagem report --root stratagem-data --export demo --runs stratagem-data/runs/sft --out report.html

    from pipeline.report import build_report, ReportError
    build_report(lake, export_dir=..., run_dirs=[...], eval_json=..., out=Path("report.html"))

Modules: gather.py (read the lake read-only, the export manifest, metrics.jsonl, eval.json),
lead.py (the lead's page: the annotation team's counts, queue, agreement per pair, choices),
plots.py (matplotlib -> base64 PNG), render.py (jinja2 template report.html.j2 -> file),
command.py (the `stratagem report` command), verdicts.py (the current verdict per trajectory and
the verdict breakdown, also read by `stratagem status` and `stratagem curate`).

The names below load on first use, so `pipeline.report.verdicts` can be imported without jinja2
and the trainer's metrics reader.
"""
from __future__ import annotations

__all__ = ["ReportError", "build_report"]


def __getattr__(name: str):
    if name == "ReportError":
        from pipeline.report.gather import ReportError
        return ReportError
    if name == "build_report":
        from pipeline.report.render import build_report
        return build_report
    raise AttributeError(f"module 'pipeline.report' has no attribute {name!r}")
