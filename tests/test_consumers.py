"""The export folder loads in its consumers: `datasets` (native Parquet and JSONL), verl's
documented RL parquet layout, OpenRLHF's JSON label, and TRL's SFTTrainer / GRPOTrainer
training 2 steps each on a tiny model built from a config (no download)."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.curate import curate
from pipeline.export import export
from pipeline.curate.policy import policy_from_dict
from test_export_fixtures import fill_lake, make_family, make_world, merge
from warehouse import Lake

PLAN = pa.list_(pa.struct([("label", pa.string()), ("start", pa.int64()), ("end", pa.int64())]))
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("consumers") / "lake"
    with Lake.open(root) as lake:
        fill_lake(lake, merge(make_world(16), make_family(99, perturbations=(), with_spans=False)))
        curate(lake, policy_from_dict({"filters": {"min_strategy_spans": 0}}))
        return export(lake, "v1").path


def splits_of(folder):
    return list(json.loads((folder / "manifest.json").read_text())["counts"])


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def native(folder, split):
    return [r for r in pq.read_table(folder / "data.parquet").to_pylist() if r["split"] == split]


def test_datasets_loads_native_parquet_and_trl_jsonl(folder):
    from datasets import List, Value, load_dataset

    ds = load_dataset("parquet", data_files={"data": str(folder / "data.parquet")}, split="data")
    assert ds.num_rows == sum(json.loads((folder / "manifest.json").read_text())["counts"].values())
    plan = List({"label": Value("string"), "start": Value("int64"), "end": Value("int64")})
    assert ds.features["strategy_plan"] == plan
    assert ds.features["prompt"] == List({"role": Value("string"), "content": Value("string")})
    assert [] in ds["strategy_plan"]  # the row without spans keeps the typed column
    per_split = load_dataset("parquet", data_files={s: str(folder / s / "rl.verl.parquet") for s in splits_of(folder)})
    assert set(per_split) == set(splits_of(folder))
    rl = load_dataset("json", data_files=str(folder / "train" / "rl.trl.jsonl"), split="train")
    assert "completion" not in rl.column_names and rl.features["strategy_plan"] == plan


def test_verl_parquet_matches_verls_documented_fields(folder):
    """verl's RL dataset (examples/data_preprocess/gsm8k.py and the 'Prepare Data' docs):
    data_source: str, prompt: chat list of {role, content}, ability: str,
    reward_model: {style: "rule", ground_truth: str}, extra_info: {split: str, index: int, ...}."""
    for split in splits_of(folder):
        table = pq.read_table(folder / split / "rl.verl.parquet")
        schema = table.schema
        assert schema.names[:5] == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
        assert schema.field("data_source").type == pa.string() and schema.field("ability").type == pa.string()
        assert schema.field("prompt").type == MESSAGES
        assert schema.field("reward_model").type == pa.struct([("style", pa.string()), ("ground_truth", pa.string())])
        extra = schema.field("extra_info").type
        assert extra.field("split").type == pa.string() and extra.field("index").type == pa.int64()
        assert extra.field("strategy_plan").type == PLAN
        rows, ref = table.to_pylist(), native(folder, split)
        assert len(rows) == len(ref)
        for i, (row, want) in enumerate(zip(rows, ref)):
            assert row["reward_model"] == {"style": "rule", "ground_truth": want["answer"]}
            assert row["prompt"] == want["prompt"] and row["prompt"][0]["role"] == "user"
            assert row["data_source"] == want["source"] and row["ability"] == "math"
            assert row["extra_info"] == {"split": split, "index": i, "id": want["id"], "strategy": want["strategy"],
                                         "strategy_plan": want["strategy_plan"],
                                         "teacher_completion": want["teacher_completion"]}


def test_openrlhf_label_round_trips_through_json_loads(folder):
    for split in splits_of(folder):
        rows, ref = jsonl(folder / split / "rl.openrlhf.jsonl"), native(folder, split)
        assert len(rows) == len(ref)
        for row, want in zip(rows, ref):
            assert row["input"] == want["prompt"]
            assert json.loads(row["label"]) == {"answer": want["answer"], "strategy": want["strategy"],
                                                "strategy_plan": want["strategy_plan"]}


def tiny_model_and_tokenizer():
    """A 2-layer Llama (hidden 64) and a byte-level BPE tokenizer with a chat template, built locally."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["The answer is \\boxed{42}. Let me check."], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|im_end|>",
                                 bos_token="<|im_start|>")
    hf.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    config = LlamaConfig(vocab_size=len(hf), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         pad_token_id=hf.pad_token_id, eos_token_id=hf.eos_token_id, bos_token_id=hf.bos_token_id)
    torch.manual_seed(0)
    return LlamaForCausalLM(config), hf


COMMON = dict(max_steps=2, per_device_train_batch_size=2, report_to="none", use_cpu=True, save_strategy="no",
              logging_steps=1, dataloader_num_workers=0, disable_tqdm=True)


@pytest.mark.slow
def test_trl_sft_trains_two_steps_on_the_export(folder, tmp_path):
    import torch
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    model, tok = tiny_model_and_tokenizer()
    before = [p.detach().clone() for p in model.parameters()]
    ds = load_dataset("json", data_files=str(folder / "train" / "sft.trl.jsonl"), split="train")
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=ds,
                         args=SFTConfig(output_dir=str(tmp_path), max_length=256, **COMMON))
    out = trainer.train()
    assert out.global_step == 2 and out.training_loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.slow
def test_trl_grpo_trains_two_steps_with_the_plan_in_the_reward(folder, tmp_path):
    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tok = tiny_model_and_tokenizer()
    seen: list[dict] = []

    def plan_reward(completions, solution, strategy, strategy_plan, teacher_completion, **kwargs):
        seen.append({"solution": solution, "plan": strategy_plan, "strategy": strategy})
        return [float(len(plan)) for plan in strategy_plan]

    ds = load_dataset("json", data_files=str(folder / "train" / "rl.trl.jsonl"), split="train")
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=plan_reward, train_dataset=ds,
                          args=GRPOConfig(output_dir=str(tmp_path), num_generations=2, max_completion_length=8,
                                          **COMMON))
    assert trainer.train().global_step == 2
    assert seen
    answers = {r["id"]: r["answer"] for r in native(folder, "train")}
    for call in seen:
        assert all(isinstance(s, str) and s in answers.values() for s in call["solution"])
        assert all(s.startswith("Problem type: ") for s in call["strategy"])
        for plan in call["plan"]:
            assert isinstance(plan, list) and plan
            assert all(isinstance(p, dict) and set(p) == {"label", "start", "end"} and isinstance(p["start"], int)
                       for p in plan)


def test_our_trainer_reads_the_export(folder):
    from trainer.data import load_export

    exp = load_export(folder)
    counts = json.loads((folder / "manifest.json").read_text())["counts"]
    assert sorted(exp.splits()) == sorted(counts)
    assert len(exp.split("train")) == counts["train"]
    assert {s for s in counts if s.startswith("test_")} == set(exp.test_splits())
