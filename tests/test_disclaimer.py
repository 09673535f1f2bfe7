"""The disclaimer: one sentence (``calcinosis.DISCLAIMER``), said the same way by every face."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from calcinosis import DISCLAIMER
from calcinosis.cli import main

PROFILE = {"age_years": 50, "subtype": "idiopathic"}


def test_the_cli_ends_with_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evidence", "table", "4"]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f". {DISCLAIMER}")
    assert main(["--help"]) == 0
    assert DISCLAIMER in " ".join(capsys.readouterr().out.split())


def test_the_documents_the_pages_and_the_openapi_say_it(client: TestClient) -> None:
    plan = client.post("/api/recommendations", json=PROFILE).json()
    assert plan["disclaimer"] == DISCLAIMER
    assert client.get("/api/about").json()["disclaimer"] == DISCLAIMER
    page = BeautifulSoup(client.get("/").text, "html.parser")
    assert [p.get_text() for p in page.select(".disclaimer")] == [DISCLAIMER]  # once
    missing = BeautifulSoup(client.get("/nowhere").text, "html.parser")
    assert missing.select_one(".disclaimer").get_text() == DISCLAIMER
    described = json.loads(client.get("/openapi.json").text)["info"]["description"]
    assert described.endswith(DISCLAIMER)
