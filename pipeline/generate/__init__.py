"""The generate stage (stage.py: `generate(lake, client)`) and its command (command.py)."""
from pipeline.generate.stage import PROMPT_VERSION, Generate, generate, pending_work, prompt_messages

__all__ = ["PROMPT_VERSION", "Generate", "generate", "pending_work", "prompt_messages"]
