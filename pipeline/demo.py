"""`stratagem demo`: the whole workbench on the built-in sample, end to end, in minutes on a CPU.

    stratagem demo [--root DIR] [--quick] [--force]

sample -> ingest -> verify -> annotate (rules) -> describe (rules) -> curate ->
export -> train (trajectory-imitation SFT, then SGPO from the SFT checkpoint) -> eval (original vs perturbed) ->
report. With `OPENAI_BASE_URL` (and `STRATAGEM_LLM_MODEL`, default `gpt-4o-mini`) set,
the LLM tagger and describer run too and the report compares them with rules and gold.

The data is the sample's short-form family `lookup` (one-line solutions the tiny model can
learn in a couple of minutes; its strategy names the container a comparison question
means). Prompt and completion limits come from the export's token lengths (`export_lengths`),
so no target is cut. The SFT warm-up reads a copy of the export where every other train row
has the strategy-guided prompt (`guided_warmup_export`): the untrained model has never seen
a strategy, where the paper's chat models have read instructions. What each run learned
from (the trainer's learning-signal figures), how far SGPO moved the weights, and accuracy per split with 95%
Wilson intervals are printed and kept in demo.json with one sentence on what the demo shows
(`WHAT_IT_SHOWS`: the mechanism on a toy model; bench/sgpo_experiment.py is the experiment).

Layout it leaves under the root (read by the report and the notebooks):

    catalog.sqlite, data/       the lake
    sample.jsonl                the generated input
    exports/demo/               the export
    runs/sft-data/              the export with guided prompts on every other train row (SFT reads it)
    runs/sft/, runs/sgpo/       trainer outputs (config.json, metrics.jsonl, final/)
    runs/eval.json              accuracy per split, side by side
    report.html                 the report
    demo.json                   marks the root as a demo root (a rerun reuses it); what_it_shows,
                                lengths, learning signal, accuracy with intervals
"""
from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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
    sft_batch: int
    sgpo_steps: int
    eval_limit: int


SIZES = {"full": DemoSize(seeds=400, sft_steps=800, sft_batch=16, sgpo_steps=40, eval_limit=60),
         "quick": DemoSize(seeds=240, sft_steps=400, sft_batch=8, sgpo_steps=8, eval_limit=20)}
FAMILY = "lookup"  # the built-in sample's short-form family: one-line solutions the tiny model can learn
WHAT_IT_SHOWS = ("On a toy-sized model and one short-form task, the demo shows SGPO's mechanism running: "
                 "strategy-guided rollouts, adaptive alpha and a distillation loss that moves the weights away "
                 "from the SFT checkpoint; it is not evidence for the paper's claim (bench/sgpo_experiment.py "
                 "is the experiment on that).")


@dataclass(frozen=True)
class Lengths:
    """Token limits taken from the exported rows (tiny model's byte-level tokenizer)."""
    prompt: int          # longest strategy-guided prompt of the train split
    completion: int      # longest teacher completion plus EOS
    eval_prompt: int     # longest unguided test prompt


class DemoRefused(ValueError):
    """The root holds data that is not an earlier demo's."""


@dataclass
class DemoResult:
    root: Path
    report: Path | None
    model: str
    rows: list[tuple[str, str, float]] = field(default_factory=list)  # stage, outcome, seconds
    signal: dict[str, dict] = field(default_factory=dict)             # algo -> the trainer's signal figures
    accuracy: dict[str, dict[str, dict]] = field(default_factory=dict)  # model -> split -> interval
    guess: dict[str, dict] = field(default_factory=dict)                 # split -> interval of guess_baseline


def check_root(root: Path, force: bool) -> None:
    if force or not root.exists() or (root / MARKER).exists() or not any(root.iterdir()):
        return
    raise DemoRefused(f"{root} already holds data that is not from `stratagem demo`; "
                      "choose another --root, or pass --force to add the demo's data to it")


def _counts(report, *keys: str) -> str:
    return ", ".join(f"{k.replace('written.', '')} {report.counts.get(k, 0):,}" for k in keys)


def export_lengths(export_dir: Path) -> Lengths:
    """Prompt and completion limits from the export's token-length distribution: the longest
    row of each kind, rounded up to a multiple of 8, so no target, question or strategy is cut."""
    from trainer.data import guided_prompt, load_export, render_prompt
    from trainer.model import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    data = load_export(export_dir)
    train = data.split("train")

    def longest(texts: list[str]) -> int:
        return max(len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"])

    guided = [guided_prompt(tok, e.prompt, e.strategy, 1 << 30) for e in train]
    completions = [e.teacher_completion for e in train if e.teacher_completion]
    tests = [render_prompt(tok, e.prompt) for split in data.test_splits() for e in data.split(split)]
    up = lambda n: -(-n // 8) * 8  # noqa: E731
    return Lengths(prompt=up(longest(guided)), completion=up(longest(completions) + 1), eval_prompt=up(longest(tests)))


def guided_warmup_export(export_dir: Path, out_dir: Path) -> Path:
    """A copy of the export whose every other train row has the strategy-guided prompt (the
    format SGPO's guided rollouts use), for the SFT warm-up: a chat model has read instructions
    before it is distilled, the tiny model has not, and without this its guided rollouts are
    noise (measured: 1 of 60 greedy guided answers correct vs 17 of 60 unguided)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.export import sha256_file
    from trainer.data import guided_messages, read_manifest

    _, manifest = read_manifest(export_dir)
    rows = pq.read_table(export_dir / "data.parquet")
    schema = rows.schema
    records = rows.to_pylist()
    train_seen = 0
    for row in records:
        if row["split"] == "train" and row["strategy"]:
            if train_seen % 2:
                row["prompt"] = guided_messages(row["prompt"], row["strategy"])
            train_seen += 1
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records, schema=schema), out_dir / "data.parquet")
    manifest = {**manifest, "export_name": f"{manifest['export_name']}-guided-warmup",
                "files": {"data.parquet": sha256_file(out_dir / "data.parquet")}}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def _trainer_overrides(algo: str, size: DemoSize, lengths: Lengths) -> list[str]:
    steps = size.sft_steps if algo == "sft" else size.sgpo_steps
    common = [f"max_steps={steps}", f"max_completion_length={lengths.completion}",
              f"max_prompt_length={lengths.prompt}", "num_threads=1"]  # one intra-op thread is fastest for a model this small
    if algo == "sft":
        # 0.01 (measured on the quick size: 0.002 and 0.006 leave the model copying no label or count yet)
        return common + ["learning_rate=0.01", f"per_device_train_batch_size={size.sft_batch}", "warmup_steps=30"]
    return common + ["learning_rate=0.0001", "num_generations=8", "num_guided_generations=4",
                     "per_device_train_batch_size=32", "temperature=0.7"]


def run_demo(root: Path, *, quick: bool = False, force: bool = False, show: bool = True) -> DemoResult:
    """Run every stage into `root`; returns what each stage did (also printed when `show`)."""
    from pipeline.annotate import annotate
    from pipeline.curate import curate
    from pipeline.describe import describe
    from pipeline.export.stage import export
    from pipeline.ingest.mapping import load_mapping
    from pipeline.ingest.stage import ingest
    from pipeline.curate.policy import load_policy
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
            n = write_sample(sample_path, size.seeds, seed=0, families=(FAMILY,))
            done.append(f"{n:,} {FAMILY} problems and teacher trajectories ({size.seeds} seeds x variants)")
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
        lengths = export_lengths(exported.path)
        from transformers.utils import logging as hf_logging

        from trainer.__main__ import run_eval
        from trainer.config import load_config
        from trainer.train import train

        hf_logging.disable_progress_bar()
        # SGPO starts from the SFT checkpoint: the paper's recipe warms up with SFT first.
        warmup = guided_warmup_export(exported.path, runs / "sft-data")
        for algo, start, steps, data in (("sft", DEMO_MODEL, size.sft_steps, warmup),
                                         ("sgpo", str(runs / "sft" / "final"), size.sgpo_steps, exported.path)):
            with stage(f"train {algo} ({DEMO_MODEL})") as done:
                cfg = load_config(None, _trainer_overrides(algo, size, lengths), algo=algo)
                result.signal[algo] = dict(train(cfg, str(data), start, str(runs / algo), show_progress=False).signal)
                done.append(f"{steps} steps from {Path(start).parent.name + ' checkpoint' if algo == 'sgpo' else start}: "
                            + _signal_summary(result.signal[algo]))
        result.signal["sgpo"]["weight_change"] = weight_change(runs / "sft" / "final", runs / "sgpo" / "final")
        with stage("eval") as done:
            run_eval([str(runs / "sft" / "final"), str(runs / "sgpo" / "final")], str(exported.path),
                     max_new_tokens=lengths.completion, limit=size.eval_limit, json_out=str(runs / "eval.json"))
            result.accuracy = accuracy_with_intervals(runs / "eval.json")
            result.guess = guess_baseline(exported.path, size.eval_limit)
            done.append(_eval_summary(result.accuracy))
        (root / MARKER).write_text(json.dumps({
            "quick": quick, "model": DEMO_MODEL, "family": FAMILY, "what_it_shows": WHAT_IT_SHOWS,
            "lengths": asdict(lengths), "signal": result.signal, "accuracy": result.accuracy,
            "guess_baseline": result.guess}, indent=2) + "\n")
        with stage("report") as done:
            result.report = _report(root, exported.path, [runs / "sft", runs / "sgpo"], runs / "eval.json")
            done.append(str(result.report) if result.report else "report builder not available")
    return result


def _llm_stages(lake: Lake, root: Path, taxonomy, stage) -> None:
    """The LLM tagger and describer against the configured OpenAI-compatible endpoint."""
    import llm  # noqa: F401  (registers the "llm" tagger and describer)
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


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) for k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _interval(k: int, n: int) -> dict:
    low, high = wilson(k, n)
    return {"correct": k, "n": n, "accuracy": k / n if n else 0.0, "low": low, "high": high}


def guess_baseline(export_dir: Path, limit: int | None) -> dict[str, dict]:
    """split -> the accuracy of always answering the train split's most common answer, on the
    rows eval scores (the first `limit` of each test split): what a model that reads nothing
    in the question gets, so a reader can tell learning from guessing."""
    from collections import Counter

    from trainer.data import load_export

    data = load_export(export_dir)
    common = Counter(e.answer for e in data.split("train")).most_common(1)[0][0]
    rows = {split: data.split(split)[:limit] if limit else data.split(split) for split in data.test_splits()}
    return {split: _interval(sum(e.answer == common for e in got), len(got)) for split, got in rows.items()}


def accuracy_with_intervals(eval_json: Path) -> dict[str, dict[str, dict]]:
    """model -> split -> {correct, n, accuracy, low, high} (Wilson 95%) from `trainer eval --json`."""
    data = json.loads(eval_json.read_text())
    out: dict[str, dict[str, dict]] = {}
    for r in data["results"]:
        per = out.setdefault(Path(r["model"]).parent.name, {})
        for split, acc in r["accuracy"].items():
            n = r["n"][split]
            per[split] = _interval(round(acc * n), n)
    return out


def weight_change(before: Path, after: Path) -> float:
    """||w_after - w_before|| / ||w_before|| over all parameters of two checkpoints."""
    from safetensors.torch import load_file

    a, b = load_file(str(before / "model.safetensors")), load_file(str(after / "model.safetensors"))
    diff = sum(float((b[k].float() - a[k].float()).pow(2).sum()) for k in a)
    norm = sum(float(a[k].float().pow(2).sum()) for k in a)
    return math.sqrt(diff / norm) if norm else 0.0


def _signal_summary(sig: dict) -> str:
    text = f"grad norm > 0 on {sig['nonzero_grad_share']:.0%} of steps"
    if "alpha_positive_share" in sig:
        text += (f", groups with reward variance {sig['reward_variance_group_share']:.0%}, alpha > 0 for "
                 f"{sig['alpha_positive_share']:.0%} of problems, pass rate unguided {sig['pass_rate_unguided']:.2f} "
                 f"vs guided {sig['pass_rate_guided']:.2f}")
    return text


def _eval_summary(accuracy: dict[str, dict[str, dict]]) -> str:
    return "; ".join(f"{model}: " + ", ".join(f"{split[5:]} {c['accuracy']:.2f} [{c['low']:.2f}, {c['high']:.2f}]"
                                              for split, c in splits.items())
                     for model, splits in accuracy.items())


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
    table.caption = (f"model: {result.model} (2-layer Llama built from a config, byte-level tokenizer), "
                     f"family: {FAMILY}. {WHAT_IT_SHOWS}")
    return table


def accuracy_table(result: DemoResult) -> Table:
    """Greedy accuracy per test split and model, with its Wilson 95% interval."""
    table = Table(title="accuracy on held-out test problems (greedy; 95% Wilson interval)", title_justify="left")
    table.add_column("split")
    models = list(result.accuracy)
    for model in models:
        table.add_column(model, justify="right")
    if result.guess:
        table.add_column("guess (most common\ntrain answer)", justify="right")
    cell = lambda c: f"{c['accuracy']:.2f} [{c['low']:.2f}, {c['high']:.2f}]"  # noqa: E731
    for split in next(iter(result.accuracy.values()), {}):
        cells = [result.accuracy[m][split] for m in models]
        guess = [cell(result.guess[split])] if split in result.guess else []
        table.add_row(f"{split} (n={cells[0]['n']})", *map(cell, cells), *guess)
    change = result.signal.get("sgpo", {}).get("weight_change")
    if change is not None:
        table.caption = (f"SGPO moved the weights by {change:.2e} of their norm from the SFT checkpoint; "
                         "see bench/sgpo_experiment.py for the method itself")
    return table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_command(
        root: RootOpt = None,
        quick: Annotated[bool, typer.Option("--quick", help="Fewer problems and steps (about 3 minutes on 2 CPU cores instead of about 8).")] = False,
        force: Annotated[bool, typer.Option("--force", help="Run even if the root holds other data (nothing is deleted).")] = False,
    ) -> None:
        """Run every stage on the built-in sample and write an HTML report.

        Generates short-form sample problems (the lookup family) with a procedural teacher,
        ingests and verifies them, tags strategies with the rules tagger, writes strategy
        descriptions, curates, exports, trains a tiny model with trajectory-imitation SFT and
        then SGPO, evaluates both on original and perturbed test problems (accuracy with 95%
        intervals), prints what each run learned from, and where the report is.
        """
        from schemas.export import ExportError

        target = resolve_root(root)
        try:
            result = run_demo(target, quick=quick, force=force)
        except (DemoRefused, ExportError) as exc:
            fail(str(exc))
        out.print(summary_table(result))
        if result.accuracy:
            out.print(accuracy_table(result))
        if result.report:
            out.print(f"\nreport: [bold]{result.report}[/]  (open it in a browser)")
