"""Demo outputs for the report and notebook tests, built once per test session (no tests in here).

    root = demo_root(tmp_path_factory)   # <session tmp>/demo: lake, exports/demo, runs/{sft,sgpo}, runs/eval.json

The layout is the one `stratagem demo` leaves (pipeline/demo.py), built by calling the stages
directly at a tiny size so the whole session stays fast: 12 sample seeds with every
perturbation plus one broken input line (quarantined) -> ingest -> verify -> annotate (rules)
-> describe (rules) -> curate (40% test families, so every test split exists) -> export ->
2-step SFT and 2-step SGPO on the tiny model -> eval on 2 problems per split.
"""
from __future__ import annotations

import fcntl
from pathlib import Path

DONE = "demo-built.ok"
SFT = ["max_steps=2", "per_device_train_batch_size=2", "max_completion_length=8", "max_prompt_length=192"]
SGPO = ["max_steps=2", "num_generations=2", "num_guided_generations=2", "per_device_train_batch_size=2",
        "max_completion_length=4", "max_prompt_length=320"]


def build_demo(root: Path) -> Path:
    from annotators import get_describer, get_tagger
    from pipeline.annotate import annotate
    from pipeline.curate import curate
    from pipeline.describe import describe
    from pipeline.export.stage import export
    from pipeline.ingest.mapping import load_mapping
    from pipeline.ingest.stage import ingest
    from pipeline.curate.policy import Policy, SplitPolicy
    from pipeline.sample.generate import write_sample
    from pipeline.verify import verify
    from schemas import load_taxonomy
    from trainer.__main__ import run_eval, run_train
    from warehouse import Lake

    root.mkdir(parents=True, exist_ok=True)
    sample = root / "sample.jsonl"
    write_sample(sample, 12, seed=0)
    with sample.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "broken", "question": \n')
    taxonomy = load_taxonomy()
    with Lake.open(root, holder="test-report") as lake:
        ingest(lake, [sample], load_mapping("stratagem-sample"))
        verify(lake)
        annotate(lake, get_tagger("rules", taxonomy=taxonomy), taxonomy=taxonomy)
        describe(lake, get_describer("rules", k=3, taxonomy=taxonomy))
        curate(lake, Policy(splits=SplitPolicy(train=0.5, val=0.1, test=0.4)))
        exported = export(lake, "demo", exports_root=root / "exports")
    runs = root / "runs"
    run_train("sft", str(exported.path), "tiny", str(runs / "sft"), overrides=SFT)
    run_train("sgpo", str(exported.path), "tiny", str(runs / "sgpo"), overrides=SGPO)
    run_eval([str(runs / "sft" / "final"), str(runs / "sgpo" / "final")], str(exported.path), max_new_tokens=4,
             batch_size=16, limit=2, json_out=str(runs / "eval.json"))
    (root / DONE).write_text("ok\n")
    return root


def demo_root(tmp_path_factory) -> Path:
    """The session's demo root, built by the first module that asks (a file lock keeps it to once)."""
    root = tmp_path_factory.getbasetemp() / "demo"
    lock = tmp_path_factory.getbasetemp() / "demo.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not (root / DONE).is_file():
            build_demo(root)
    return root
