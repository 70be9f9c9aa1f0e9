"""The CLI's command map: every command is loaded alone by `stratagem <command>`, and the map
matches what the stage modules register."""
from __future__ import annotations

import subprocess
import sys

import typer.core
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


def _help_text(app) -> str:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "160", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


def test_static_help_lists_what_the_modules_register():
    from pipeline.cli import GROUPS, SHORT_HELP, help_app

    assert list(SHORT_HELP) == list(COMMANDS), "every command needs its line in SHORT_HELP, in COMMANDS order"
    commands = typer.main.get_command(build_app()).commands
    assert GROUPS == {name for name, cmd in commands.items() if isinstance(cmd, typer.core.TyperGroup)}
    assert _help_text(help_app()) == _help_text(build_app())


def test_help_imports_no_stage_module_and_no_heavy_library():
    heavy = ("duckdb", "polars", "pyarrow", "pandas", "torch", "matplotlib", "httpx", "pydantic", "numpy")
    code = ("import sys; sys.argv = ['stratagem', '--help']\nfrom pipeline import cli\n"
            "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules), "
            "sorted(m for m in sys.modules if m.startswith(('pipeline.', 'warehouse', 'annotators', 'llm', 'trainer')) "
            "and m != 'pipeline.cli'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[] []"


def test_status_imports_neither_pyarrow_nor_pandas(tmp_path):
    from warehouse import Lake

    Lake.open(tmp_path / "lake").close()
    code = ("import sys; sys.argv = ['stratagem', 'status', '--root', sys.argv[1]]\nfrom pipeline import cli\n"
            "try:\n    cli.main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
            "print(sorted(m for m in ('polars', 'pyarrow', 'pandas', 'torch', 'matplotlib', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lake")], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
