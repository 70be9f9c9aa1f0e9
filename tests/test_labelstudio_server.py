"""Label Studio human-in-the-loop against a real server (and a real browser), started by the
tests through `stratagem labelstudio start` in a scratch folder with a scratch HOME.

    .venv/bin/pytest tests/test_labelstudio_server.py        # first ever run installs the server (~80 s)
    .venv/bin/pytest -m "not labelstudio"                     # skip these

Annotators are simulated through the REST API with two real accounts that signed up through
the organisation's invite link; one test drives Debian's chromium with Playwright.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from net import free_port
from pipeline.labelstudio import server
from pipeline.labelstudio.client import LSClient, ReviewError, connect
from pipeline.labelstudio.pull import pull
from pipeline.labelstudio.push import push
from schemas import Problem, Span, Strategy, Trajectory, content_id, load_taxonomy, normalise_text, text_sha, to_arrow
from warehouse import Lake

pytestmark = pytest.mark.labelstudio
REPO = Path(__file__).resolve().parents[1]
TAX = load_taxonomy()
ARTIFACTS = REPO / "test-artifacts"

UNICODE_TEXTS = {
    "emoji": "I'll first plan 😀 then compute 12 × 3 = 36. Let me check: 36 / 3 = 12. 🎉 The answer is \\boxed{36}.",
    "zwj": "The family 👩‍👩‍👧‍👦 has 4 members; 👨🏽‍💻 codes. Wait, recount: 4. The answer is \\boxed{4}.",
    "cjk": "首先，我们计算 3 + 4 = 7。验证：7 - 4 = 3。The answer is \\boxed{7}.",
    "combining": "Cafe\u0301 costs 5; nai\u0308ve guess 6. Actually, 5. The answer is \\boxed{5}.",
    "latex": "Recall that $\\frac{a}{b} \\cdot b = a$, so $x = \\sqrt{16} = 4$. The answer is \\boxed{4}.",
    "crlf": "Step 1: find the total.\r\nStep 2: divide by 2.\r\nLet me verify: 10 / 2 = 5.\r\nThe answer is \\boxed{5}.",
}


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def ls(tmp_path_factory):
    """The managed server, started through the CLI in a scratch folder with a scratch HOME."""
    folder = tmp_path_factory.mktemp("labelstudio")
    port = free_port()
    # scratch HOME, but the server's virtualenv stays in the shared cache (installed once, ~80 s)
    env = os.environ | {"HOME": str(folder / "scratch-home"), "STRATAGEM_CACHE": str(server.cache_root().parent)}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "labelstudio", "start", "--port", str(port),
                           "--dir", str(folder)], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"http://127.0.0.1:{port}" in proc.stdout
    info = server.status(folder)
    assert info is not None and info.token in proc.stdout
    yield info
    server.stop(folder)


@pytest.fixture(scope="session")
def annotators(ls):
    """Two real annotator accounts (invite-link sign-up) as API clients."""
    admin = LSClient(ls.url, ls.token)
    out = {}
    for name in ("ann1", "ann2"):
        token = admin.invite_user(f"{name}@stratagem.test", f"pw-{name}-0123456789")
        out[name] = LSClient(ls.url, token)
    return out


@pytest.fixture
def admin(ls):
    with LSClient(ls.url, ls.token) as client:
        yield client


@pytest.fixture
def lake(tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        yield lake


def add_trajectory(lake, name: str, text: str, spans=(), n_strategies: int = 2) -> tuple[str, str]:
    """Insert a problem, its trajectory (CRLF normalised as ingest does), rule spans over
    `(substring, label)` pairs and describer candidates; returns (trajectory_id, text)."""
    question = f"Question {name}: how much? 🙂"
    pid = content_id("problem", "test", normalise_text(question), "42")
    text = normalise_text(text)
    tid = content_id("trajectory", pid, "teacher", text_sha(text))
    lake.insert("problems", to_arrow([Problem(problem_id=pid, source="test", question=question,
                                              reference_answer="42")], Problem))
    lake.insert("trajectories", to_arrow([Trajectory(trajectory_id=tid, problem_id=pid, teacher="teacher", text=text,
                                                     text_sha=text_sha(text), n_chars=len(text))], Trajectory))
    rows = []
    for sub, label in spans:
        start = text.index(sub)
        rows.append(Span(span_id=content_id("span", tid, start, start + len(sub), label, "rule", "rules", "1"),
                         trajectory_id=tid, text_sha=text_sha(text), start=start, end=start + len(sub), label=label,
                         annotator_kind="rule", annotator="rules", annotator_version="1", confidence=0.5,
                         alignment="segment", run_id="run-rules"))
    lake.insert("spans", to_arrow(rows, Span))
    lake.insert("strategies", to_arrow([Strategy(
        strategy_id=content_id("strategy", pid, i), problem_id=pid, source_trajectory_id=tid,
        problem_type=f"type {i}", approach=f"approach {i}", steps=[f"step {i}.1", f"step {i}.2"], rank=i,
        annotator_kind="llm", annotator="describer") for i in range(1, n_strategies + 1)], Strategy))
    return tid, text


def tasks_by_key(client: LSClient, pid: int) -> dict[str, dict]:
    return {t["data"]["stratagem_key"]: t for t in client.iter_tasks(pid)}


def span_result(text: str, start: int, end: int, label: str) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def annotate(client: LSClient, task_id: int, results: list[dict]) -> dict:
    return client.json("POST", f"/api/tasks/{task_id}/annotations", json={"result": results})


def human_spans(lake, current: bool = True) -> list[tuple]:
    view = "current_spans" if current else "spans"
    return lake.rows(f'SELECT trajectory_id, start, "end", label, annotator FROM {view} '
                     "WHERE annotator_kind = 'human' ORDER BY ALL")


def _push_all(lake, client, project, **kw):
    ids = [r[0] for r in lake.rows("SELECT trajectory_id FROM trajectories ORDER BY trajectory_id")]
    return push(lake, client, TAX, select="sql:SELECT trajectory_id FROM trajectories ORDER BY trajectory_id",
                limit=100, predictions="rules", project=project, ids=ids, **kw)


# ---------------------------------------------------------------- server management
def test_a_reused_pid_is_never_taken_for_the_server(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "server.json").write_text(json.dumps({"pid": stranger.pid, "port": 1, "url": "http://x"}))
        assert server.status(tmp_path) is None and not server.stop(tmp_path)
        assert stranger.poll() is None  # still running: not ours, not signalled
    finally:
        stranger.kill()
        stranger.wait()


def test_start_leaves_a_foreign_data_folder_alone(ls, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "results.csv").write_text("precious")
    with pytest.raises(server.ServerError, match="holds no Label Studio database"):
        server.start(free_port(), tmp_path)
    assert (tmp_path / "data" / "results.csv").read_text() == "precious"


def test_server_state_busy_port_and_credentials(ls, tmp_path):
    creds = Path(ls.folder) / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert server.status(ls.folder).pid == ls.pid
    with pytest.raises(server.ServerError, match=f"port {ls.port} .* already in use"):
        server.start(ls.port, tmp_path / "other")
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "labelstudio", "start", "--port", str(ls.port),
                           "--dir", str(tmp_path / "other")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "already in use" in proc.stderr
    assert server.stop(tmp_path / "other") is False  # nothing of ours runs there: nothing is killed
    shown = subprocess.run([sys.executable, "-m", "pipeline.cli", "labelstudio", "status", "--json", "--dir", ls.folder],
                           cwd=REPO, capture_output=True, text=True)
    assert json.loads(shown.stdout)["url"] == ls.url
    assert ls.token not in shown.stdout and ls.password not in shown.stdout
    # the server listens on loopback only
    assert _listening_addresses(ls.port) == {"0100007F"}


def test_server_runs_from_its_own_venv_with_telemetry_off_on_the_migrated_template(ls):
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{ls.pid}/environ").read_text(errors="replace").split("\0") if "=" in item)
    assert environ["COLLECT_ANALYTICS"] == "false" and environ["LATEST_VERSION_CHECK"] == "false"
    assert environ["SENTRY_DSN"] == "" and environ["HOME"].startswith(ls.folder)
    assert not any(k.endswith("API_KEY") or k.startswith("OPENAI") for k in environ)  # nothing of ours leaks in
    cmdline = [Path(a.decode()) for a in Path(f"/proc/{ls.pid}/cmdline").read_bytes().split(b"\0")[:2]]
    assert any(server.cache_root() in a.parents for a in cmdline), cmdline  # its own venv under the cache
    assert not any(Path(sys.prefix) in a.parents for a in cmdline)  # never the project's venv
    assert (server.cache_root() / f"template-{server.LS_VERSION}" / ".ready").exists()  # later starts copy it
    assert (Path(ls.folder) / "data" / "label_studio.sqlite3").exists()


def _listening_addresses(port: int) -> set[str]:
    """Hex local addresses of sockets in LISTEN state on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(addr)
    return found


def test_unreachable_server_and_wrong_token_are_explained(ls, lake):
    add_trajectory(lake, "u", UNICODE_TEXTS["emoji"])
    before = lake.count("runs"), lake.count("reviews")
    with LSClient(f"http://usr:SECRETPW@127.0.0.1:{free_port()}", "x") as dead, \
            pytest.raises(ReviewError, match="cannot reach") as err:
        _push_all(lake, dead, "unreachable")
    assert "SECRETPW" not in str(err.value) and "SECRETPW" not in dead.url  # URL credentials never shown
    with LSClient(ls.url, "not-a-token") as wrong, pytest.raises(ReviewError, match="401"):
        pull(lake, wrong, TAX, project="whatever")
    assert (lake.count("runs"), lake.count("reviews")) == before
    with pytest.raises(ReviewError, match="MY_MISSING_TOKEN"):
        connect(url=ls.url, token_env="MY_MISSING_TOKEN")


# ---------------------------------------------------------------- round trip
def test_unicode_round_trip_offsets_exact(ls, admin, annotators, lake):
    cues = {"emoji": ("😀 then", "planning"), "zwj": ("👩‍👩‍👧‍👦 has", "decomposition"), "cjk": ("验证：7 - 4 = 3", "verification"),
            "combining": ("Actually, 5", "backtracking"), "latex": ("Recall that $\\frac{a}{b}", "recall"),
            "crlf": ("Let me verify", "verification")}
    tids = {name: add_trajectory(lake, name, text, [cues[name]]) for name, text in UNICODE_TEXTS.items()}
    report, pid = _push_all(lake, admin, "unicode round trip")
    assert report.counts["tasks.new"] == 6 and report.counts["predictions"] == 6
    assert admin.json("GET", f"/api/projects/{pid}")["model_version"] == "rules"
    tasks = tasks_by_key(admin, pid)
    expected = set()
    for name, (tid, text) in tids.items():
        task = tasks[f"{tid}#0"]
        assert task["data"]["text"] == text and "\r" not in task["data"]["text"]
        pred = task["predictions"][0]["result"][0]["value"]
        sub, label = cues[name]
        assert (pred["start"], pred["end"], pred["text"]) == (text.index(sub), text.index(sub) + len(sub), sub)
        # the annotator keeps the prediction and adds a span on the tricky characters
        tricky = {"emoji": "😀", "zwj": "👩‍👩‍👧‍👦", "cjk": "首先", "combining": "e\u0301", "latex": "\\sqrt{16}",
                  "crlf": "divide by 2.\n"}[name]
        s = text.index(tricky)
        annotate(annotators["ann1"], task["id"], [pred and task["predictions"][0]["result"][0],
                                                   span_result(text, s, s + len(tricky), "exploration")])
        expected |= {(tid, text.index(sub), text.index(sub) + len(sub), label, "ls:ann1@stratagem.test"),
                     (tid, s, s + len(tricky), "exploration", "ls:ann1@stratagem.test")}
    report = pull(lake, admin, TAX, project="unicode round trip")
    assert report.counts["accepted"] == 12 and report.counts["quarantined"] == 0
    assert report.counts["read"] == report.counts["accepted"] + report.counts["recorded"] + report.counts["quarantined"] + report.counts["duplicates"]
    assert set(human_spans(lake)) == expected
    for tid, start, end, label, _ in human_spans(lake):
        text = dict(tids.values())[tid]
        row = lake.rows("SELECT text_sha, alignment FROM spans WHERE trajectory_id = ? AND start = ? AND annotator_kind = 'human'",
                        [tid, start])[0]
        assert row == (text_sha(text), "human")
    # nothing changed: the next pull stores nothing new
    again = pull(lake, admin, TAX, project="unicode round trip")
    assert again.counts.get("written.spans", 0) == 0 and again.counts["annotations.unchanged"] == 6


def test_push_is_idempotent_updates_predictions_and_splits_long_texts(admin, annotators, lake):
    tid, text = add_trajectory(lake, "idem", UNICODE_TEXTS["emoji"], [("Let me check", "verification")])
    paragraphs = "\n\n".join(f"Paragraph {i}: let me check 😀 中文 value {i}." for i in range(40))
    long_tid, long_text = add_trajectory(lake, "long", paragraphs, [("Paragraph 3: let me check", "verification"),
                                                                    ("Paragraph 30", "planning")])
    first, pid = _push_all(lake, admin, "idempotent push", max_chars=400)
    n_parts = len([k for k in tasks_by_key(admin, pid) if k.startswith(long_tid)])
    assert n_parts > 1 and first.counts["tasks.new"] == 1 + n_parts
    second, _ = _push_all(lake, admin, "idempotent push", max_chars=400)
    assert second.counts["tasks.unchanged"] == 1 + n_parts and second.counts.get("written.reviews", 0) == 0
    assert len(tasks_by_key(admin, pid)) == 1 + n_parts
    # the rules annotator is rerun: the old span is superseded, a new one appears -> the task is updated
    lake.update("spans", {"superseded_by": "x"}, {"trajectory_id": tid})
    s = text.index("12 × 3")
    lake.insert("spans", to_arrow([Span(span_id="new-rule-span", trajectory_id=tid, text_sha=text_sha(text), start=s,
                                        end=s + 6, label="decomposition", annotator_kind="rule", annotator="rules",
                                        alignment="segment", confidence=0.9, run_id="run-rules-2")], Span))
    third, _ = _push_all(lake, admin, "idempotent push", max_chars=400)
    assert third.counts["tasks.updated"] == 1 and third.counts["tasks.new"] == 0
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    assert len(task["predictions"]) == 1
    assert [r["value"]["start"] for r in task["predictions"][0]["result"] if r["type"] == "labels"] == [s]
    assert lake.scalar("SELECT prediction_run_id FROM reviews WHERE trajectory_id = ?", [tid]) == "run-rules-2"
    # parts: predictions clipped per part; a span drawn on a later part comes back in full-text offsets
    parts = sorted((t for k, t in tasks_by_key(admin, pid).items() if k.startswith(long_tid)),
                   key=lambda t: t["data"]["part"])
    assert "".join(t["data"]["text"] for t in parts) == long_text
    last = parts[-1]
    sub = "Paragraph 39"
    local = last["data"]["text"].index(sub)
    annotate(annotators["ann2"], last["id"], [span_result(last["data"]["text"], local, local + len(sub), "planning")])
    pull(lake, admin, TAX, project="idempotent push")
    full = long_text.index(sub)
    assert human_spans(lake) == [(long_tid, full, full + len(sub), "planning", "ls:ann2@stratagem.test")]


def test_two_annotators_edit_delete_and_strategy_choice(admin, annotators, lake):
    tid, text = add_trajectory(lake, "two", UNICODE_TEXTS["cjk"], [("验证", "verification")], n_strategies=3)
    _, pid = _push_all(lake, admin, "two annotators")
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    assert "Candidate 3" in task["data"]["candidates"] and len(task["data"]["strategy_ids"]) == 3
    a1 = annotate(annotators["ann1"], task["id"], [
        span_result(text, 0, 2, "planning"),
        {"from_name": "best_strategy", "to_name": "text", "type": "choices", "value": {"choices": ["Candidate 2"]}},
        {"from_name": "quality", "to_name": "text", "type": "rating", "value": {"rating": 4}}])
    a2 = annotate(annotators["ann2"], task["id"], [
        span_result(text, 0, 2, "decomposition"),
        {"from_name": "strategy_edit", "to_name": "text", "type": "textarea",
         "value": {"text": ["Problem type: addition\nApproach: add then check by subtracting\nSteps:\n1. add\n2. check"]}},
        {"from_name": "leak", "to_name": "text", "type": "choices", "value": {"choices": ["Leaks the answer"]}}])
    report = pull(lake, admin, TAX, project="two annotators")
    assert report.counts["annotations.new"] == 2
    assert human_spans(lake) == sorted([(tid, 0, 2, "planning", "ls:ann1@stratagem.test"),
                                        (tid, 0, 2, "decomposition", "ls:ann2@stratagem.test")])
    strategies = {r[0]: r[1:] for r in lake.rows(
        "SELECT annotator, problem_type, approach, steps, selected, edited, rating, leakage_flags FROM current_strategies "
        "WHERE annotator_kind = 'human'")}
    assert strategies["ls:ann1@stratagem.test"] == ("type 2", "approach 2", ["step 2.1", "step 2.2"], True, False, 4, [])
    assert strategies["ls:ann2@stratagem.test"] == ("addition", "add then check by subtracting", ["add", "check"],
                                                    True, True, None, ["human:leak"])
    # ann1 edits: the old version is superseded by the new one; ann2 deletes: retracted
    annotators["ann1"].json("PATCH", f"/api/annotations/{a1['id']}", json={"result": [
        span_result(text, 0, 3, "planning"),
        {"from_name": "best_strategy", "to_name": "text", "type": "choices", "value": {"choices": ["Candidate 1"]}}]})
    annotators["ann2"].request("DELETE", f"/api/annotations/{a2['id']}")
    report = pull(lake, admin, TAX, project="two annotators")
    assert (report.counts["annotations.edited"], report.counts["annotations.retracted"]) == (1, 1)
    assert human_spans(lake) == [(tid, 0, 3, "planning", "ls:ann1@stratagem.test")]
    history = lake.rows("SELECT label, start, \"end\", superseded_by FROM spans WHERE annotator_kind = 'human' ORDER BY label")
    new_tag = lake.scalar("SELECT annotator_version FROM current_spans WHERE annotator_kind = 'human'")
    assert history[0][:3] == ("decomposition", 0, 2) and history[0][3] == "retracted"
    assert sorted(h[1:] for h in history[1:]) == [(0, 2, new_tag), (0, 3, None)]
    current = lake.rows("SELECT annotator, problem_type FROM current_strategies WHERE annotator_kind = 'human'")
    assert current == [("ls:ann1@stratagem.test", "type 1")]
    # the last annotation of the task goes too: the task now has none, and everything is retracted
    annotators["ann1"].request("DELETE", f"/api/annotations/{a1['id']}")
    report = pull(lake, admin, TAX, project="two annotators")
    assert report.counts["annotations.retracted"] == 1
    assert human_spans(lake) == []
    assert lake.rows("SELECT * FROM current_strategies WHERE annotator_kind = 'human'") == []
    assert lake.scalar("SELECT count(*) FROM spans WHERE annotator_kind = 'human' AND superseded_by = 'retracted'") == 2


def test_bad_results_and_changed_text_are_quarantined(admin, annotators, lake):
    tid, text = add_trajectory(lake, "bad", UNICODE_TEXTS["zwj"])
    tid2, text2 = add_trajectory(lake, "changed", UNICODE_TEXTS["latex"])
    _, pid = _push_all(lake, admin, "bad input")
    tasks = tasks_by_key(admin, pid)
    annotate(annotators["ann1"], tasks[f"{tid}#0"]["id"], [
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 5, "end": len(text) + 40, "text": "x", "labels": ["planning"]}},
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 3, "text": "zzz", "labels": ["planning"]}},
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 3, "text": text[:3], "labels": ["wishful_thinking"]}},
        span_result(text, 4, 10, "decomposition")])
    # the task text is edited in Label Studio after push: its spans' offsets cannot be trusted
    changed = dict(tasks[f"{tid2}#0"]["data"], text=text2.replace("Recall", "Remember"))
    admin.update_task(tasks[f"{tid2}#0"]["id"], changed)
    annotate(annotators["ann1"], tasks[f"{tid2}#0"]["id"], [span_result(changed["text"], 0, 8, "recall")])
    report = pull(lake, admin, TAX, project="bad input")
    assert report.counts["quarantined"] == 4 and report.counts["accepted"] == 1
    assert report.counts["read"] == report.counts["accepted"] + report.counts["recorded"] + report.counts["quarantined"] + report.counts["duplicates"]
    assert human_spans(lake) == [(tid, 4, 10, "decomposition", "ls:ann1@stratagem.test")]
    reasons = [r[0] for r in lake.rows("SELECT reason FROM quarantine WHERE stage = 'review-pull' ORDER BY reason")]
    assert any("out of range" in r for r in reasons)
    assert any("result says" in r for r in reasons)
    assert any("'wishful_thinking' is not in the taxonomy" in r for r in reasons)
    assert any("task text changed since push" in r for r in reasons)


def test_malformed_results_stored_by_the_server_are_quarantined_and_later_pulls_go_on(admin, annotators, lake):
    """The server stores values of the wrong type inside a result's `value` object (it answers 500
    only when `value` or an item is not an object): each is quarantined with its task id, the good
    items of the same pull are stored, and a later good annotation is still pulled (issue 15
    defect 8; the other malformed shapes are fed to the reader in test_labelstudio_malformed.py)."""
    tid, text = add_trajectory(lake, "malformed", UNICODE_TEXTS["latex"], n_strategies=2)
    _, pid = _push_all(lake, admin, "malformed results")
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    annotate(annotators["ann1"], task["id"], [
        {"from_name": "best_strategy", "to_name": "text", "type": "choices", "value": {"choices": 2}},
        {"from_name": "strategy_edit", "to_name": "text", "type": "textarea", "value": {"text": 5}},
        span_result(text, 0, 6, "recall")])
    annotate(annotators["ann2"], task["id"], [
        {"from_name": "leak", "to_name": "text", "type": "choices", "value": {"choices": 1}},
        {"from_name": "label", "to_name": "text", "type": "labels", "value": {"start": "0", "end": [6], "labels": 3}},
        span_result(text, 0, 6, "planning")])
    report = pull(lake, admin, TAX, project="malformed results")
    assert (report.counts["accepted"], report.counts["quarantined"]) == (2, 4), report.counts
    assert report.counts["read"] == report.counts["accepted"] + report.counts["recorded"] + report.counts["quarantined"] + report.counts["duplicates"]
    locators = [r[0] for r in lake.rows("SELECT locator FROM quarantine WHERE stage = 'review-pull'")]
    assert len(locators) == 4 and all(f"task {task['id']} annotation" in loc for loc in locators)
    annotate(annotators["ann1"], task["id"], [span_result(text, 7, 12, "verification")])
    later = pull(lake, admin, TAX, project="malformed results", full=True)
    assert later.counts["annotations.new"] == 1
    assert (tid, 7, 12, "verification", "ls:ann1@stratagem.test") in human_spans(lake)


def test_hand_edited_label_config_is_refused(admin, annotators, lake):
    add_trajectory(lake, "cfg", UNICODE_TEXTS["emoji"])
    _, pid = _push_all(lake, admin, "edited config")
    xml = admin.json("GET", f"/api/projects/{pid}")["label_config"].replace('value="recall"', 'value="memory"')
    admin.update_project(pid, label_config=xml)
    runs = lake.count("runs")
    with pytest.raises(ReviewError, match="memory.*recall|recall.*memory"):
        pull(lake, admin, TAX, project="edited config")
    with pytest.raises(ReviewError, match="memory"):
        _push_all(lake, admin, "edited config")
    assert lake.count("runs") == runs


def test_server_stopped_mid_pull_changes_nothing_then_next_pull_completes(ls, admin, annotators, lake):
    tids = [add_trajectory(lake, f"restart{i}", UNICODE_TEXTS["crlf"] + f" ({i})") for i in range(3)]
    _, pid = _push_all(lake, admin, "restart mid pull")
    tasks = tasks_by_key(admin, pid)
    for tid, text in tids:
        annotate(annotators["ann1"], tasks[f"{tid}#0"]["id"], [span_result(text, 0, 6, "decomposition")])
    before = (lake.count("spans"), lake.count("runs"), lake.scalar("SELECT max(last_pulled_at) FROM reviews"))

    def stop_after_first_page(page: int) -> None:
        if page == 1:
            assert server.stop(ls.folder)

    try:
        with pytest.raises(ReviewError, match="cannot reach"):
            pull(lake, admin, TAX, project="restart mid pull", page_size=1, on_page=stop_after_first_page)
        assert (lake.count("spans"), lake.count("runs"), lake.scalar("SELECT max(last_pulled_at) FROM reviews")) == before
    finally:
        restarted = server.start(ls.port, Path(ls.folder))
    assert restarted.token == ls.token
    report = pull(lake, admin, TAX, project="restart mid pull", page_size=1)
    assert report.counts["accepted"] == 3
    assert len(human_spans(lake)) == 3


def test_cli_push_and_pull(ls, admin, annotators, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    root = tmp_path / "cli-lake"
    with Lake.open(root) as lake:
        tid, text = add_trajectory(lake, "cli", UNICODE_TEXTS["emoji"], [("Let me check", "verification")])
    runner = CliRunner()
    res = runner.invoke(app, ["review", "push", "--select", "random", "--limit", "5", "--predictions", "rules",
                              "--project", "cli project", "--dir", ls.folder, "--root", str(root)])
    assert res.exit_code == 0, res.output
    assert ls.token not in res.output
    pid = admin.project_by_title("cli project")["id"]
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    annotate(annotators["ann2"], task["id"], [span_result(text, 0, 4, "planning")])
    res = runner.invoke(app, ["review", "pull", "--project", "cli project", "--dir", ls.folder, "--root", str(root)])
    assert res.exit_code == 0, res.output
    with Lake.open(root, read_only=True) as lake:
        assert human_spans(lake) == [(tid, 0, 4, "planning", "ls:ann2@stratagem.test")]
        assert lake.scalar("SELECT count(*) FROM runs WHERE stage = 'review-pull' AND status = 'ok'") == 1
    res = runner.invoke(app, ["review", "pull", "--url", f"http://127.0.0.1:{free_port()}", "--root", str(root)],
                        env={"LABEL_STUDIO_API_KEY": "x"})
    assert res.exit_code == 2 and "cannot reach" in res.output
    res = runner.invoke(app, ["review", "push", "--select", "bogus", "--dir", ls.folder, "--root", str(root)])
    assert res.exit_code == 2 and "unknown --select" in res.output


def test_batched_push_existing_server_by_url_incremental_pull_and_no_token_stored(ls, admin, annotators, tmp_path,
                                                                                  monkeypatch):
    import time

    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.labelstudio import pull as pull_module

    root = tmp_path / "url-lake"
    with Lake.open(root) as lake:
        made = [add_trajectory(lake, f"b{i}", f"Step {i}: add them. Let me check {i} + 1. 😀 中文", [("Let me check", "verification")])
                for i in range(5)]
        for _ in range(2):  # batches of 2 cross two import boundaries; the second push changes nothing
            push(lake, admin, TAX, select="random", limit=5, predictions="rules", project="batches", batch=2)
    pid = admin.project_by_title("batches")["id"]
    keys = sorted(tasks_by_key(admin, pid))
    assert keys == sorted(f"{tid}#0" for tid, _ in made)

    runner = CliRunner()
    url = ["--url", ls.url, "--root", str(root), "--project", "batches"]  # an existing server: URL + token in the env
    monkeypatch.setattr(pull_module, "MARGIN", pull_module.timedelta(0))
    fetched = []
    real_iter = LSClient.iter_tasks

    def counting(self, *args, **kwargs):
        for task in real_iter(self, *args, **kwargs):
            fetched.append(task["id"])
            yield task
    monkeypatch.setattr(LSClient, "iter_tasks", counting)
    annotate(annotators["ann1"], tasks_by_key(admin, pid)[keys[0]]["id"], [span_result(made[0][1], 0, 4, "planning")])
    res = runner.invoke(app, ["review", "pull", *url], env={"LABEL_STUDIO_API_KEY": ls.token})
    assert res.exit_code == 0, res.output
    time.sleep(1.5)  # the next change is after the last pull by more than the server's date resolution
    second = tasks_by_key(admin, pid)[keys[1]]["id"]
    fetched.clear()
    annotate(annotators["ann2"], second, [span_result(made[1][1], 0, 4, "decomposition")])
    res = runner.invoke(app, ["review", "pull", *url], env={"LABEL_STUDIO_API_KEY": ls.token})
    assert res.exit_code == 0, res.output
    assert fetched == [second]  # only what changed since the last pull is read
    with Lake.open(root, read_only=True) as lake:
        assert len(human_spans(lake)) == 2
        for table in ("runs", "reviews", "quarantine", "spans", "strategies"):
            assert ls.token not in str(lake.query(f"SELECT * FROM {table}").to_pylist()), table
    assert ls.token not in res.output


# ---------------------------------------------------------------- real browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
_CHAR_BOXES = """(target) => {
  const box = [...document.querySelectorAll('.lsf-richtext__container')].find(e => e.textContent.includes(target));
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const i = n.data.indexOf(target);
    if (i < 0) continue;
    const first = document.createRange(), last = document.createRange();
    first.setStart(n, i); first.setEnd(n, i + 1);
    last.setStart(n, i + target.length - 1); last.setEnd(n, i + target.length);
    const a = first.getBoundingClientRect(), b = last.getBoundingClientRect();
    return [a.left, (a.top + a.bottom) / 2, b.right, (b.top + b.bottom) / 2];
  }
  return null;
}"""


def test_browser_annotator_sees_predictions_and_draws_a_span(ls, admin, lake):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is absent (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    text = "Plan: add 😀 apples and 中文 pears. Let me check the sum: 2 + 3 = 5. The answer is \\boxed{5}."
    tid, text = add_trajectory(lake, "browser", text, [("Let me check", "verification")])
    _, pid = _push_all(lake, admin, "browser review")
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    target = "😀 apples and 中文"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = _login(browser, ls, ls.username, ls.password)
            page.goto(f"{ls.url}/projects/{pid}/data?task={task['id']}")
            page.wait_for_selector(".htx-highlight", timeout=60_000)
            predicted = page.evaluate("[...document.querySelectorAll('.htx-highlight')].map(e => e.textContent)")
            assert predicted == ["Let me check"]
            page.screenshot(path=str(ARTIFACTS / "labelstudio_task_with_predictions.png"))
            # pick a label, then drag over the text like an annotator would
            page.click(".lsf-label:has-text('exploration')")
            _label_chosen(page, "exploration")
            _drag_over(page, target)
            page.screenshot(path=str(ARTIFACTS / "labelstudio_new_span.png"))
            page.click("button:has-text('Submit')")
            page.wait_for_function(
                "fetch('/api/tasks/%d').then(r => r.json()).then(t => t.total_annotations > 0)" % task["id"], timeout=30_000)
        finally:
            browser.close()
    report = pull(lake, admin, TAX, project="browser review")
    assert report.counts["quarantined"] == 0
    start = text.index(target)
    assert human_spans(lake) == sorted([(tid, start, start + len(target), "exploration", f"ls:{ls.username}"),
                                        (tid, text.index("Let me check"), text.index("Let me check") + 12,
                                         "verification", f"ls:{ls.username}")])


# ---------------------------------------------------------------- a team: accounts, overlap, guidelines
def _login(browser, ls, email: str, password: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{ls.url}/user/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _highlights(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('.htx-highlight')].map(e => e.textContent)")


def _label_chosen(page, label: str) -> None:
    """Wait until `label` is the selected label (a click or hotkey is handled asynchronously; a drag
    made before it lands makes no region)."""
    page.wait_for_selector(f".lsf-label_selected:has-text('{label}')")


def _drag_over(page, target: str) -> None:
    x1, y1, x2, y2 = page.evaluate(_CHAR_BOXES, target)
    page.mouse.move(x1 + 0.5, y1)
    page.mouse.down()
    page.mouse.move(x2 - 0.5, y2, steps=5)
    page.mouse.up()
    try:
        page.wait_for_function(
            f"[...document.querySelectorAll('.htx-highlight')].some(e => e.textContent === {json.dumps(target)})")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "labelstudio_drag_failed.png"))  # what the page showed
        raise


def _submit(page, task_id: int, n: int) -> None:
    page.click("button:has-text('Submit')")
    page.wait_for_function(
        "fetch('/api/tasks/%d').then(r => r.json()).then(t => t.total_annotations >= %d)" % (task_id, n), timeout=30_000)


def test_cli_user_add_keeps_the_password_off_the_command_line_and_out_of_the_output(ls, admin, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret-Passw0rd-xyz\n")
    runner = CliRunner()
    res = runner.invoke(app, ["labelstudio", "user", "add", "cli-user@stratagem.test", "--password-file", str(pw),
                              "--dir", ls.folder])
    assert res.exit_code == 0, res.output
    assert "s3cret" not in res.output and "Label All Tasks" in res.output and "ls:cli-user@stratagem.test" in res.output
    assert "cli-user@stratagem.test" in admin.users().values()
    again = runner.invoke(app, ["labelstudio", "user", "add", "cli-user@stratagem.test", "--dir", ls.folder],
                          input="another-password-123\n")
    assert again.exit_code == 2 and "already exists" in again.output
    short = runner.invoke(app, ["labelstudio", "user", "add", "x@stratagem.test", "--dir", ls.folder], input="short\n")
    assert short.exit_code == 2 and "at least 8" in short.output


def test_two_accounts_annotate_one_task_independently_in_the_browser(ls, admin, lake, tmp_path):
    """Two accounts made with `labelstudio user add` open the labelling stream of a project pushed with
    --annotators-per-task 2: each sees the guidelines, starts from the predictions and never sees the
    other's spans; one edits a description in free form and flags a candidate's leak, the other says
    "None is usable" and fixes a predicted span's boundary. Both versions arrive as what they are."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is absent (apt-get install chromium; .ci/run installs it)")
    import html

    from playwright.sync_api import sync_playwright
    from typer.testing import CliRunner

    from pipeline.cli import app

    people = {"team1@stratagem.test": "team1-password-0123", "team2@stratagem.test": "team2-password-0123"}
    for email, password in people.items():
        (tmp_path / "pw").write_text(password)
        res = CliRunner().invoke(app, ["labelstudio", "user", "add", email, "--password-file", str(tmp_path / "pw"),
                                       "--dir", ls.folder])
        assert res.exit_code == 0 and password not in res.output, res.output
    text = "Plan: add apples and pears. Let me check the sum: 2 + 3 = 5. Wait, recount: 5 fruits. The answer is \\boxed{5}."
    tid, text = add_trajectory(lake, "team", text, [("Let me check", "verification")], n_strategies=3)
    _, pid = _push_all(lake, admin, "team review", annotators_per_task=2)
    proj = admin.json("GET", f"/api/projects/{pid}")
    assert proj["maximum_annotations"] == 2 and proj["overlap_cohort_percentage"] == 100
    assert proj["show_collab_predictions"] and not proj["show_annotation_history"] and proj["show_instruction"]
    assert TAX.label("backtracking").not_this in html.unescape(proj["expert_instruction"])
    task = tasks_by_key(admin, pid)[f"{tid}#0"]
    assert [o["value"] for o in task["data"]["strategy_options"]] == ["Candidate 1", "Candidate 2", "Candidate 3",
                                                                       "None is usable"]
    free_form = "Count each kind of fruit, then add the counts. Recount to be sure."
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # ---- team1: guidelines, predictions, a new span, Candidate 2 edited in free form, its leak flagged
            page = _login(browser, ls, "team1@stratagem.test", people["team1@stratagem.test"])
            page.goto(f"{ls.url}/projects/{pid}/data?labeling=1")  # Label All Tasks
            page.wait_for_selector(".htx-highlight", timeout=60_000)
            page.wait_for_selector(".lsf-modal-ls_visible")  # the instructions open with the task
            page.screenshot(path=str(ARTIFACTS / "labelstudio_instructions.png"))
            shown = page.inner_text(".lsf-modal-ls_visible")
            for label in TAX.labels:
                assert label.definition in shown and label.examples[0] in shown, label.name
            page.keyboard.press("Escape")
            assert _highlights(page) == ["Let me check"]  # the annotation starts from the predictions
            page.click(".lsf-label:has-text('exploration')")
            _label_chosen(page, "exploration")
            _drag_over(page, "apples and pears")
            page.locator("label:has-text('Candidate 2')").first.click()
            page.click("[data-testid=htx-textbox-edit-button]")  # the box holds the pre-filled candidate
            box = page.locator("textarea").first
            assert box.input_value().startswith("Problem type: type 1")
            box.fill(free_form)
            page.keyboard.press("Enter")
            page.locator("label:has-text('Candidate 2 leaks the answer')").click()
            page.locator(".ant-rate-star").nth(3).click()
            page.screenshot(path=str(ARTIFACTS / "labelstudio_team1.png"))
            _submit(page, task["id"], 1)
            page.close()
            # ---- team2: the same task, without team1's span; fixes the predicted span's end in 4 actions
            page = _login(browser, ls, "team2@stratagem.test", people["team2@stratagem.test"])
            page.goto(f"{ls.url}/projects/{pid}/data?labeling=1")
            page.wait_for_selector(".htx-highlight", timeout=60_000)
            page.keyboard.press("Escape")
            assert _highlights(page) == ["Let me check"]  # never the other person's annotation
            page.click(".htx-highlight:has-text('Let me check')")  # 1: select the predicted span
            page.keyboard.press("Backspace")                        # 2: delete it
            page.wait_for_function("document.querySelectorAll('.htx-highlight').length === 0")
            page.keyboard.press(TAX.label("verification").hotkey)   # 3: its label's key
            _label_chosen(page, "verification")
            _drag_over(page, "Let me check the sum")                 # 4: draw it over the right words
            page.click(".lsf-label:has-text('backtracking')")
            _label_chosen(page, "backtracking")
            _drag_over(page, "Wait, recount")
            page.locator("label:has-text('None is usable')").first.click()
            page.locator(".ant-rate-star").nth(1).click()
            page.screenshot(path=str(ARTIFACTS / "labelstudio_team2.png"))
            _submit(page, task["id"], 2)
        finally:
            browser.close()
    report = pull(lake, admin, TAX, project="team review")
    c = report.counts
    assert c["quarantined"] == 0 and c["annotations.new"] == 2, c
    assert c["read"] == c["accepted"] + c["recorded"] + c["quarantined"] + c["duplicates"]
    assert c["strategy.none_usable"] == 1 and c["strategy.edit_lenient"] == 1
    at = {sub: (text.index(sub), text.index(sub) + len(sub)) for sub in
          ("Let me check", "apples and pears", "Let me check the sum", "Wait, recount")}
    assert human_spans(lake) == sorted([
        (tid, *at["Let me check"], "verification", "ls:team1@stratagem.test"),
        (tid, *at["apples and pears"], "exploration", "ls:team1@stratagem.test"),
        (tid, *at["Let me check the sum"], "verification", "ls:team2@stratagem.test"),
        (tid, *at["Wait, recount"], "backtracking", "ls:team2@stratagem.test")])
    rows = {r["annotator"]: r for r in lake.query(
        "SELECT * FROM annotations WHERE superseded_by IS NULL ORDER BY annotator").to_pylist()}
    one, two = rows["ls:team1@stratagem.test"], rows["ls:team2@stratagem.test"]
    assert (one["candidate_rank"], one["none_usable"], one["edited"], one["edit_parse"], one["leak_candidates"],
            one["rating"], one["n_spans"]) == (2, False, True, "lenient", [2], 4, 2)
    assert one["edited_text"].strip() == free_form  # kept as typed
    assert (two["candidate_rank"], two["none_usable"], two["edited"], two["edited_text"], two["leak_candidates"],
            two["rating"], two["n_spans"]) == (None, True, False, None, [], 2, 2)
    for row in (one, two):
        assert row["lead_time"] > 0 and row["submitted_at"] is not None and not row["skipped"]
        assert row["part"] == 0 and row["ls_task_id"] == task["id"] and row["selection"].startswith("--select sql")
    strategies = lake.rows("SELECT annotator, problem_type, approach, steps, edited, rating, leakage_flags "
                           "FROM current_strategies WHERE annotator_kind = 'human'")
    assert strategies == [("ls:team1@stratagem.test", "type 2", "Count each kind of fruit, then add the counts.",
                           ["Recount to be sure."], True, 4, ["human:leak"])]  # "None is usable" makes no strategy


def test_a_persons_later_annotation_supersedes_their_earlier_one_and_skips_are_stored(admin, annotators, lake):
    """Each person's latest annotation of a task part is current: ann1's second annotation (the "+"
    button) supersedes their first, ann2's stays; a skip is stored as a skip; "None is usable" with a
    rating is stored as that, counted `recorded`, never `accepted`; quarantined rows name their annotator."""
    from pipeline.labelstudio.pull import quarantine_annotator

    tid, text = add_trajectory(lake, "latest", UNICODE_TEXTS["emoji"], n_strategies=1)
    tid2, text2 = add_trajectory(lake, "skipped", UNICODE_TEXTS["cjk"])
    _, pid = _push_all(lake, admin, "latest per person", annotators_per_task=2)
    tasks = tasks_by_key(admin, pid)
    task, task2 = tasks[f"{tid}#0"]["id"], tasks[f"{tid2}#0"]["id"]
    assert [o["value"] for o in tasks[f"{tid}#0"]["data"]["strategy_options"]] == ["Candidate 1", "None is usable"]
    annotate(annotators["ann1"], task, [span_result(text, 0, 4, "planning")])
    annotate(annotators["ann2"], task, [
        span_result(text, 0, 4, "decomposition"),
        {"from_name": "best_strategy", "to_name": "text", "type": "choices", "value": {"choices": ["None is usable"]}},
        {"from_name": "quality", "to_name": "text", "type": "rating", "value": {"rating": 2}},
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 4, "text": "nope", "labels": ["planning"]}}])
    annotators["ann2"].json("POST", f"/api/tasks/{task2}/annotations", json={"result": [], "was_cancelled": True})
    first = pull(lake, admin, TAX, project="latest per person")
    assert first.counts["annotations.skipped"] == 1 and first.counts["strategy.none_usable"] == 1
    assert (first.counts["accepted"], first.counts["recorded"], first.counts["quarantined"]) == (2, 2, 1)
    reason = lake.scalar("SELECT reason FROM quarantine WHERE stage = 'review-pull'")
    assert quarantine_annotator(reason) == "ls:ann2@stratagem.test"
    assert lake.rows("SELECT annotator, skipped, none_usable, rating FROM annotations ORDER BY annotator, part") == [
        ("ls:ann1@stratagem.test", False, False, None), ("ls:ann2@stratagem.test", False, True, 2),
        ("ls:ann2@stratagem.test", True, False, None)]
    assert lake.rows("SELECT * FROM current_strategies WHERE annotator_kind = 'human'") == []
    annotate(annotators["ann1"], task, [span_result(text, 0, 7, "planning")])  # ann1 again, a new annotation
    second = pull(lake, admin, TAX, project="latest per person")
    assert second.counts["annotations.older_of_same_person"] == 1 and second.counts["annotations.new"] == 1
    assert human_spans(lake) == sorted([(tid, 0, 7, "planning", "ls:ann1@stratagem.test"),
                                        (tid, 0, 4, "decomposition", "ls:ann2@stratagem.test")])
    assert lake.scalar("SELECT count(*) FROM annotations WHERE superseded_by IS NULL AND annotator = ?",
                       ["ls:ann1@stratagem.test"]) == 1
