"""Every dataset in ../shared/data ingests through its shipped mapping (no per-file code),
with the row counts its README gives; skipped where ../shared/data is absent."""
from __future__ import annotations


from pipeline.ingest import ingest, load_mapping
from warehouse import Lake

# (mapping, path under shared/data, README rows, trajectories per row)
DATASETS = [
    ("gsm8k", "gsm8k/test.jsonl", 1319, 1),
    ("gsm8k", "gsm8k/train.jsonl", 7473, 1),
    ("gsm8k-model-solutions", "gsm8k/example_model_solutions.jsonl", 1319, 4),
    ("gsm-plus", "gsm-plus/gsmplus_testmini.jsonl", 2400, 1),
    ("gsm-plus-gpt4", "gsm-plus/gpt4_gsm8k_solutions.json", 1319, 1),
    ("math500", "math500/test.jsonl", 500, 1),
    ("math-perturb", "math-perturb/math_perturb_simple.jsonl", 279, 0),
    ("math-perturb-hard", "math-perturb/math_perturb_hard.jsonl", 279, 0),
    ("r1-traces", "r1-traces/deepseek-r1-distill-llama-8b", 20, 1),
    ("prm800k", "prm800k-subset/mr-math_redundant_errors.json", 300, 1),
    ("qwen-math-cot", "qwen-math-cot/math_cot_100.jsonl", 100, 8),
]


def test_every_shared_dataset_ingests_with_the_readme_counts(shared_data, tmp_path):
    with Lake.open(tmp_path / "lake") as lake:
        for name, rel, rows, per_row in DATASETS:
            report = ingest(lake, [shared_data / rel], load_mapping(name))
            c = report.counts
            assert c["quarantined"] == 0, (name, lake.rows("SELECT locator, reason FROM quarantine LIMIT 3"))
            assert c["read"] == rows * max(per_row, 1), name
            assert c["read"] == c["accepted"] + c["duplicates"], name
            if per_row == 0:
                assert c["written.problems"] == rows, name

        def count(sql: str) -> int:
            return lake.scalar(sql)

        # distinct problems per source file, from the README's own numbers
        assert count("SELECT count(*) FROM problems WHERE source = 'gsm-plus' AND perturbation <> 'original'") == 2400
        assert count("SELECT count(DISTINCT perturbation) FROM problems WHERE source = 'gsm-plus'") == 9
        assert count("SELECT count(*) FROM problems WHERE source = 'gsm-plus' AND reference_answer IS NULL") == 300
        assert count("SELECT count(*) FROM problems WHERE source = 'math-perturb'") == 558
        assert count("SELECT count(*) FROM trajectories WHERE teacher = 'deepseek-r1-distill-llama-8b'") == 20
        assert count("SELECT count(DISTINCT problem_id) FROM trajectories WHERE teacher = 'deepseek-r1-distill-llama-8b'") == 10
        assert count("SELECT count(*) FROM trajectories WHERE teacher = 'gsm8k-human'") == 1319 + 7473
        # qwen: 100 problems x 8 samples, identical samples of a problem are one trajectory
        assert count("SELECT count(DISTINCT problem_id) FROM trajectories WHERE teacher = 'qwen2.5-math'") == 100
        # GSM8K answers come from the text after ####, never the whole solution
        assert count("SELECT count(*) FROM problems WHERE source = 'gsm8k' AND reference_answer LIKE '%#%'") == 0
        assert lake.scalar("SELECT reference_answer FROM problems WHERE question LIKE 'Janet%ducks lay 16 eggs%' "
                           "AND source = 'gsm8k'") == "18"
        # the same GSM8K test problem from three files is one problem
        assert count("SELECT count(DISTINCT t.problem_id) FROM trajectories t JOIN problems p USING (problem_id) "
                     "WHERE p.question LIKE 'Janet%ducks lay 16 eggs%'") == 1
        # prm800k: steps joined, their offsets kept
        sampling = lake.scalar("SELECT sampling FROM trajectories WHERE teacher = 'GPT-4 (PRM800K)' LIMIT 1")
        assert '"step_starts"' in sampling and '"step_ratings"' in sampling

        again = ingest(lake, [shared_data / "gsm8k/test.jsonl"], load_mapping("gsm8k"))
        assert again.counts["duplicates"] == 1319 and again.counts["accepted"] == 0
