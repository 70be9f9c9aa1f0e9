"""The HTML report's verdict section (current verdicts by source and teacher, by extraction
method, a sample of incorrect and unknown rows), each training run's learning-signal figures
from signal.json with its warning line, and the demo's one-sentence claim from demo.json.
Real DuckLake in tmp_path; run folders written with the trainer's own MetricsWriter.

    .venv/bin/python -m pytest tests/test_report_verdicts.py -q
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.report import ReportError, build_report
from schemas import Problem, Span, content_id, text_sha, to_arrow
from test_status_verdicts import verdict_lake
from trainer.metrics import MetricsWriter
from warehouse import Lake

SIGNAL = {"algo": "sgpo", "steps": 30, "nonzero_grad_share": 0.0, "reward_variance_group_share": 0.0,
          "alpha_positive_share": 0.0, "targets_per_step": 0.0, "kl_per_target": None, "clipped_token_share": 0.0,
          "truncated_completion_share": 1.0, "left_cut_prompt_share": 0.25, "guided_prompts_without_strategy": 3,
          "warning": "no step had a learning signal: every completion was cut before EOS / answer "
                     "(set max_completion_length >= 260)"}


def run_folder(path: Path, algo: str, signal: dict | str | None) -> Path:
    path.mkdir(parents=True)
    writer = MetricsWriter(path / "metrics.jsonl")
    for step in (1, 2):
        writer.write({"step": step, "loss": 0.5 / step, "lr": 1e-4})
    writer.close()
    (path / "config.json").write_text(json.dumps({"algo": algo, "model": "tiny", "max_steps": 2}))
    if signal is not None:
        (path / "signal.json").write_text(signal if isinstance(signal, str) else json.dumps(signal))
    return path


def _report(root: Path, run_dirs: list[Path]) -> str:
    with Lake.open(root, read_only=True) as lake:
        return build_report(lake, export_dir=None, run_dirs=run_dirs, eval_json=None,
                            out=root.parent / "r.html").read_text()


def test_report_shows_verdicts_by_source_method_and_samples(lake_root):
    tids = verdict_lake(lake_root)
    html = _report(lake_root, [])
    assert '<section id="verdicts">' in html and "No verdicts in the lake yet" not in html
    assert '<img class="plot" alt="verdicts by source and teacher" src="data:image/png;base64,' in html
    assert "the newest checker version's: answers-2 on 7" in html
    num = '<td class="num">{}</td>'
    row = "<td>gsm8k</td><td>t1</td>" + "".join(num.format(n) for n in (2, 1, 0, 0, 3))
    assert row in html
    assert "<td>last_number</td>" + "".join(num.format(n) for n in (0, 0, 1, 0, 1)) in html
    for tid in (tids[2], tids[3], tids[4], tids[5]):
        assert f'<td class="muted">{tid}</td>' in html
    assert tids[0] not in html
    assert "<td>[/b] &lt;i&gt;9&lt;/i&gt;</td>" in html and "<i>9</i>" not in html
    assert "What this demo shows" not in html


def test_report_shows_learning_signal_warning_and_demo_claim(lake_root, tmp_path):
    verdict_lake(lake_root)
    claim = "The mechanism on a toy-sized model <not the paper's claim>: SGPO moves weights the SFT run left."
    (lake_root / "demo.json").write_text(json.dumps({"quick": True, "model": "tiny", "what_it_shows": claim}))
    sgpo = run_folder(tmp_path / "runs" / "sgpo", "sgpo", SIGNAL | {"future_figure": 0.5})
    sft = run_folder(tmp_path / "runs" / "sft", "sft", None)  # an older run folder: no signal.json
    html = _report(lake_root, [sft, sgpo])
    assert ("<b>What this demo shows:</b> The mechanism on a toy-sized model &lt;not the paper&#39;s claim&gt;: "
            "SGPO moves weights the SFT run left.") in html
    sgpo_part = html[html.index("sgpo: sgpo on tiny"):]
    for label, value in (("optimiser steps", "30"), ("share of steps with nonzero grad norm", "0.000"),
                         ("completions cut before EOS / answer", "1.000"), ("prompts cut from the left", "0.250"),
                         ("guided prompts without their strategy", "3"), ("future_figure", "0.500")):
        assert f'<tr><td>{label}</td><td class="num">{value}</td></tr>' in sgpo_part, label
    assert "KL per target" not in html  # null: does not apply
    assert ('<p class="warning">warning: no step had a learning signal: every completion was cut before EOS / '
            "answer (set max_completion_length &gt;= 260)</p>") in sgpo_part
    sft_part = html[html.index("sft: sft on tiny"):html.index("sgpo: sgpo on tiny")]
    assert "No signal.json in" in sft_part and "learning signal (signal.json)" not in sft_part


def test_run_without_warning_and_broken_signal_file(lake_root, tmp_path):
    verdict_lake(lake_root)
    ok = run_folder(tmp_path / "ok", "sft", {"algo": "sft", "steps": 2, "nonzero_grad_share": 1.0, "warning": None})
    html = _report(lake_root, [ok])
    assert "No learning-signal warning for this run." in html and 'class="warning"' not in html
    for broken in ("{not json", "[1, 2]"):
        folder = run_folder(tmp_path / f"bad{len(broken)}", "sft", broken)
        with pytest.raises(ReportError, match="cannot read trainer run"):
            _report(lake_root, [folder])


def test_report_of_a_lake_without_verdicts_says_so(lake_root, tmp_path):
    with Lake.open(lake_root) as lake:
        lake.insert("problems", to_arrow([Problem(problem_id="p", source="s", question="q?")], Problem))
    html = _report(lake_root, [])
    assert "No verdicts in the lake yet (run <code>stratagem verify</code>)." in html


def test_trajectory_cards_show_the_current_verdict(lake_root):
    tids = verdict_lake(lake_root)  # tids[3]: unknown under answers-2, correct under the older answers-1
    text = "solution 3"
    with Lake.open(lake_root) as lake:
        span = Span(span_id=content_id("span", tids[3]), trajectory_id=tids[3], text_sha=text_sha(text), start=0,
                    end=8, label="planning", annotator_kind="rule", annotator="rules", alignment="segment", run_id="r")
        lake.insert("spans", to_arrow([span], Span))
    html = _report(lake_root, [])
    card = html[html.index('<div class="card">'):]
    card = card[:card.index("</p>", card.index("Reference answer"))]
    assert "teacher t2" in card and '<span class="muted">unknown</span>' in card and "correct" not in card
