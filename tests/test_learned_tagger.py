"""The learned tagger (annotators/learned.py) and its stage and commands (pipeline/tagger/):
fit/predict on inline data with a known answer, the span <-> segment rules, save/load without
pickle (tampered and foreign files refused), `tagger train` + `annotate --annotator learned`
through the CLI on a small sample lake, and the uncertainty ordering behind
`review push --select uncertain` (no Label Studio server needed).

    .venv/bin/pytest tests/test_learned_tagger.py
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from annotators import TagItem, get_tagger
from annotators.learned import (
    LearnedModel, LearnedModelError, LearnedTagger, fit, rank_uncertain, segment_labels, segments_to_spans,
)
from annotators.rules import Segments
from pipeline.cli import app
from warehouse import Lake

LABELS = ["planning", "verification", "backtracking"]
PLAN = ["My plan is to add the parts.", "The approach is to count each group first."]
CHECK = ["Let me check the sum again.", "Double-check: 3 + 4 = 7, which matches."]
BACK = ["Wait, that is wrong.", "Hmm, wait, I made an error."]
PLAIN = ["There are 3 red balls.", "So the total is 12.", "Multiply 4 by 5 to get 20."]


def _doc(i: int) -> tuple[str, list[tuple[int, int, str]]]:
    """A text of four sentences, one per line: plan, plain, check or backtrack, plain."""
    parts = [(PLAN[i % 2], "planning"), (PLAIN[i % 3], None),
             ((CHECK if i % 2 else BACK)[i // 2 % 2], "verification" if i % 2 else "backtracking"),
             (PLAIN[(i + 1) % 3], None)]
    text, spans, pos = "", [], 0
    for sentence, label in parts:
        if label:
            spans.append((pos, pos + len(sentence), label))
        text += sentence + "\n"
        pos = len(text)
    return text, spans


def _model(**kw) -> LearnedModel:
    docs = [_doc(i) for i in range(24)]
    return fit([t for t, _ in docs], [s for _, s in docs], LABELS, min_count=1, C=10.0, **kw)


def test_fit_and_tag_recover_the_known_labels():
    model = _model()
    text = "The approach is to count each group first.\nThere are 3 red balls.\nWait, that is wrong.\nSo the total is 12.\n"
    [result] = LearnedTagger(model).tag([TagItem("t", text)])
    got = [(text[s.start:s.end], s.label) for s in result.spans]
    assert got == [("The approach is to count each group first.", "planning"), ("Wait, that is wrong.", "backtracking")]
    assert all(0.5 <= s.confidence <= 1.0 for s in result.spans)
    assert LearnedTagger(model).tag([TagItem("e", "  \n")])[0].error


def test_balanced_class_weights_lift_a_rare_label_to_the_threshold():
    """A label on 1 segment in 40 with a weak cue: with plain counts its probability stays near the
    base rate; balanced weights (the default) bring its segments over 0.5, and no others."""
    rng = np.random.default_rng(0)
    filler = ["There are %d red balls." % k for k in range(30)] + ["So the total is %d." % k for k in range(30)]
    texts, spans = [], []
    for i in range(60):
        sentences = [filler[j] for j in rng.integers(0, len(filler), 10)]
        text, doc_spans = "", []
        for k, sentence in enumerate(sentences):
            if k == 3 and i % 4 == 0:  # one trajectory in four has one rare segment
                sentence = "Let me check the sum again."
                doc_spans.append((len(text), len(text) + len(sentence), "verification"))
            text += sentence + "\n"
        texts.append(text)
        spans.append(doc_spans)
    plain, balanced = (fit(texts, spans, ["verification"], C=0.1, class_weight=cw) for cw in (None, "balanced"))
    batch = balanced.segments(texts)
    y = segment_labels(batch, spans, ["verification"])[:, 0]
    p_plain, p_bal = plain.proba(batch)[:, 0], balanced.proba(batch)[:, 0]
    assert y.mean() < 0.03
    assert (p_plain[y] < 0.5).all() and (p_bal[y] >= 0.5).all() and (p_bal[~y] < 0.5).all()
    assert balanced.settings["class_weight"] == "balanced" and plain.version != balanced.version

def test_segment_labels_need_more_than_half_covered():
    text = "Aaaa bbbb. Cccc dddd.\nEeee ffff."
    batch = Segments.build([text])
    assert [text[s:e] for s, e in zip(batch.start, batch.end)] == ["Aaaa bbbb.", "Cccc dddd.", "Eeee ffff."]
    # planning covers all of segment 1 and 4 of segment 2's 10 characters; recall 6 of segment 2's (two spans)
    y = segment_labels(batch, [[(0, 15, "planning"), (11, 14, "recall"), (14, 17, "recall")]], ["planning", "recall"])
    assert y.tolist() == [[True, False], [False, True], [False, False]]


def test_labelled_segments_merge_into_spans_per_label():
    text = "One. Two. Three.\nFour."
    batch = Segments.build([text, "Five."])
    proba = np.array([[0.9, 0.1], [0.7, 0.6], [0.2, 0.8], [0.95, 0.1], [0.6, 0.0]], dtype=np.float32)
    first, second = segments_to_spans(batch, proba, ["a", "b"], 2)
    assert [(text[s.start:s.end], s.label, s.confidence) for s in first] == [
        ("One. Two.", "a", 0.8), ("Two. Three.", "b", 0.7), ("Four.", "a", 0.95)]
    assert [(s.start, s.end, s.label) for s in second] == [(0, 5, "a")]


def test_save_load_round_trip_without_pickle(tmp_path):
    model = _model()
    folder = model.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.npz"]
    with np.load(folder / "weights.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["W", "b", "bigrams"]
    again = LearnedModel.load(folder)
    assert again.version == model.version and len(model.version) == 12
    texts = [_doc(i)[0] for i in range(30, 34)]
    assert np.allclose(model.proba(model.segments(texts)), again.proba(again.segments(texts)))
    assert get_tagger("learned", model_path=folder).version == model.version


def test_tampered_or_foreign_files_are_refused(tmp_path):
    folder = _model().save(tmp_path / "m")
    doc = json.loads((folder / "model.json").read_text())
    doc["vocab"][0] = "tampered"
    (folder / "model.json").write_text(json.dumps(doc))
    with pytest.raises(LearnedModelError, match="does not match its version") as err:
        LearnedModel.load(folder)
    assert "\n" not in str(err.value)

    pickled = _model().save(tmp_path / "p")
    np.savez(pickled / "weights.npz", W=np.array([object()], dtype=object), b=np.zeros(3), bigrams=np.zeros(1))
    with pytest.raises(LearnedModelError, match="not a plain NumPy archive"):
        LearnedModel.load(pickled)

    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "model.json").write_text('{"format": "something else"}')
    with pytest.raises(LearnedModelError, match="is not a stratagem-learned-tagger file"):
        LearnedModel.load(foreign)
    with pytest.raises(LearnedModelError, match="no model.json"):
        LearnedModel.load(tmp_path / "absent")


def test_rank_uncertain_puts_the_unfamiliar_first():
    model = _model()
    items = [("known", _doc(3)[0]), ("odd", "Perhaps consider the fish.\nWhy not."), ("empty", "")]
    ranked = rank_uncertain(model, items)
    assert [tid for tid, _ in ranked] == ["odd", "known", "empty"]
    assert ranked[0][1] > ranked[1][1] > ranked[2][1] == 0.0
    assert rank_uncertain(model, items, limit=1) == ranked[:1]


def test_train_annotate_and_select_uncertain_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "lake"
    runner = CliRunner()
    assert runner.invoke(app, ["sample", "--n", "20", "--seed", "5", "--out", "s.jsonl"]).exit_code == 0
    assert runner.invoke(app, ["ingest", "s.jsonl", "--mapping", "stratagem-sample", "--root", str(root)]).exit_code == 0

    no_model = runner.invoke(app, ["annotate", "--annotator", "learned", "--root", str(root)])
    assert no_model.exit_code == 2 and "no learned tagger model" in no_model.output

    trained = runner.invoke(app, ["tagger", "train", "--root", str(root)])
    assert trained.exit_code == 0, trained.output
    version = trained.output.split("model ")[-1].split(":")[0]
    assert (root / "models" / "tagger" / version / "weights.npz").is_file()
    again = runner.invoke(app, ["tagger", "train", "--root", str(root)])
    assert f"model {version}:" in again.output  # same data, same content hash

    tagged = runner.invoke(app, ["annotate", "--annotator", "learned", "--root", str(root)])
    assert tagged.exit_code == 0, tagged.output
    unknown = runner.invoke(app, ["annotate", "--annotator", "learned", "--model", "0123abcd", "--root", str(root)])
    assert unknown.exit_code == 2 and f"models: {version}" in unknown.output

    from pipeline.agreement import agreement
    from pipeline.labelstudio.push import select_trajectories
    from warehouse import Lake

    with Lake.open(root, read_only=True) as lake:
        runs = lake.rows("SELECT config FROM runs WHERE stage = 'tagger-train'")
        assert len(runs) == 2 and json.loads(runs[0][0])["model_version"] == version
        kinds = lake.rows("SELECT DISTINCT annotator_kind, annotator_version FROM spans WHERE annotator = 'learned'")
        assert kinds == [("rule", version)]
        assert lake.scalar("SELECT min(confidence) FROM spans WHERE annotator = 'learned'") >= 0.5
        result, _ = agreement(lake, "learned", "gold")
        assert result.overall_kappa > 0.8  # it saw these trajectories: this checks the plumbing, not skill
        # only trajectories with no gold (or human) spans are left to review
        no_gold = lake.rows("SELECT trajectory_id FROM trajectories WHERE trajectory_id NOT IN "
                            "(SELECT trajectory_id FROM spans WHERE annotator_kind = 'gold') ORDER BY 1")
        assert sorted(select_trajectories(lake, "uncertain", 100, None)) == [r[0] for r in no_gold]
    with Lake.open(root) as lake:
        lake.update("spans", {"superseded_by": "retracted"}, {"annotator_kind": "gold"})
        picked = select_trajectories(lake, "uncertain", 5, None)
        assert len(picked) == 5 and len(set(picked)) == 5


def test_select_uncertain_without_a_model_says_so(tmp_path):
    from pipeline.labelstudio.client import ReviewError
    from pipeline.labelstudio.push import select_trajectories
    from warehouse import Lake

    with Lake.open(tmp_path / "lake") as lake, pytest.raises(ReviewError, match="no learned tagger model"):
        select_trajectories(lake, "uncertain", 5, None)


def test_a_split_trace_trains_only_on_the_part_its_person_submitted(lake_root):
    """A person's spans cover only the Label Studio parts they submitted: the rest of a split trace
    is blanked for training, not taken as text without strategies."""
    from pipeline.tagger.stage import training_set
    from test_people_fixtures import PART0, PART1, SPLIT, people_lake

    ids = people_lake(lake_root)
    with Lake.open(lake_root, read_only=True) as lake:
        data = training_set(lake)
    text = dict(zip(data.ids, data.texts))[ids["tid"]["split"]]
    assert len(text) == len(SPLIT) and text != SPLIT
    assert text in (PART0 + " " * len(PART1), " " * len(PART0) + PART1)


@pytest.fixture(scope="module")
def curve_lake(tmp_path_factory):
    """A sample lake (20 seed problems x 6 variants, gold spans) after `tagger train` through the CLI."""
    tmp = tmp_path_factory.mktemp("curve")
    root, sample = tmp / "lake", tmp / "s.jsonl"
    runner = CliRunner()
    assert runner.invoke(app, ["sample", "--n", "20", "--seed", "5", "--out", str(sample)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(sample), "--mapping", "stratagem-sample", "--root", str(root)]).exit_code == 0
    trained = runner.invoke(app, ["tagger", "train", "--root", str(root)])
    assert trained.exit_code == 0, trained.output
    return root, trained.output


def test_train_records_a_learning_curve_on_held_out_families(curve_lake):
    root, output = curve_lake
    from pipeline.tagger.stage import held_out, holdout_split, training_set

    with Lake.open(root, read_only=True) as lake:
        [(config,)] = lake.rows("SELECT config FROM runs WHERE stage = 'tagger-train'")
        data = training_set(lake)
        # the family of each trajectory, read here on its own: a seed problem and its perturbed variants
        family = dict(lake.rows("SELECT t.trajectory_id, coalesce(p.family_seed_id, p.problem_id) "
                                "FROM trajectories t JOIN problems p USING (problem_id)"))
    config = json.loads(config)
    curve, rules = config["learning_curve"], config["rules_on_holdout"]
    sizes = [row["n"] for row in curve]
    assert sizes == sorted(set(sizes)) and sizes[0] == 5 and len(sizes) >= 3
    assert sizes[-1] == config["holdout"]["train_trajectories"] < len(data.ids)
    assert all(-1.0 <= row[k] <= 1.0 for row in curve for k in ("kappa", "f1"))
    assert -1.0 <= rules["kappa"] <= 1.0 and 0.0 <= rules["f1"] <= 1.0
    assert rules["n_holdout"] == config["holdout"]["trajectories"] > 0
    assert "learning curve on" in output and "rules tagger" in output

    train, test = holdout_split(data)
    assert len(train) == sizes[-1] and len(test) == rules["n_holdout"] and not set(train) & set(test)
    train_families = {family[data.ids[i]] for i in train}
    test_families = {family[data.ids[i]] for i in test}
    assert test_families and not train_families & test_families  # no seed problem on both sides
    assert len(test) > len(test_families)  # perturbed variants are there, and held out with their seed
    assert all(held_out(f) for f in test_families) and not any(held_out(f) for f in train_families)


def test_the_curve_is_skipped_with_a_reason(curve_lake, tmp_path):
    from pipeline.tagger.stage import TrainingSet, curve_sizes, learning_curve
    from schemas import load_taxonomy

    assert curve_sizes(503) == [5, 10, 20, 50, 100, 200, 503] and curve_sizes(7) == [5, 7] and curve_sizes(5) == [5]
    small = TrainingSet(["a", "b"], ["Let me check.", "Wait."], [[], []], ["gold", "gold"], ["f1", "f2"])
    assert "fewer than 10" in learning_curve(small, load_taxonomy())["learning_curve_skipped"]

    root, _ = curve_lake
    lake_copy = tmp_path / "lake"
    import shutil
    shutil.copytree(root, lake_copy)
    runner = CliRunner()
    result = runner.invoke(app, ["tagger", "train", "--no-curve", "--root", str(lake_copy)])
    assert result.exit_code == 0 and "learning curve skipped: skipped with --no-curve" in result.output
    with Lake.open(lake_copy, read_only=True) as lake:
        config = json.loads(lake.rows("SELECT config FROM runs WHERE stage = 'tagger-train' ORDER BY started_at DESC")[0][0])
    assert "learning_curve" not in config and config["learning_curve_skipped"] == "skipped with --no-curve"


def test_the_report_shows_the_learned_tagger(curve_lake, tmp_path):
    from pipeline.report import build_report

    root, output = curve_lake
    version = output.split("model ")[-1].split(":")[0]
    with Lake.open(root, read_only=True) as lake:
        build_report(lake, export_dir=None, run_dirs=[], eval_json=None, out=tmp_path / "r.html")
        curve = json.loads(lake.rows("SELECT config FROM runs WHERE stage = 'tagger-train'")[0][0])["learning_curve"]
    html = (tmp_path / "r.html").read_text()
    section = html[html.index('<section id="tagger">'):html.index('<section id="trajectories">')]
    assert "<h2>The learned tagger</h2>" in section and f"<b>{version}</b>" in section
    assert 'alt="learned tagger learning curve" src="data:image/png;base64,' in section
    for row in curve:
        assert f'<tr><td class="num">{row["n"]:,}</td><td class="num">{row["kappa"]:.3f}</td>' in section
    assert "<tr><th>rules tagger</th>" in section and "Not trained" not in section
