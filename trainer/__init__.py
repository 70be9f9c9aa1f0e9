"""Compact PyTorch trainer for exported datasets: SFT (trajectory imitation), GRPO and SGPO
(strategy-guided policy optimisation, DESIGN section 7), with original-versus-perturbed eval.

    python -m trainer --algo sgpo --data EXPORT_DIR --model tiny --out runs/sgpo --set max_steps=50
    python -m trainer eval --model runs/sft/final runs/sgpo/final --data EXPORT_DIR
    stratagem train ... / stratagem eval ...      (the same, through the main CLI)

Modules: config (TrainConfig, TOML + overrides), data (export reader, chat template, token
spans), model (presets, GGUF, checkpoints), rollout (batched sampling, teacher-forced scoring),
rewards (TRL-signature reward functions), losses (pure tensor functions), algorithms (sft /
grpo / sgpo batch + loss), train (the loop, DDP), eval, metrics, fixtures (small export
folders for tests). Imports only `schemas`/`annotators` from this project, never `warehouse`
or `pipeline`.
"""
