"""Command line for the trainer (also what `stratagem train` / `stratagem eval` call).

    python -m trainer --algo sgpo --data EXPORT_DIR --model tiny --out runs/sgpo [--config f.toml] [--set k=v ...]
    torchrun --nproc_per_node 2 -m trainer --algo grpo --data EXPORT_DIR --model smollm2-135m --out runs/grpo
    python -m trainer eval --model runs/sft/final runs/sgpo/final --data EXPORT_DIR [--limit N] [--json out.json]

Bad flags, export folders, model paths or config keys end with one line and exit code 2,
before any model is loaded.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schemas.export import ExportError
from trainer.config import ALGOS, ConfigError, load_config
from trainer.model import ModelError

USER_ERRORS = (ConfigError, ExportError, ModelError)


def run_train(algo: str, data: str, model: str, out: str, config: str | None = None,
              overrides: list[str] | tuple = ()) -> Path:
    from trainer.train import train

    cfg = load_config(config, list(overrides), algo=algo)
    return train(cfg, data, model, out).final


def run_eval(models: list[str], data: str, max_new_tokens: int = 256, batch_size: int = 32, limit: int | None = None,
             count_strategies: bool = False, json_out: str | None = None) -> str:
    from trainer.eval import evaluate, format_report

    report = evaluate(models, data, max_new_tokens=max_new_tokens, batch_size=batch_size, limit=limit,
                      count_strategies=count_strategies)
    if json_out:
        Path(json_out).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return format_report(report)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if argv and argv[0] == "eval":
        p = argparse.ArgumentParser(prog="python -m trainer eval",
                                    description="Greedy accuracy on test_original and each test_<perturbation> split.")
        p.add_argument("--model", nargs="+", required=True, help="checkpoint folders, GGUF files or presets")
        p.add_argument("--data", required=True, help="export folder")
        p.add_argument("--max-new-tokens", type=int, default=256)
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--limit", type=int, default=None, help="at most N problems per split")
        p.add_argument("--strategies", action="store_true", help="count strategy labels in outputs (rules tagger)")
        p.add_argument("--json", default=None, help="also write the report as JSON here")
        a = p.parse_args(argv[1:])
        try:
            print(run_eval(a.model, a.data, a.max_new_tokens, a.batch_size, a.limit, a.strategies, a.json))
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if argv and argv[0] == "train":
        argv = argv[1:]
    p = argparse.ArgumentParser(prog="python -m trainer", description="Train with sft, grpo or sgpo on an export folder.")
    p.add_argument("--algo", required=True, choices=ALGOS)
    p.add_argument("--data", required=True, help="export folder (stratagem export NAME)")
    p.add_argument("--model", required=True, help="tiny | smollm2-135m | HF folder | .gguf file")
    p.add_argument("--out", required=True, help="output folder: config.json, metrics.jsonl, checkpoints")
    p.add_argument("--config", default=None, help="TOML file of TrainConfig keys")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    a = p.parse_args(argv)
    try:
        final = run_train(a.algo, a.data, a.model, a.out, a.config, a.set)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"final checkpoint: {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
