"""Training configuration: one flat dataclass, a TOML file and `key=value` overrides.

    cfg = load_config("sgpo.toml", ["learning_rate=1e-5", "num_generations=8"], algo="sgpo")
    python -m trainer --algo sgpo --data EXPORT --model tiny --out runs/x --config sgpo.toml --set beta=0.04

Names follow TRL's GRPOConfig where TRL has one (`num_generations`, `epsilon`,
`epsilon_high`, `beta`, `loss_type`, `max_completion_length`, `per_device_train_batch_size`,
`learning_rate`, `temperature`, `scale_rewards`, `num_iterations`); SGPO's own knobs and the
ablation flags of DESIGN section 7 sit beside them. `per_device_train_batch_size` counts
completions for grpo/sgpo (unguided ones; must be a multiple of `num_generations`, so whole
groups stay on one rank) and examples for sft. `max_steps` caps every run.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

ALGOS = ("sft", "grpo", "sgpo")
LOSS_TYPES = ("dapo", "grpo", "dr_grpo")
KL_CLIP_MODES = ("mask", "scale", "none")
# old key -> (new key, value for each old value): accepted in files and overrides, never stored
ALIASES = {"kl_clipping": ("kl_clip_mode", {True: "mask", False: "none"})}


class ConfigError(ValueError):
    """A bad key, value or combination: reported as one line before any model loads."""


@dataclass
class TrainConfig:
    algo: str = "sgpo"
    seed: int = 0
    max_steps: int = 100
    # optimisation
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    per_device_train_batch_size: int = 16
    gradient_checkpointing: bool = False
    # data
    train_split: str = "train"
    max_prompt_length: int = 512
    max_completion_length: int = 256
    # sampling (rollouts)
    num_generations: int = 8           # G1: unguided rollouts per prompt
    num_guided_generations: int = 4    # G2: strategy-guided rollouts per prompt (sgpo)
    temperature: float = 1.0
    top_p: float = 1.0
    use_vllm: bool = False
    # GRPO term
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    loss_type: str = "dapo"
    beta: float = 0.0                  # k3 KL to the initial (reference) policy; 0 = no reference model
    scale_rewards: bool = True
    num_iterations: int = 1            # optimiser passes per generated batch (mu)
    # SGPO strategy distillation
    kl_clip_delta: float = 1.0
    alpha0: float = 0.5
    alpha_max: float = 0.8
    gamma: float = 0.1
    kl_chunk_size: int = 1024          # token rows per chunk of vocabulary-sized logits (scoring, KL, entropy)
    # SGPO ablations (DESIGN section 7); defaults are the method itself
    target_selection: bool = True      # False: a random correct guided rollout is the target
    # per-token KL above kl_clip_delta: mask drops the token (the paper-inferred reading), scale
    # clamps its contribution to delta keeping the gradient direction, none keeps it whole.
    # Default scale: the experiment (bench/sgpo_experiment.py, trainer/README.md) found mask distils
    # next to nothing and scale / none both learn; scale keeps the bound at delta.
    kl_clip_mode: str = "scale"
    adaptive_alpha: bool = True        # False: alpha(q) = alpha0 whenever some guided rollout is correct
    distill_divergence: str = "forward"  # forward | reverse
    distill_mode: str = "kl"           # kl | sft (SFT on the selected target instead of the KL)
    unguided_grpo: bool = True         # False: drop the GRPO term, distillation only
    proximal_clipping: bool = True     # False: no ratio clip in the GRPO term ("no proximal constraints")
    # mean: L_GRPO + (1/Q) sum_q alpha(q) L_SD(q), Q = prompts per step over all ranks, so the SD term's
    # weight does not grow with the batch; sum: DESIGN's plain sum over the step's prompts
    distill_reduction: str = "mean"
    # rewards
    strategy_reward_weight: float = 0.0  # optional strategy-alignment reward, gated on correctness
    # logging and checkpoints
    logging_steps: int = 1
    save_steps: int = 0                # 0: only the final checkpoint
    dtype: str = "auto"                # auto | float32 | bfloat16
    device: str = "auto"               # auto | cpu | cuda
    num_threads: int = 0               # CPU intra-op threads; 0 = torch's default (1 is fastest for tiny models)

    def validate(self) -> "TrainConfig":
        if self.algo not in ALGOS:
            raise ConfigError(f"unknown algo {self.algo!r}; choose one of {', '.join(ALGOS)}")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type must be one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        if self.distill_divergence not in ("forward", "reverse"):
            raise ConfigError(f"distill_divergence must be forward or reverse, got {self.distill_divergence!r}")
        if self.distill_mode not in ("kl", "sft"):
            raise ConfigError(f"distill_mode must be kl or sft, got {self.distill_mode!r}")
        if self.kl_clip_mode not in KL_CLIP_MODES:
            raise ConfigError(f"kl_clip_mode must be one of {', '.join(KL_CLIP_MODES)}, got {self.kl_clip_mode!r}")
        if self.distill_reduction not in ("sum", "mean"):
            raise ConfigError(f"distill_reduction must be sum or mean, got {self.distill_reduction!r}")
        for name in ("max_steps", "per_device_train_batch_size", "num_generations", "max_completion_length",
                     "max_prompt_length", "num_iterations", "kl_chunk_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.algo in ("grpo", "sgpo"):
            if self.per_device_train_batch_size % self.num_generations:
                raise ConfigError(
                    f"per_device_train_batch_size ({self.per_device_train_batch_size}) is not divisible by "
                    f"num_generations ({self.num_generations}): each rank must hold whole groups")
            if self.num_generations < 2:
                raise ConfigError("num_generations must be >= 2 (group advantages need a group)")
        if self.algo == "sgpo" and self.num_guided_generations < 1:
            raise ConfigError("num_guided_generations must be >= 1 for sgpo")
        if self.alpha0 < 0 or self.alpha_max < 0:
            raise ConfigError("alpha0 and alpha_max must be >= 0")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise ConfigError(f"dtype must be auto, float32 or bfloat16, got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        return self

    @property
    def prompts_per_step(self) -> int:
        """Prompts (groups) per rank and step."""
        if self.algo == "sft":
            return self.per_device_train_batch_size
        return self.per_device_train_batch_size // self.num_generations

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(TrainConfig)}[name]
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if kind == "bool":
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            if kind == "int":
                return int(text)
            if kind == "float":
                return float(text)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a valid {kind}") from None
        return text
    if kind == "float" and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    expected = {"bool": bool, "int": int, "float": float, "str": str}[kind]
    if not isinstance(raw, expected) or (expected is int and isinstance(raw, bool)):
        raise ConfigError(f"{name}={raw!r} is not a valid {kind}")
    return raw


def _check_key(name: str) -> None:
    if name not in field_names() and name not in ALIASES:
        raise ConfigError(f"unknown config key {name!r}; valid keys: {', '.join(field_names())}")


def _set(values: dict[str, Any], key: str, raw: Any) -> None:
    """Coerce and store one key; an old alias (`kl_clipping=false`) is stored under its new name."""
    _check_key(key)
    if key in ALIASES:
        new, mapping = ALIASES[key]
        if isinstance(raw, str):
            text = raw.strip().lower()
            raw = True if text in ("1", "true", "yes", "on") else False if text in ("0", "false", "no", "off") else raw
        if raw not in mapping or not isinstance(raw, bool):
            raise ConfigError(f"{key}={raw!r} is not a valid bool (it is an alias of {new})")
        values[new] = mapping[raw]
        return
    values[key] = _coerce(key, raw)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), **fixed: Any) -> TrainConfig:
    """TOML file (flat, or with a [train] table) < `key=value` overrides < keyword arguments."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        data = data.get("train", data)
        for key, raw in data.items():
            _set(values, key, raw)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} is not key=value")
        _set(values, key.strip(), raw)
    for key, raw in fixed.items():
        if raw is not None:
            _set(values, key, raw)
    return TrainConfig(**values).validate()


__all__ = ["ALGOS", "ConfigError", "KL_CLIP_MODES", "LOSS_TYPES", "TrainConfig", "field_names", "load_config"]
