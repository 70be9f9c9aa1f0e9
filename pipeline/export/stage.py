"""The export stage: a curated set at one DuckLake snapshot -> a versioned export folder.

    result = export(lake, "gsm-v1")                     # <root>/exports/gsm-v1/
    result = rebuild(lake, "exports/gsm-v1/manifest.json")   # same bytes, from the recorded snapshot
    problems = check("exports/gsm-v1/manifest.json")    # ["train/sft.trl.jsonl: modified", ...]

Writes go to a hidden temp folder beside the target, renamed into place at the end: a
failed or empty export leaves nothing behind, and an existing export is replaced only with
`force`. Data files hold no timestamps and rows come in a fixed order, so the same snapshot
and curate run give the same bytes; the manifest's `created_at` is the one field that
changes, and a rebuild copies it from the manifest it rebuilds.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.compute as pc
from rich.progress import Progress

from pipeline.export.adapters import has_sft, rl_only_rows, split_jobs, write_parquet
from pipeline.export.card import card_stats, write_card
from pipeline.export.folders import FolderError, safe_target
from pipeline.export.native import read_native
from pipeline.export.tokens import load_token_counter
from pipeline.processes import pid_alive
from schemas import SCHEMA_VERSION, load_taxonomy
from schemas.export import (DATA_FILE, EXPORT_SCHEMA_VERSION, MANIFEST, PROMPT_SUFFIX, PROMPT_TEMPLATE, ExportError,
                            sha256_file, suffix_of)
from warehouse import LakeQueryError

DEFAULT_MAX_PROMPT_CHARS = 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict
    mismatches: list[str] = field(default_factory=list)  # rebuild: files that did not come out identical


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise ExportError(f"export name {name!r} must be a plain folder name (letters, digits, '.', '_', '-'; "
                          "no '/', no '..', not absolute)")
    return name


def _checked(lake, target: Path, *, replace_any: bool = True) -> Path:
    """`target` with its parents resolved, once pipeline.export.folders has found it safe to replace."""
    try:
        return safe_target(target, lake_root=lake.root, replace_any=replace_any)
    except FolderError as exc:
        raise ExportError(str(exc)) from None


def latest_curate_run(lake) -> str:
    run_id = lake.scalar("SELECT run_id FROM runs WHERE stage = 'curate' AND status = 'ok' "
                         "ORDER BY started_at DESC, run_id DESC LIMIT 1")
    if run_id is None:
        raise ExportError("no curated set in the lake: run `stratagem curate` first")
    return run_id


def _source_runs(lake, snapshot: int, curate_run: str) -> dict[str, list[str]]:
    rows = lake.rows("""
        WITH c AS (SELECT * FROM curated AT (VERSION => $s) WHERE run_id = $run),
        ids AS (
            SELECT p.run_id FROM problems p AT (VERSION => $s) JOIN c USING (problem_id)
            UNION SELECT t.run_id FROM trajectories t AT (VERSION => $s) JOIN c USING (trajectory_id)
            UNION SELECT v.run_id FROM verdicts v AT (VERSION => $s) JOIN c USING (trajectory_id)
            UNION SELECT g.run_id FROM strategies g AT (VERSION => $s) JOIN c USING (strategy_id)
            UNION SELECT sp.run_id FROM spans sp AT (VERSION => $s) JOIN c USING (trajectory_id)
                  WHERE sp.superseded_by IS NULL)
        SELECT coalesce(r.stage, 'unrecorded'), list(DISTINCT ids.run_id ORDER BY ids.run_id)
        FROM ids LEFT JOIN runs r AT (VERSION => $s) USING (run_id)
        WHERE ids.run_id IS NOT NULL GROUP BY 1 ORDER BY 1""", {"s": snapshot, "run": curate_run})
    return {stage: ids for stage, ids in rows}


def export(lake, name: str, *, curate_run: str | None = None, max_prompt_chars: int | None = DEFAULT_MAX_PROMPT_CHARS,
           max_prompt_tokens: int | None = None, tokenizer: str | None = None, force: bool = False,
           exports_root: Path | None = None, progress: Progress | None = None) -> ExportResult:
    """Export the curated set of `curate_run` (default: the latest) at the lake's current snapshot."""
    check_name(name)
    if max_prompt_tokens is not None and not tokenizer:
        raise ExportError("--max-prompt-tokens needs --tokenizer (a tokenizer.json, a folder holding one, or a cached model)")
    target = _checked(lake, (exports_root or lake.root / "exports") / name)
    if target.exists() and not force:
        raise ExportError(f"export {name!r} already exists at {target}; pass --force to replace it")
    snapshot = lake.snapshot_id()
    run_id = curate_run or latest_curate_run(lake)
    config = lake.scalar("SELECT config FROM runs WHERE run_id = ? AND stage = 'curate'", [run_id])
    if config is None:
        raise ExportError(f"no curate run {run_id!r} in the lake")
    policy = json.loads(config)
    curated_sha = policy.pop("taxonomy_sha256", None)  # recorded by curate next to the policy
    taxonomy = load_taxonomy(policy.get("taxonomy"))
    if curated_sha and curated_sha != taxonomy.sha256:
        raise ExportError(f"taxonomy {taxonomy.name} changed since curate run {run_id} (sha256 {curated_sha[:12]} "
                          f"then, {taxonomy.sha256[:12]} now): run `stratagem curate` again")
    spec = {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "export_name": name,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "snapshot_id": snapshot,
        "taxonomy": {"name": taxonomy.name, "version": taxonomy.version, "sha256": taxonomy.sha256,
                     "labels": list(taxonomy.names)},
        "run_ids": {"curate": run_id} | _source_runs(lake, snapshot, run_id),
        "policy": policy,
        "prompt_template": "{question}" + (policy.get("prompt") or {}).get("suffix", PROMPT_SUFFIX),
        "max_prompt_chars": max_prompt_chars,
        "max_prompt_tokens": max_prompt_tokens,
        "tokenizer": tokenizer,
        "lake_schema_version": SCHEMA_VERSION,
    }
    return _build(lake, target, spec, replace=force, progress=progress)


def _build(lake, target: Path, spec: dict, *, replace: bool, progress: Progress | None,
           expect_files: dict[str, str] | None = None) -> ExportResult:
    counter = load_token_counter(spec["tokenizer"]) if spec.get("max_prompt_tokens") else None
    try:
        table, filtered = read_native(lake, spec["snapshot_id"], spec["run_ids"]["curate"],
                                      max_prompt_chars=spec["max_prompt_chars"],
                                      max_prompt_tokens=spec["max_prompt_tokens"], token_counter=counter,
                                      suffix=suffix_of(spec.get("prompt_template", PROMPT_TEMPLATE)))
    except LakeQueryError as exc:  # a snapshot that was expired, a table missing at that version
        raise ExportError(f"cannot read snapshot {spec['snapshot_id']}: {exc}") from None
    if table.num_rows == 0:
        why = ", ".join(f"{k}: {v}" for k, v in filtered.items() if v) or "the curate run accepted no rows"
        raise ExportError(f"nothing to export: the curated set of run {spec['run_ids']['curate']} is empty "
                          f"after filtering ({why}); no folder written")
    splits = list(dict.fromkeys(table["split"].to_pylist()))
    task = progress.add_task(f"export {spec['export_name']}", total=4 * len(splits) + 2) if progress else None
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_leftovers(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_formats(table, splits, tmp, on_file=lambda: _advance(progress, task))
        manifest = dict(spec)
        manifest["counts"] = _counts(table)
        manifest["filtered"] = filtered
        manifest |= _rl_only(table, splits)
        with ThreadPoolExecutor(2, thread_name_prefix="export-sha256") as pool:
            # the data files hash (hashlib releases the GIL) while the card and its plots render
            digests = {p: pool.submit(sha256_file, tmp / p) for p in _files(tmp)}
            write_card(tmp, manifest, card_stats(table, lake, spec["snapshot_id"]))
            digests.update({p: pool.submit(sha256_file, tmp / p) for p in _files(tmp) if p not in digests})
            manifest["files"] = {p: digests[p].result() for p in sorted(digests)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _advance(progress, task)
        mismatches = _diff(expect_files, manifest["files"]) if expect_files is not None else []
        if mismatches:
            shutil.rmtree(tmp)
            return ExportResult(target, manifest, mismatches)
        _swap(tmp, target, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(target, manifest)


def write_formats(table, splits: list[str], folder: Path, on_file=lambda: None) -> None:
    """data.parquet plus the four adapter files of every split, written in parallel threads
    (polars and pyarrow release the GIL while encoding)."""
    jobs = [lambda: write_parquet(table, folder / DATA_FILE)]
    counts = _counts(table)
    offset = 0
    for split in splits:  # rows come grouped by split (read_native's order): slices share the buffers
        part = table.slice(offset, counts[split])
        offset += counts[split]
        if pc.count_distinct(part["split"]).as_py() != 1:
            raise AssertionError("native rows are not grouped by split")
        jobs += split_jobs(part, folder / split)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
            on_file()


def _rl_only(table, splits: list[str]) -> dict:
    """Manifest fields for RL-only rows (problems without a trajectory): their count per split
    and the SFT files left out because a split has no trajectory at all; {} when there are none."""
    counts = _counts(table)
    rl_only, skipped, offset = {}, {}, 0
    for split in splits:
        part = table.slice(offset, counts[split])
        offset += counts[split]
        if n := rl_only_rows(part):
            rl_only[split] = n
        if not has_sft(part):
            skipped[f"{split}/sft.trl.jsonl"] = f"no teacher trajectory in this split ({n:,} RL-only rows)"
    return ({"rl_only": rl_only} if rl_only else {}) | ({"skipped": skipped} if skipped else {})


def _counts(table) -> dict[str, int]:
    out: dict[str, int] = {}
    for split in table["split"].to_pylist():
        out[split] = out.get(split, 0) + 1
    return out


def _advance(progress: Progress | None, task) -> None:
    if progress is not None:
        progress.advance(task)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def _diff(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    out = [f"{p}: differs" for p in sorted(expected) if p in actual and actual[p] != expected[p]]
    out += [f"{p}: not produced" for p in sorted(expected) if p not in actual]
    out += [f"{p}: not in the manifest" for p in sorted(actual) if p not in expected]
    return sorted(out)


def _sweep_leftovers(target: Path) -> None:
    """Remove the temporary folders (`.NAME.tmp-PID`, `.NAME.old-PID`) of exports that were killed."""
    for folder in target.parent.glob(f".{glob.escape(target.name)}.*-*"):
        kind, _, pid = folder.name[len(target.name) + 2:].rpartition("-")
        if kind in ("tmp", "old") and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _swap(tmp: Path, target: Path, replace: bool) -> None:
    if target.exists():
        if not replace:
            raise ExportError(f"{target} appeared while exporting; pass --force to replace it")
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old)
    else:
        tmp.rename(target)


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ExportError(f"manifest {path} is not valid JSON: {exc}") from None
    need = ("schema_version", "export_name", "snapshot_id", "run_ids", "files", "max_prompt_chars")
    missing = [k for k in need if k not in manifest] if isinstance(manifest, dict) else list(need)
    if missing:
        raise ExportError(f"manifest {path} lacks {', '.join(missing)}")
    if manifest["schema_version"] != EXPORT_SCHEMA_VERSION:
        raise ExportError(f"manifest {path} has schema {manifest['schema_version']!r}; this stratagem writes "
                          f"{EXPORT_SCHEMA_VERSION!r}")
    return manifest


def check(manifest_path: str | Path) -> list[str]:
    """Files of the export that differ from the manifest (empty when everything matches)."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    folder = manifest_path.parent
    actual = {p: sha256_file(folder / p) for p in _files(folder)}
    return [m.replace("not produced", "missing") for m in _diff(manifest["files"], actual)]


def rebuild(lake, manifest_path: str | Path, *, out: Path | None = None, force: bool = False,
            progress: Progress | None = None) -> ExportResult:
    """Rebuild an export from the snapshot and curate run its manifest records.

    In place (default) the folder is replaced only when every file came out identical;
    `mismatches` lists those that did not (then nothing is written). Files in the folder that
    the manifest does not list would be lost, so they stop an in-place rebuild without `force`."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    target = _checked(lake, Path(out) if out else manifest_path.parent, replace_any=not out)
    if out and target.exists() and not force:
        raise ExportError(f"{target} already exists; pass --force to replace it")
    unlisted = [] if out or force else [p for p in _files(target) if p not in manifest["files"]]
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
        raise ExportError(f"{target} holds files its manifest does not list ({shown}); a rebuild in place would "
                          "delete them: pass --out DIR, or --force to replace the folder")
    spec = {k: v for k, v in manifest.items() if k not in ("counts", "filtered", "files", "rl_only", "skipped")}
    return _build(lake, target, spec, replace=True, progress=progress, expect_files=manifest["files"])
