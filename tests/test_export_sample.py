"""End to end on real components: the procedural sample -> ingest -> verify -> rules annotate
-> rules describe -> curate -> export, then rebuild and check. Gold spans of the sample
teacher win the default precedence; every family stays in one split."""
from __future__ import annotations

import json
from collections import defaultdict

import pyarrow.parquet as pq

from pipeline.annotate import annotate
from pipeline.curate import curate
from pipeline.describe import describe
from pipeline.export import check, export, rebuild
from pipeline.ingest.mapping import load_mapping
from pipeline.ingest.stage import ingest
from pipeline.curate.policy import load_policy, policy_from_dict
from pipeline.sample.generate import write_sample
from pipeline.verify import verify
from annotators import get_describer, get_tagger
from schemas import load_taxonomy
from warehouse import Lake


def ingest_and_annotate(lake, path, mapping: str, k: int = 3) -> None:
    """ingest -> verify -> rules annotate -> rules describe, the stages before curation."""
    taxonomy = load_taxonomy()
    ingest(lake, [path], load_mapping(mapping))
    verify(lake)
    annotate(lake, get_tagger("rules", taxonomy=taxonomy), taxonomy=taxonomy)
    describe(lake, get_describer("rules", k=k, taxonomy=taxonomy))


def test_sample_to_export_end_to_end(tmp_path, lake_root):
    sample = tmp_path / "sample.jsonl"
    n = write_sample(sample, 40, seed=0)
    taxonomy = load_taxonomy()
    with Lake.open(lake_root) as lake:
        ingest_and_annotate(lake, sample, "stratagem-sample")
        report = curate(lake, load_policy())
        c = report.counts
        assert c["read"] == n
        assert c["read"] == c["accepted"] + c["duplicates"] + sum(v for k, v in c.items() if k.startswith("dropped."))
        assert c["accepted"] > n // 3, c
        result = export(lake, "sample-v1")
    data = pq.read_table(result.path / "data.parquet").to_pylist()
    assert len(data) == c["accepted"]
    where = defaultdict(set)
    for row in data:
        where[row["family_seed_id"]].add("test" if row["split"].startswith("test_") else row["split"])
        assert row["answer"] and row["strategy"].startswith("Problem type: ")
        for span in row["strategy_plan"]:
            assert 0 <= span["start"] < span["end"] <= len(row["teacher_completion"])
            assert span["label"] in taxonomy.names
    assert all(len(s) == 1 for s in where.values())
    with Lake.open(lake_root, read_only=True) as lake:
        sources = {r for (r,) in lake.rows("SELECT DISTINCT span_source FROM curated")}
    assert any(s.startswith("gold:") for s in sources), sources
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert {"ingest", "verify", "annotate", "describe"} <= set(manifest["run_ids"]), manifest["run_ids"]
    card = (result.path / "README.md").read_text()
    # agreement rows between annotators and the consensus, annotators named as pipeline.agreement.AnnotatorRef
    assert "| gold | consensus |" in card and "| rules | consensus |" in card
    with Lake.open(lake_root, read_only=True) as lake:
        assert rebuild(lake, result.path / "manifest.json").mismatches == []
    assert check(result.path / "manifest.json") == []


def test_gsm_plus_variants_stay_with_their_seeds(shared_data, tmp_path, lake_root):
    """Real GSM-Plus (first 400 rows: 50 seeds x 8 perturbation types): every variant lands with its
    seed, test seeds' variants form test_<perturbation> sets named after the mapping's types."""
    head = tmp_path / "gsmplus_head.jsonl"
    with open(shared_data / "gsm-plus" / "gsmplus_testmini.jsonl", encoding="utf-8") as src:
        head.write_text("".join(line for _, line in zip(range(400), src)), encoding="utf-8")
    with Lake.open(lake_root) as lake:
        ingest_and_annotate(lake, head, "gsm-plus", k=2)
        # GSM8K-style solutions rarely carry strategy cues: keep rows without spans here
        report = curate(lake, policy_from_dict({"filters": {"min_strategy_spans": 0},
                                                "splits": {"train": 0.5, "val": 0.1, "test": 0.4}}))
        rows = lake.query("SELECT c.split, c.family_seed_id, p.perturbation FROM curated c "
                          "JOIN problems p USING (problem_id) WHERE c.run_id = ?", [report.run_id]).to_pylist()
        result = export(lake, "gsm-plus")
    assert report.counts["accepted"] > 250 and report.counts["dropped.not_verified"] > 0, report.counts
    where = defaultdict(set)
    for r in rows:
        where[r["family_seed_id"]].add("test" if r["split"].startswith("test_") else r["split"])
        if r["split"].startswith("test_"):
            assert r["split"] == f"test_{r['perturbation']}"
    assert all(len(s) == 1 for s in where.values())
    splits = set(json.loads((result.path / "manifest.json").read_text())["counts"])
    assert {"test_numbers", "test_distractor"} <= splits, splits
    assert "CC BY-SA 4.0" in (result.path / "README.md").read_text()
