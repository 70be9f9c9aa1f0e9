"""The report's lead's page (pipeline/report/lead.py) on a lake two Label Studio annotators left:
per-annotator counts, the queue, agreement per pair and per label with a confusion matrix and only
the differing spans, quarantine per annotator, candidate choices; "not recorded" for what the lake
does not hold, the recorded figures once `review pull` stores its per-annotation rows.

    .venv/bin/pytest tests/test_report_lead.py
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.report import build_report
from pipeline.report.lead import gather_lead
from schemas import load_taxonomy, to_arrow
from schemas.models import TABLES
from test_people_fixtures import A, B, TAG_A5, TAG_A6, TAG_B7, TAG_B8, people_lake
from warehouse import Lake

CHROMIUM = Path("/usr/bin/chromium")


def _row(html: str, first: str, n: int, after: str = "") -> list[str]:
    """The text of the n cells after the row's first cell `first` (the first such row after `after`)."""
    html = html[html.index(after):]
    m = re.search(rf"<tr><td>{re.escape(first)}</td>((?:\s*<td[^>]*>.*?</td>){{{n}}})", html, re.S)
    assert m, first
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", m.group(1), re.S)]


@pytest.fixture
def people(tmp_path):
    root = tmp_path / "lake"
    return root, people_lake(root)


def _report(root: Path, out: Path) -> str:
    with Lake.open(root, read_only=True) as lake:
        build_report(lake, export_dir=None, run_dirs=[], eval_json=None, out=out)
    return out.read_text()


def test_lead_page_from_spans_strategies_reviews_and_quarantine(people, tmp_path):
    root, ids = people
    html = _report(root, tmp_path / "r.html")
    lead = html[html.index('<section id="lead">'):html.index('<section id="trajectories">')]
    nr = "not recorded"
    # annotator, tasks, annotations, trajectories, spans, strategy choices, edited, mean rating, time, skipped, none usable, quarantined
    assert _row(lead, A, 11) == ["2", "2", "2", "2", "1", "0", "4.00", nr, nr, nr, "0"]
    assert _row(lead, B, 11) == ["2", "2", "2", "3", "1", "1", "2.00", nr, nr, nr, "2"]
    assert _row(lead, "1", 4) == ["4", "3", nr, "1"]  # project 1: pushed, submitted, skipped, pending
    # pairs: a (prediction), b (reference), trajectories, in part, left out, exact F1, overlap F1, kappa, alpha
    pairs = "<h3>Agreement per pair</h3>"
    assert _row(lead, A, 8, pairs)[:5] == [B, "1", "0", "1", "0.00"]  # the split trajectory: parts that do not meet
    assert _row(lead, "rules", 8, pairs)[:7] == [A, "2", "1", "0", "1.00", "1.00", "1.00"]  # part 2 of A's split is not a miss
    assert f"label confusion rules vs {B}" in lead and f"label confusion {A} vs {B}" in lead
    # the differing spans only: B's "Wait" as backtracking; the verification span both have is not shown
    assert ('<mark class="span" style="--c:' in lead and 'data-label="backtracking">Wait</mark>' in lead)
    assert "characters 70–133" in lead and "First, find the total" not in lead.split("Disagreements")[-1]
    assert f"only {B} (1)" in lead and "No differing spans: every span matches exactly." in lead
    assert _row(lead, "candidate 2", 2) == ["1", "0.50"] and _row(lead, "edited", 2) == ["1", "0.50"]
    assert "Inferred: a person" in lead and "2: 1, 4: 1" in lead
    assert re.search(r"leak-flag rate</th><td class=\"num\">0.50</td>", lead)
    assert _row(lead, B, 2, "Quarantine per annotator") == [
        "label &#39;guessing&#39; is not in the taxonomy", "1"]  # an older pull's row: its annotation's owner
    assert "<td>span text differs from the task text</td>" in lead  # a newer one names the annotator
    assert _row(lead, "Label Studio user 3", 2, "Quarantine per annotator") == ["task could not be read", "1"]
    assert lead.count(nr) >= 7


def _record(root: Path, ids: dict) -> None:
    """Per-annotation rows as `review pull` stores them (the columns the lead's page reads)."""
    model = TABLES["annotations"]
    tid = ids["tid"]
    rows = [(A, TAG_A5, tid["split"], 0, 30.0, False, 2, False, False, [], 4),
            (A, TAG_A6, tid["short"], 0, 50.0, False, None, True, False, [], None),
            (B, TAG_B7, tid["split"], 1, 20.0, False, None, False, False, [], None),
            (B, TAG_B8, tid["short"], 0, 100.0, False, None, False, True, [1], 2),
            (B, "p1.t0.a12@2024-05-03T00:00:00Z", tid["other"], 0, 5.0, True, None, False, False, [], None)]
    keys = ("annotator", "annotator_version", "trajectory_id", "part", "lead_time", "skipped", "candidate_rank",
            "none_usable", "edited", "leak_candidates", "rating")
    items = []
    for values in rows:
        row = dict(zip(keys, values))
        row |= {"ls_project": 1, "ls_task_id": 1, "ls_annotation_id": int(row["annotator_version"].split(".a")[1].split("@")[0]),
                "run_id": "run-human"}
        items.append(model(**{k: v for k, v in row.items() if k in model.model_fields}))
    with Lake.open(root) as lake:
        lake.insert("annotations", to_arrow(items, model))


def test_lead_page_reads_the_per_annotation_rows(people, tmp_path):
    root, ids = people
    _record(root, ids)
    with Lake.open(root, read_only=True) as lake:
        lead = gather_lead(lake, load_taxonomy())
    people_rows = {a["annotator"]: a for a in lead["annotators"]}
    assert people_rows[A]["median_lead_time"] == 40.0 and people_rows[B]["median_lead_time"] == 20.0
    assert (people_rows[B]["skipped"], people_rows[A]["none_usable"]) == (1, 1)
    assert lead["queue"] == [{"project": 1, "pushed": 4, "submitted": 3, "skipped": 1, "pending": 0}]
    c = lead["candidates"]
    assert c["source"] == "recorded" and {r["choice"]: r["n"] for r in c["ranks"]} == {
        2: 1, "none usable": 1, "edited, no candidate": 1}
    assert c["none_usable_rate"] == c["leak_rate"] == c["edit_rate"] == pytest.approx(1 / 3)
    html = _report(root, tmp_path / "r.html")
    assert "Time per task, skips" not in html and "As recorded by review pull." in html


def test_lead_page_renders_in_chromium(people, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    root, _ = people
    out = tmp_path / "r.html"
    _report(root, out)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(out.as_uri(), wait_until="load")
            lead = page.locator("#lead")
            headings = lead.locator("h3").all_inner_texts()
            images = lead.evaluate("el => [...el.querySelectorAll('img')].map(e => [e.alt, e.naturalWidth])")
            marks = lead.locator("mark.span").count()
        finally:
            browser.close()
    assert {"Annotators", "Queue", "Agreement per pair", "Strategy candidates", "Quarantine per annotator"} <= set(headings)
    assert len(images) == 3 and all(w > 0 for _, w in images) and marks == 5
