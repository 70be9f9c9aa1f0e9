"""The annotate stage (stage.py: `annotate(lake, tagger)`) and its command (command.py)."""
from pipeline.annotate.stage import Annotate, annotate, pending_trajectories

__all__ = ["Annotate", "annotate", "pending_trajectories"]
