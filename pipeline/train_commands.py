"""`stratagem train` and `stratagem eval`: thin wrappers over the trainer package.

    stratagem train --algo sgpo --data stratagem-data/exports/v1 --model smollm2-135m --out runs/sgpo \\
        --config sgpo.toml --set max_steps=200 --set num_generations=8
    stratagem eval --model runs/sft/final --model runs/sgpo/final --data stratagem-data/exports/v1

For several GPUs run the trainer directly: `torchrun --nproc_per_node N -m trainer --algo ...`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.console import fail, out


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        algo: Annotated[str, typer.Option("--algo", help="sft (trajectory imitation), grpo, or sgpo.")],
        data: Annotated[Path, typer.Option("--data", help="Export folder written by `stratagem export`.")],
        model: Annotated[str, typer.Option("--model", help="Preset (tiny, smollm2-135m), a local HF folder "
                                                           "or a .gguf file.")],
        out_dir: Annotated[Path, typer.Option("--out", help="Output folder: config.json, metrics.jsonl, "
                                                            "checkpoint-N/, final/.")],
        config: Annotated[Optional[Path], typer.Option("--config", help="TOML file of trainer config keys.")] = None,
        overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override one config key: key=value "
                                                                             "(repeatable).")] = None,
    ) -> None:
        """Train a model on an export with SFT, GRPO or SGPO; prints a progress line per step."""
        from trainer.__main__ import USER_ERRORS, run_train

        try:
            final = run_train(algo, str(data), model, str(out_dir), str(config) if config else None, overrides or [])
        except USER_ERRORS as exc:
            fail(str(exc))
        out.print(f"final checkpoint: {final}")

    @app.command("eval")
    def eval_cmd(
        model: Annotated[list[str], typer.Option("--model", help="Checkpoint folder, .gguf or preset (repeatable: "
                                                                 "side by side).")],
        data: Annotated[Path, typer.Option("--data", help="Export folder with test_* splits.")],
        max_new_tokens: Annotated[int, typer.Option(help="Greedy generation budget per problem.")] = 256,
        batch_size: Annotated[int, typer.Option(help="Problems per generation batch.")] = 32,
        limit: Annotated[Optional[int], typer.Option(help="At most this many problems per split.")] = None,
        strategies: Annotated[bool, typer.Option("--strategies", help="Count strategy labels in the outputs "
                                                                      "(rules tagger).")] = False,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON.")] = None,
    ) -> None:
        """Greedy accuracy on test_original and each test_<perturbation> split, with the gap per model."""
        from trainer.__main__ import USER_ERRORS, run_eval

        try:
            text = run_eval(model, str(data), max_new_tokens, batch_size, limit, strategies,
                            str(json_out) if json_out else None)
        except USER_ERRORS as exc:
            fail(str(exc))
        out.print(text, highlight=False)
