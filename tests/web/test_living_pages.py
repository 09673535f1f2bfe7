"""The web app and living evidence: the version and its date on every page, the
changelog at /evidence/changes, and a banner on every page of unreleased evidence."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR, KnowledgeBase, read_knowledge
from calcinosis.living.add import add_study
from calcinosis.living.release import release
from calcinosis.settings import Settings
from calcinosis.web.app import create_app
from living.test_living_add import MINIMAL

BASE_URL = "http://127.0.0.1:8000"
PROFILE = urlencode(
    {"subtype": "dystrophic", "age_years": "58", "lesions_distribution": "widespread"}
)
PAGES = [
    "/",
    f"/?{PROFILE}",
    f"/print?{PROFILE}",
    f"/handout?{PROFILE}",
    "/evidence",
    "/evidence/changes",
    "/treatments/diltiazem",
    "/algorithm",
    "/about",
    "/ask?q=diltiazem+dose",
    "/treatments/unknown-drug",  # the error page too
]


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packaged knowledge with the issue's minimal study added."""
    root = tmp_path_factory.mktemp("living-web")
    target = root / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "one.yaml").write_text(MINIMAL, encoding="utf-8")
    add_study(root / "one.yaml", target)
    return target


def _client(kb: KnowledgeBase, tmp_path: Path) -> TestClient:
    settings = Settings.from_env(env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/web.db"})
    return TestClient(create_app(settings, kb=kb), base_url=BASE_URL)


@pytest.fixture
def preview(edited: Path, tmp_path: Path) -> Iterator[TestClient]:
    with _client(read_knowledge(edited), tmp_path) as client:
        yield client


def _page(client: TestClient, path: str) -> BeautifulSoup:
    response = client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_version_and_its_date(
    client: TestClient, kb: KnowledgeBase, path: str
) -> None:
    page = _page(client, path)
    footer = page.find("footer", class_="site")
    assert footer.find(class_="evidence-version").get_text() == kb.version
    assert footer.find("time")["datetime"] == kb.released
    assert "released" in footer.get_text() and "not released" not in footer.get_text()
    assert footer.find("a", href="/evidence/changes")
    assert page.find(class_="preview-banner") is None


@pytest.mark.parametrize("path", PAGES)
def test_unreleased_evidence_is_previewed_under_a_banner_on_every_page(
    preview: TestClient, edited: Path, path: str
) -> None:
    kb = read_knowledge(edited)
    page = _page(preview, path)
    banner = page.find(class_="preview-banner")
    assert banner is not None, path
    text = " ".join(banner.get_text().split())
    assert f"Evidence {kb.version} is not released: it differs from release 1.0.8" in text
    assert page.find(class_="evidence-status").get_text() == "not released"
    assert (
        page.find("footer", class_="site").find(class_="evidence-version").get_text() == kb.version
    )


def test_the_changes_page_lists_the_releases_newest_first(edited: Path, tmp_path: Path) -> None:
    target = tmp_path / "released"
    shutil.copytree(edited, target)
    release(target, "1.1.0", "Doe 2025, a randomised trial", released=dt.date(2026, 12, 15))
    with _client(read_knowledge(target), tmp_path) as client:
        page = _page(client, "/evidence/changes")
        assert page.find(class_="preview-banner") is None
        sections = page.find_all("section", class_="release")
        titles = [" ".join(s.find("h2").get_text().split()) for s in sections]
        assert titles == [
            "Version 1.1.0, released 2026-12-15 (current)",
            "Version 1.0.8, released 2026-12-04",
            "Version 1.0.7, released 2026-12-03",
            "Version 1.0.6, released 2026-12-03",
            "Version 1.0.5, released 2026-12-03",
            "Version 1.0.4, released 2026-12-03",
            "Version 1.0.3, released 2026-12-03",
            "Version 1.0.2, released 2026-12-03",
            "Version 1.0.1, released 2026-12-01",
            "Version 1.0.0, released 2026-12-01",
        ]
        newest = sections[0].get_text(" ")
        assert "What triggered this version: Doe 2025, a randomised trial" in " ".join(
            newest.split()
        )
        items = [li.get_text() for li in sections[0].find_all("li")]
        assert items[0].startswith("Added 1 source, 1 study, 1 arm: Doe 2025")
        assert any("Pooled diltiazem, any response" in item for item in items)
        api = client.get("/api/evidence/changes").json()
        assert api["unreleased"] is False
        versions = [entry["version"] for entry in api["releases"]]
        assert versions == [
            "1.1.0",
            "1.0.8",
            "1.0.7",
            "1.0.6",
            "1.0.5",
            "1.0.4",
            "1.0.3",
            "1.0.2",
            "1.0.1",
            "1.0.0",
        ]
        footer = _page(client, "/").find("footer", class_="site").get_text(" ")
        assert "released 2026-12-15" in " ".join(footer.split())


def test_the_changes_page_of_a_preview_says_it_is_not_a_release(preview: TestClient) -> None:
    page = _page(preview, "/evidence/changes")
    unreleased = page.find("section", class_="unreleased")
    assert unreleased is not None and "calcinosis evidence release" in unreleased.get_text()
    assert "(current)" not in page.get_text()
    api = preview.get("/api/evidence/changes").json()
    assert api["unreleased"] is True and api["status"].startswith("not released")


def test_the_evidence_page_shows_the_added_study_as_a_reference(preview: TestClient) -> None:
    page = _page(preview, "/evidence")
    added = page.find("section", id="added")
    assert added is not None
    row = " ".join(added.find("tbody").find("tr").get_text(" ").split())
    assert row.startswith("Doe 2025 diltiazem adult SSc rct 12/20 2/20 1b")
    assert (
        "Doe J, Roe R. Diltiazem for calcinosis in SSc. J Example 2025. doi:10.1000/example" in row
    )
    for path in ("/evidence", "/treatments/diltiazem", f"/?{PROFILE}"):
        text = preview.get(path).text
        assert "seed" not in BeautifulSoup(text, "html.parser").get_text().lower()
        assert "001_" not in text and "doe-2025.yaml" not in text


def test_a_plan_shows_the_added_study_among_its_evidence(preview: TestClient) -> None:
    page = _page(preview, f"/?{PROFILE}")
    option = page.find("details", attrs={"data-option": "diltiazem"})
    text = " ".join(option.get_text(" ").split())
    assert "Doe 2025 (rct; adults, SSc): 12 of 20 patients responded, 2 completely" in text
    assert "Across 4 studies: 24 of 58 patients responded" in text


def _free_port() -> int:
    for port in range(8160, 8170):  # this branch's ports
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 8160-8169")


def test_serve_previews_a_directory_under_the_banner(edited: Path, tmp_path: Path) -> None:
    port = _free_port()
    script = Path(sys.executable).parent / "calcinosis"
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(script), "serve", "--port", str(port), "--knowledge", str(edited)],
        env={"CALCINOSIS_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db", "PATH": "/usr/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                    html = answer.read().decode()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        page = BeautifulSoup(html, "html.parser")
        assert "Preview: unreleased evidence." in page.find(class_="preview-banner").get_text()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert b"previewing unreleased evidence" in err
