"""The CLI's command map: every command is loaded alone by `stratagem <command>`, and the map
matches what the stage modules register."""
from __future__ import annotations

import subprocess
import sys

import typer.main

from pipeline.cli import COMMANDS, build_app


def _names(app) -> set[str]:
    return set(typer.main.get_command(app).commands)


def test_command_map_matches_the_registered_commands():
    assert _names(build_app()) == set(COMMANDS)


def test_each_command_loads_with_its_module_only():
    for name in COMMANDS:
        assert name in _names(build_app(name)), name


def test_a_light_command_does_not_import_the_trainer():
    code = ("import sys; from pipeline.cli import build_app; build_app('ingest'); "
            "print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
