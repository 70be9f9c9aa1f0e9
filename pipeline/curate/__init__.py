"""The curate stage (stage.py: `curate(lake, policy)`), its pure rules (logic.py: consensus,
splits, near-duplicates), its policy (policy.py, policies/default.toml) and its command (command.py)."""
from pipeline.curate.policy import DEFAULT_POLICY, Policy, PolicyError, load_policy, policy_from_dict
from pipeline.curate.stage import CurateError, curate

__all__ = ["DEFAULT_POLICY", "CurateError", "Policy", "PolicyError", "curate", "load_policy", "policy_from_dict"]
