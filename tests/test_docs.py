"""The README's commands run, and print what the README shows."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from calcinosis.cli import main
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[tuple[str, list[str]]]:
    """(command, expected lines) for every `$ ` line of the README's console blocks."""
    examples: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        current: list[str] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = []
                examples.append((line[2:], current))
            elif current is not None and line.strip() and line.strip() != "...":
                current.append(line)
    return examples


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_has_examples() -> None:
    assert len(_examples()) >= 5


@pytest.mark.parametrize(("command", "expected"), _examples(), ids=lambda v: str(v)[:60])
def test_readme_example(
    command: str,
    expected: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = shlex.split(command)
    assert argv[0] in (".venv/bin/calcinosis", "calcinosis")
    argv = argv[1:]
    if "path/to/knowledge" in argv:  # the README's broken-file example, made real
        broken = tmp_path / "knowledge"
        shutil.copytree(KNOWLEDGE_DIR, broken)
        arms = broken / "arms.yaml"
        text = arms.read_text(encoding="utf-8")
        start = text.index("- id: giuggioli-2015-rituximab")
        patched = text[start:].replace("  n: 6\n", "  n: -6\n", 1)
        arms.write_text(text[:start] + patched, encoding="utf-8")
        argv[argv.index("path/to/knowledge")] = str(broken)
    root = README.parent
    argv = [str(root / arg) if (root / arg).is_file() else arg for arg in argv]
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    shown = _squash(out + err)
    position = 0
    for line in expected:
        found = shown.find(_squash(line), position)
        assert found >= 0, f"README shows {line!r}, `{command}` printed:\n{out}{err}"
        position = found
    assert code == (2 if "path/to/knowledge" in command else 0)
