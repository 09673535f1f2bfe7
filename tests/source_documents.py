"""Where the full source documents are, for the tests that check quotes against them.

``CALCINOSIS_SOURCES_DIR`` names the folder; by default ``../shared/seeds`` beside the
clone when it exists. A test that needs them skips with one line when they are absent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def sources_dir() -> Path | None:
    named = os.environ.get("CALCINOSIS_SOURCES_DIR")
    path = Path(named) if named else _DEFAULT
    return path if path.is_dir() else None


def source_text(prefix: str) -> str:
    """The whitespace-collapsed text of the source whose file name starts with ``prefix``."""
    folder = sources_dir()
    if folder is None:
        pytest.skip("source documents absent: set CALCINOSIS_SOURCES_DIR to check quotes")
    matches = sorted(folder.glob(f"{prefix}_*.txt"))
    assert matches, f"no source {prefix}_*.txt in {folder}"
    return " ".join(matches[0].read_text(encoding="utf-8").split())


def collapse(text: str) -> str:
    return " ".join(re.sub(r"\s+", " ", text).split())


def source_path(file_name: str) -> Path:
    """The full path of one source document, or a skip when the documents are absent."""
    folder = sources_dir()
    if folder is None:
        pytest.skip("source documents absent: set CALCINOSIS_SOURCES_DIR to check quotes")
    return folder / file_name
