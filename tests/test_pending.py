"""One definition of "pending" per stage (pipeline/pending.py): `stratagem status` counts what
verify, annotate and describe would process with today's default versions, and still agrees with
them after a checker or annotator version bump (before, status ignored versions: after a bump it
showed nothing pending while verify re-judged everything). Real DuckLake over the built-in sample.

    .venv/bin/python -m pytest tests/test_pending.py -q
"""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

import annotators.answers
import annotators.describe_rules
import annotators.rules
from annotators import get_describer, get_tagger
from pipeline.annotate import annotate
from pipeline.cli import app
from pipeline.describe import describe
from pipeline.ingest.mapping import load_mapping
from pipeline.ingest.stage import ingest
from pipeline.sample.generate import write_sample
from pipeline.verify import verify
from schemas import load_taxonomy
from warehouse import Lake

STAGES = ("verify", "annotate", "describe")


@pytest.fixture
def sample_lake(tmp_path, lake_root, monkeypatch):
    """A lake holding the built-in sample (ingested, nothing else); returns its trajectory count."""
    monkeypatch.setenv("COLUMNS", "250")  # one status table row per line
    path = tmp_path / "sample.jsonl"
    write_sample(path, 4, seed=0)
    with Lake.open(lake_root) as lake:
        ingest(lake, [path], load_mapping("stratagem-sample"))
        return lake.count("trajectories")


def status_pending(root) -> dict[str, tuple[str, int]]:
    """`stratagem status`'s pending table as {stage: (version counted against, count)}."""
    result = CliRunner().invoke(app, ["status", "--root", str(root)])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 4 and cells[0] in STAGES:
            rows[cells[0]] = (cells[1], int(cells[3].replace(",", "")))
    assert set(rows) == set(STAGES), result.output
    return rows


def rules_tagger():
    return get_tagger("rules", taxonomy=load_taxonomy())


def rules_describer():
    return get_describer("rules", k=2, taxonomy=load_taxonomy())


def agree(root, stage: str, key: str, n: int, run) -> None:
    """Status counts `n` pending for `stage` against `key`; `run(lake)` (the stage) then
    processes exactly `n`, after which status counts 0."""
    assert status_pending(root)[stage] == (key, n)
    with Lake.open(root) as lake:
        assert run(lake).counts.get("read", 0) == n
    assert status_pending(root)[stage] == (key, 0)


def test_status_and_verify_agree_before_and_after_a_checker_version_bump(sample_lake, lake_root, monkeypatch):
    n = sample_lake
    agree(lake_root, "verify", annotators.answers.CHECKER_VERSION, n, verify)
    with Lake.open(lake_root) as lake:
        assert verify(lake).counts.get("read", 0) == 0  # a rerun does nothing

    monkeypatch.setattr(annotators.answers, "CHECKER_VERSION", "answers-999")
    agree(lake_root, "verify", "answers-999", n, verify)  # every trajectory, again
    with Lake.open(lake_root, read_only=True) as lake:
        assert lake.scalar("SELECT count(*) FROM verdicts WHERE checker_version = 'answers-999'") == n


def solved_problems(lake) -> int:
    verify(lake)  # describe works on problems with a correct trajectory
    return lake.scalar("SELECT count(DISTINCT problem_id) FROM correct_trajectories")


@pytest.mark.parametrize("stage, module, constant, make, run, expected", [
    ("annotate", annotators.rules, "RULES_VERSION", rules_tagger, annotate, lambda lake: lake.count("trajectories")),
    ("describe", annotators.describe_rules, "DESCRIBER_VERSION", rules_describer, describe, solved_problems),
])
def test_status_and_an_annotator_agree_before_and_after_its_version_bump(
        sample_lake, lake_root, monkeypatch, stage, module, constant, make, run, expected):
    with Lake.open(lake_root) as lake:
        n = expected(lake)
    assert n > 0
    before = make()
    agree(lake_root, stage, f"rules {before.version}", n, lambda lake: run(lake, before))

    monkeypatch.setattr(module, constant, "999")
    bumped = make()
    assert bumped.version != before.version
    agree(lake_root, stage, f"rules {bumped.version}", n, lambda lake: run(lake, bumped))


def test_counting_binds_awkward_keys_like_the_stages_do(sample_lake, lake_root):
    """`count` puts keys into SQL as literals (no Python parameters): quotes, backslashes and a
    source filter count the same rows as the parameterised queries the stages run."""
    from pipeline import pending

    with Lake.open(lake_root, read_only=True) as lake:
        source = lake.scalar("SELECT min(source) FROM problems")
        for key in ({"annotator": "it's", "version": "1\\' OR 1=1 --"}, {"annotator": "rules", "version": "v",
                                                                           "source": source}):
            assert pending.count(lake, "annotate", **key) == len(pending.annotate_ids(lake, **key)) > 0
        assert pending.count(lake, "annotate", annotator="rules", version="v", source="no such source") == 0
        assert pending.count(lake, "verify", checker_version="x'y") == sample_lake
