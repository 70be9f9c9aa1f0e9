"""`stratagem demo`: the whole workbench on the built-in sample, end to end, in minutes on a CPU.

    stratagem demo [--root DIR] [--quick] [--force]

sample -> ingest -> verify -> annotate (rules) -> describe (rules) -> agreement -> curate ->
export -> train (trajectory-imitation SFT, then SGPO from the SFT checkpoint) -> eval (original vs perturbed) ->
report. With `OPENAI_BASE_URL` (and `STRATAGEM_LLM_MODEL`, default `gpt-4o-mini`) set,
the LLM tagger and describer run too and the report compares them with rules and gold.

Layout it leaves under the root (read by the report and the notebooks):

    catalog.ducklake, data/     the lake
    sample.jsonl                the generated input
    exports/demo/               the export
    runs/sft/, runs/sgpo/       trainer outputs (config.json, metrics.jsonl, final/)
    runs/eval.json              accuracy per split, side by side
    report.html                 the report
    demo.json                   marks the root as a demo root (a rerun reuses it)
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.console import RootOpt, console, fail, out
from warehouse import Lake, resolve_root

DEMO_MODEL = "tiny"  # a 2-layer, hidden-64 Llama with a byte-level tokenizer: trains in seconds on a CPU
MARKER = "demo.json"


@dataclass(frozen=True)
class DemoSize:
    seeds: int
    sft_steps: int
    sgpo_steps: int
    eval_limit: int
    completion_tokens: int


SIZES = {"full": DemoSize(seeds=120, sft_steps=300, sgpo_steps=30, eval_limit=25, completion_tokens=64),
         "quick": DemoSize(seeds=30, sft_steps=8, sgpo_steps=2, eval_limit=3, completion_tokens=24)}


class DemoRefused(ValueError):
    """The root holds data that is not an earlier demo's."""


@dataclass
class DemoResult:
    root: Path
    report: Path | None
    model: str
    rows: list[tuple[str, str, float]] = field(default_factory=list)  # stage, outcome, seconds


def check_root(root: Path, force: bool) -> None:
    if force or not root.exists() or (root / MARKER).exists() or not any(root.iterdir()):
        return
    raise DemoRefused(f"{root} already holds data that is not from `stratagem demo`; "
                      "choose another --root, or pass --force to add the demo's data to it")


def _counts(report, *keys: str) -> str:
    return ", ".join(f"{k.replace('written.', '')} {report.counts.get(k, 0):,}" for k in keys)


def _trainer_overrides(size: DemoSize, steps: int) -> list[str]:
    return [f"max_steps={steps}", "learning_rate=0.001", f"max_completion_length={size.completion_tokens}",
            "num_generations=4", "num_guided_generations=2", "per_device_train_batch_size=8", "max_prompt_length=256",
            "num_threads=1"]  # one intra-op thread is fastest for a model this small


def run_demo(root: Path, *, quick: bool = False, force: bool = False, show: bool = True) -> DemoResult:
    """Run every stage into `root`; returns what each stage did (also printed when `show`)."""
    from pipeline.annotate import annotate
    from pipeline.curate import curate
    from pipeline.describe import describe
    from pipeline.export.stage import export
    from pipeline.ingest.mapping import load_mapping
    from pipeline.ingest.stage import ingest
    from pipeline.policy import load_policy
    from pipeline.sample.generate import write_sample
    from pipeline.verify import verify
    from annotators import get_describer, get_tagger
    from schemas import load_taxonomy

    root = Path(root).resolve()
    check_root(root, force)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(json.dumps({"quick": quick, "model": DEMO_MODEL}) + "\n")
    size = SIZES["quick" if quick else "full"]
    result = DemoResult(root=root, report=None, model=DEMO_MODEL)
    taxonomy = load_taxonomy()
    bar = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                   console=console, disable=not show, transient=True)

    @contextmanager
    def stage(name: str) -> Iterator[list[str]]:
        outcome: list[str] = []
        task = bar.add_task(name, total=None)
        t0 = time.perf_counter()
        yield outcome
        seconds = time.perf_counter() - t0
        bar.remove_task(task)
        result.rows.append((name, outcome[0] if outcome else "done", seconds))
        if show:
            console.print(f"[green]✓[/] {name:<22} {outcome[0] if outcome else ''}  [dim]{seconds:.1f}s[/]")

    sample_path = root / "sample.jsonl"
    runs = root / "runs"
    with bar:
        with stage("sample") as done:
            n = write_sample(sample_path, size.seeds, seed=0)
            done.append(f"{n:,} problems and teacher trajectories ({size.seeds} seeds x variants)")
        with Lake.open(root, holder="demo") as lake:
            with stage("ingest") as done:
                report = ingest(lake, [sample_path], load_mapping("stratagem-sample"))
                done.append(_counts(report, "read", "accepted", "quarantined", "duplicates", "written.spans"))
            with stage("verify") as done:
                report = verify(lake)
                done.append(_counts(report, "correct", "incorrect"))
            with stage("annotate (rules)") as done:
                report = annotate(lake, get_tagger("rules", taxonomy=taxonomy), taxonomy=taxonomy)
                done.append(_counts(report, "tagged", "written.spans"))
            with stage("describe (rules)") as done:
                report = describe(lake, get_describer("rules", k=5, taxonomy=taxonomy))
                done.append(_counts(report, "described", "leak_free", "leaking"))
            if os.environ.get("OPENAI_BASE_URL"):
                _llm_stages(lake, root, taxonomy, stage)
            with stage("curate") as done:
                report = curate(lake, load_policy(None))
                done.append(_counts(report, "read", "accepted") + ", splits " + ", ".join(
                    f"{k[6:]} {v}" for k, v in report.counts.items() if k.startswith("split.")))
            with stage("export") as done:
                exported = export(lake, "demo", force=True, exports_root=root / "exports")
                done.append(f"{sum(exported.manifest['counts'].values()):,} rows -> {exported.path}")
        from transformers.utils import logging as hf_logging

        from trainer.__main__ import run_eval, run_train

        hf_logging.disable_progress_bar()
        # SGPO starts from the SFT checkpoint: the paper's recipe warms up with SFT first.
        for algo, start, steps in (("sft", DEMO_MODEL, size.sft_steps),
                                   ("sgpo", str(runs / "sft" / "final"), size.sgpo_steps)):
            with stage(f"train {algo} ({DEMO_MODEL})") as done:
                run_train(algo, str(exported.path), start, str(runs / algo), overrides=_trainer_overrides(size, steps))
                done.append(f"{steps} steps from {Path(start).parent.name + ' checkpoint' if algo == 'sgpo' else start}"
                            f" -> {runs / algo}")
        with stage("eval") as done:
            run_eval([str(runs / "sft" / "final"), str(runs / "sgpo" / "final")], str(exported.path),
                     max_new_tokens=size.completion_tokens, limit=size.eval_limit, json_out=str(runs / "eval.json"))
            done.append(_eval_summary(runs / "eval.json"))
        with stage("report") as done:
            result.report = _report(root, exported.path, [runs / "sft", runs / "sgpo"], runs / "eval.json")
            done.append(str(result.report) if result.report else "report builder not available")
    return result


def _llm_stages(lake: Lake, root: Path, taxonomy, stage) -> None:
    """The LLM tagger and describer against the configured OpenAI-compatible endpoint."""
    from annotators import get_describer, get_tagger
    from pipeline.annotate import annotate
    from pipeline.describe import describe

    options = {"base_url": os.environ["OPENAI_BASE_URL"], "model": os.environ.get("STRATAGEM_LLM_MODEL", "gpt-4o-mini"),
               "concurrency": 8, "max_retries": 2, "timeout_s": 120.0, "api_key_env": "OPENAI_API_KEY",
               "cache_dir": root / "cache" / "llm"}
    with stage("annotate (llm)") as done:
        report = annotate(lake, get_tagger("llm", taxonomy=taxonomy, **options), taxonomy=taxonomy, limit=100)
        done.append(_counts(report, "tagged", "written.spans", "quarantined"))
    with stage("describe (llm)") as done:
        report = describe(lake, get_describer("llm", k=5, taxonomy=taxonomy, **options), limit=50)
        done.append(_counts(report, "described", "leak_free", "leaking"))


def _eval_summary(path: Path) -> str:
    data = json.loads(path.read_text())
    parts = []
    for r in data["results"]:
        acc = r["accuracy"]
        perturbed = [v for k, v in acc.items() if k != "test_original"]
        mean_perturbed = sum(perturbed) / len(perturbed) if perturbed else float("nan")
        parts.append(f"{Path(r['model']).parent.name}: original {acc.get('test_original', float('nan')):.2f}, "
                     f"perturbed {mean_perturbed:.2f}")
    return "; ".join(parts)


def _report(root: Path, export_dir: Path, run_dirs: list[Path], eval_json: Path) -> Path | None:
    try:
        from pipeline.report import build_report
    except ImportError:
        return None
    with Lake.open(root, read_only=True) as lake:
        return build_report(lake, export_dir=export_dir, run_dirs=run_dirs, eval_json=eval_json,
                            out=root / "report.html")


def summary_table(result: DemoResult) -> Table:
    table = Table(title=f"stratagem demo: {result.root}", title_justify="left")
    table.add_column("stage")
    table.add_column("outcome")
    table.add_column("seconds", justify="right")
    for name, outcome, seconds in result.rows:
        table.add_row(name, outcome, f"{seconds:.1f}")
    table.caption = f"model: {result.model} (2-layer Llama built from a config, byte-level tokenizer)"
    return table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        root: RootOpt = None,
        quick: Annotated[bool, typer.Option("--quick", help="Fewer problems and steps (10-20 s on 2 CPU cores instead of ~30 s).")] = False,
        force: Annotated[bool, typer.Option("--force", help="Run even if the root holds other data (nothing is deleted).")] = False,
    ) -> None:
        """Run every stage on the built-in sample and write an HTML report.

        Generates sample problems with a procedural teacher, ingests and verifies them, tags
        strategies with the rules tagger, writes strategy descriptions, curates, exports,
        trains a tiny model with trajectory-imitation SFT and with SGPO, evaluates both on
        original and perturbed test problems, and prints where the report is.
        """
        from pipeline.export.stage import ExportError

        target = resolve_root(root)
        try:
            result = run_demo(target, quick=quick, force=force)
        except (DemoRefused, ExportError) as exc:
            fail(str(exc))
        out.print(summary_table(result))
        if result.report:
            out.print(f"\nreport: [bold]{result.report}[/]  (open it in a browser)")
