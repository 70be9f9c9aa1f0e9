"""The verify stage (stage.py: `verify(lake)`), its LLM judge (judge.py: `judge_verdicts(lake, judge)`)
and its command (command.py)."""
from pipeline.verify.stage import LOW_CONFIDENCE, OUTCOMES, Verify, count_verdicts, judge, parse_tolerances, verify

__all__ = ["LOW_CONFIDENCE", "OUTCOMES", "Verify", "count_verdicts", "judge", "parse_tolerances", "verify"]
