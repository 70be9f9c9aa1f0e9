"""The describe stage (stage.py: `describe(lake, describer)`) and its command (command.py)."""
from pipeline.describe.stage import Describe, describe, strategy_rows

__all__ = ["Describe", "describe", "strategy_rows"]
