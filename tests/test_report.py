"""The HTML report: built from real demo outputs (lake, export, tiny trainer runs, eval) and opened
in headless Chromium; escaping, empty sections and the command's one-line errors.

    .venv/bin/pytest tests/test_report.py
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipeline.report import ReportError, build_report
from pipeline.report.command import register
from pipeline.report.gather import stage_totals
from pipeline.report.render import highlight_spans
from schemas import Problem, Span, Strategy, Trajectory, content_id, normalise_text, text_sha, to_arrow
from test_report_fixtures import demo_root
from warehouse import Lake

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
HEADINGS = ["Stages", "Verdicts", "Strategy labels", "Spans per trajectory", "Agreement between annotators and gold",
            "Annotation team: the lead's page", "The learned tagger", "Trajectories with their spans", "Strategy descriptions and leakage checks",
            "Export", "Training curves", "Evaluation: original versus perturbed problems"]

app = typer.Typer()
register(app)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return demo_root(tmp_path_factory)


@pytest.fixture(scope="module")
def report(demo: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(app, ["--root", str(demo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report written to {out}" in result.output.replace("\n", "")
    return out


def test_report_renders_in_chromium(report: Path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is absent (apt-get install chromium; .ci/run installs it)")
    from PIL import Image
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            headings = page.locator("h2").all_inner_texts()
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, e.naturalHeight])")
            marks = page.locator("mark.span").count()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert headings == HEADINGS
    assert {"rows per table", "verdicts by source and teacher", "strategy label distribution", "spans per trajectory", "agreement matrix", "rows per split",
            "training curves sft", "training curves sgpo", "accuracy per split"} <= {alt for alt, *_ in images}, images
    assert all(ok and w > 0 and h > 0 for _, ok, w, h in images), images
    assert marks > 0
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # nothing from the network
    with Image.open(shot) as im:
        assert im.height > 3000
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500, "the screenshot looks blank"


def test_report_shows_every_stage(report: Path, demo: Path):
    html = report.read_text()
    for stage in ("ingest", "verify", "annotate", "describe", "curate"):
        assert f"<td>{stage}</td>" in html
    assert "Nothing was quarantined" not in html  # the broken sample line was
    # per-stage totals: ingest read 73 lines, accepted 72, quarantined 1, no duplicates
    assert re.search(r'<td>ingest</td><td class="num">1</td><td class="num ">0</td>\s*<td class="num">73</td>'
                     r'<td class="num">72</td><td class="num">1</td>\s*<td class="num">0</td>', html)
    with Lake.open(demo, read_only=True) as lake:
        reasons = [r[0] for r in lake.rows("SELECT DISTINCT reason FROM quarantine")]
        n_spans = lake.scalar("SELECT count(*) FROM spans WHERE annotator = 'rules'")
    assert reasons and all(_escaped(r) in html for r in reasons)
    assert '<th>gold</th><th>rules</th>' in html and "rules against gold, per label" in html
    assert re.search(r"rules \(\d+ spans\)", html) and re.search(r"gold \(\d+ spans\)", html)
    assert "<td>rules</td><td class=\"num\">" in html and f"{n_spans:,}" in html
    assert "leak-free" in html and "Problem type:" in html
    assert "<h3>By source and teacher</h3>" in html and "No verdicts in the lake yet" not in html
    with Lake.open(demo, read_only=True) as lake:
        for source, teacher, total in lake.rows(
                "SELECT p.source, t.teacher, count(DISTINCT t.trajectory_id) FROM verdicts v "
                "JOIN trajectories t USING (trajectory_id) JOIN problems p USING (problem_id) GROUP BY ALL"):
            cells = rf'<td>{re.escape(source)}</td><td>{re.escape(teacher)}</td>(<td class="num">[\d,]+</td>){{4}}'
            assert re.search(cells + rf'<td class="num">{total:,}</td>', html), (source, teacher, total)
    assert "sft: sft on tiny" in html and "sgpo: sgpo on tiny" in html
    assert "sft/final" in html and "sgpo/final" in html and "test_original" in html
    assert "Export <b>demo</b>" in html and "Strategy labels in the models" not in html  # eval ran without --strategies
    assert "No Label Studio work in this lake yet" in html  # the lead's page, before anything was pushed
    assert "Not trained: no <code>tagger-train</code> run in this lake" in html  # the learned tagger's section
    assert "http://" not in html and "https://" not in html


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def test_stage_totals_sum_runs_and_leave_unknown_counts_empty():
    runs = [{"stage": "ingest", "status": "ok", "seconds": 1.5, "counts": {"read": 3, "accepted": 2, "quarantined": 1}},
            {"stage": "verify", "status": "ok", "seconds": None, "counts": {"read": 2, "correct": 2}},
            {"stage": "ingest", "status": "failed", "seconds": 0.5, "counts": {"read": 4, "accepted": 4}}]
    assert stage_totals(runs) == [
        {"stage": "ingest", "runs": 2, "failed": 1, "read": 7, "accepted": 6, "quarantined": 1, "duplicates": None,
         "seconds": 2.0},
        {"stage": "verify", "runs": 1, "failed": 0, "read": 2, "accepted": None, "quarantined": None, "duplicates": None,
         "seconds": 0.0}]


def test_highlight_spans_escapes_and_colours():
    text = 'a <b>"x"</b> & c'
    html = highlight_spans(text, [(2, 5, "planning"), (0, 12, "verification")], {"planning": "#111111"})
    assert str(html) == (
        '<mark class="span" style="--c:#999999" title="verification" data-label="verification">a </mark>'
        '<mark class="span" style="--c:#111111" title="planning, verification" data-label="planning">&lt;b&gt;</mark>'
        '<mark class="span" style="--c:#999999" title="verification" data-label="verification">'
        '&#34;x&#34;&lt;/b&gt;</mark> &amp; c')
    assert str(highlight_spans("plain", [], {})) == "plain"


def _hostile_lake(root: Path) -> None:
    """One problem whose question and trajectory hold HTML, with gold and rules spans."""
    question = "<script>alert('q')</script> What is 2 + 3?"
    text = "First, find the sum: <img src=x onerror=alert(1)> 2 + 3 = 5.\nLet me check: 5 - 3 = 2. The answer is 5."
    pid = content_id("problem", "hostile", normalise_text(question), "5")
    tid = content_id("trajectory", pid, "t", text_sha(normalise_text(text)))
    spans = [Span(span_id=content_id("span", tid, s, e, lab, kind, who, ""), trajectory_id=tid, text_sha=text_sha(text),
                  start=s, end=e, label=lab, annotator_kind=kind, annotator=who, alignment="segment", run_id="r")
             for s, e, lab, kind, who in ((0, 61, "decomposition", "gold", "teacher"),
                                          (62, 86, "verification", "gold", "teacher"),
                                          (0, 20, "decomposition", "rule", "rules"),
                                          (62, 75, "verification", "llm", "llm"))]
    with Lake.open(root) as lake:
        lake.insert("problems", to_arrow([Problem(problem_id=pid, source="hostile", question=question,
                                                  reference_answer="5")], Problem))
        lake.insert("trajectories", to_arrow([Trajectory(trajectory_id=tid, problem_id=pid, teacher="t", text=text,
                                                         text_sha=text_sha(text), n_chars=len(text))], Trajectory))
        lake.insert("spans", to_arrow(spans, Span))
        lake.insert("strategies", to_arrow([
            Strategy(strategy_id=f"s{i}", problem_id=pid, source_trajectory_id=tid, problem_type="<i>sum</i>",
                     approach="Add the two numbers.", steps=steps, leakage_flags=flags, rank=rank,
                     annotator_kind="rule", annotator="rules")
            for i, (steps, flags, rank) in enumerate(((["Add them."], [], 1), (["Add them to get 5."], ["answer:5"], None)))],
            Strategy))


def test_report_escapes_data_and_says_what_is_missing(tmp_path: Path):
    _hostile_lake(tmp_path / "lake")
    with Lake.open(tmp_path / "lake", read_only=True) as lake:
        out = build_report(lake, export_dir=None, run_dirs=[], eval_json=None, out=tmp_path / "r.html")
    html = out.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;q&#39;)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "teacher" not in re.findall(r"<th>([^<]*)</th>", html)  # gold spans are listed as gold
    assert "rules against gold, per label" in html and "llm against gold, per label" in html
    assert "<th>llm</th><th>rules</th><th>gold</th>" in html  # the 3 x 3 matrix, gold last
    assert "&lt;i&gt;sum&lt;/i&gt;" in html and "2 candidate descriptions" in html
    assert "flagged answer:5" in html and "<li>Add them to get 5.</li>" in html and html.count("leak-free</span>") == 2
    for message in ("No stage runs recorded", "Nothing was quarantined", "No export given", "No trainer runs given", "No evaluation given"):
        assert message in html, message


def test_report_of_runs_only_without_a_lake(demo: Path, tmp_path: Path):
    evaluation = json.loads((demo / "runs" / "eval.json").read_text())
    evaluation["results"][1]["strategy_counts"] = {"planning": 3, "verification": 1}  # as `eval --strategies` writes
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    out = build_report(None, export_dir=None, run_dirs=[demo / "runs" / "sgpo"], eval_json=tmp_path / "eval.json",
                       out=tmp_path / "sub" / "r.html")
    html = out.read_text()
    assert "Strategy labels in the models' outputs" in html
    assert re.search(r"planning</td><td class=\"num\">0</td><td class=\"num\">3</td>", html)
    assert "sgpo: sgpo on tiny" in html and "No strategy spans in the lake yet" in html
    assert "No strategy descriptions in the lake yet" in html and "No export given" in html
    assert html.count("data:image/png;base64,") == 2  # training curves + eval accuracy
    with pytest.raises(ReportError, match="nothing to report"):
        build_report(None, export_dir=None, run_dirs=[], eval_json=None, out=tmp_path / "x.html")


def _fails(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output


def test_report_command_errors(tmp_path: Path, demo: Path):
    empty = tmp_path / "nothing"
    _fails(["--root", str(empty), "--out", str(tmp_path / "r.html")], "nothing to report")
    Lake.open(tmp_path / "empty-lake").close()  # tables exist, no rows
    _fails(["--root", str(tmp_path / "empty-lake"), "--out", str(tmp_path / "r.html")], "nothing to report")
    assert not (tmp_path / "r.html").exists()
    _fails(["--root", str(demo), "--export", "../demo", "--out", str(tmp_path / "r.html")], "plain folder name")
    _fails(["--root", str(demo), "--export", "nope", "--out", str(tmp_path / "r.html")], "exports there: demo")
    _fails(["--root", str(demo), "--runs", str(tmp_path), "--out", str(tmp_path / "r.html")], "no metrics.jsonl")
    _fails(["--root", str(demo), "--eval", str(tmp_path / "missing.json")], "no such file")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"splits": []}))
    _fails(["--root", str(demo), "--eval", str(bad), "--out", str(tmp_path / "r.html")], "not a `stratagem eval")
    (tmp_path / "file").write_text("")
    _fails(["--root", str(demo), "--out", str(tmp_path / "file" / "r.html")], "cannot write")
