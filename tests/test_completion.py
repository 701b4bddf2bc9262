"""`biomoe completion bash|zsh`: the generated script completes sub-commands, options, option choices,
positional choices and file names when bash runs it."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from tiny_biomoe.cli import build_parser, main


def _complete(script: str, *words: str, cwd=None) -> list[str]:
    """Run the script's completion function in bash for the command line ``words`` (the last is the
    word being completed) and return COMPREPLY."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    prog = f"""{script}
COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=()
_biomoe
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True, cwd=cwd,
                         timeout=60, check=True)
    return [w for w in out.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def script() -> str:
    from tiny_biomoe._completion import completion_script

    return completion_script(build_parser(), "bash")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_completes_commands_options_and_choices(script, tmp_path):
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(_complete(script, "biomoe", "")) == set(subs) | {"-h", "--help", "--version", "-q", "--quiet", "-v",
                                                              "--verbose", "--debug"}
    assert _complete(script, "biomoe", "em") == ["embed"]
    assert _complete(script, "biomoe", "embed", "--mod") == ["--modality"]
    assert _complete(script, "biomoe", "-q", "embed", "--backend", "") == ["torch", "onnx"]
    assert _complete(script, "biomoe", "evaluate", "--protocol", "l") == ["loso"]
    assert _complete(script, "biomoe", "completion", "") == ["bash", "zsh"]
    (tmp_path / "rec_a.csv").write_text("x\n")
    (tmp_path / "other.txt").write_text("x\n")
    assert _complete(script, "biomoe", "embed", "rec", cwd=tmp_path) == ["rec_a.csv"]
    # every option of every command is offered after its command
    for name, sub in subs.items():
        offered = set(_complete(script, "biomoe", name, "-"))
        assert {o for a in sub._actions for o in a.option_strings} <= offered, name


def test_cli_prints_the_script_and_refuses_other_shells(capsys):
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# bash completion for biomoe") and "complete -o filenames -o bashdefault -F _biomoe biomoe" in out
    assert main(["completion", "zsh"]) == 0
    assert "bashcompinit" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 2
