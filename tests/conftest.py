"""Shared fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from calcinosis.evidence import KNOWLEDGE_DIR, KnowledgeBase, load_knowledge

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the packaged knowledge, with some files replaced by fixtures."""

    def make(**replacements: str) -> Path:
        target = tmp_path / "knowledge"
        shutil.copytree(KNOWLEDGE_DIR, target)
        for name, fixture in replacements.items():
            shutil.copy(FIXTURES / "knowledge" / fixture, target / f"{name}.yaml")
        return target

    return make
