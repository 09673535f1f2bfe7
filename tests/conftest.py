"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, load_knowledge

# The answers keep their pooled estimates in a cache directory (answers/estimates.py): the
# suite, and every command it runs, uses its own, never the user's, and removes it after.
if "CALCINOSIS_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="calcinosis-tests-cache-")
    os.environ["CALCINOSIS_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
from calcinosis.settings import Settings
from calcinosis.web.app import create_app

FIXTURES = Path(__file__).parent / "fixtures"
BASE_URL = "http://127.0.0.1:8000"  # the default public URL: the Host the app answers


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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/web.db"})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app in process, with its own SQLite database."""
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        yield test_client
