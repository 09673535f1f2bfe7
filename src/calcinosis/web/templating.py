"""The pages' Jinja environment, and what every page shows: the evidence version, its
release date (or, for unreleased evidence, a banner that says so) and the disclaimer.
One place for the routes, the error pages and the admin views, which all render through
:func:`render`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from calcinosis import DISCLAIMER
from calcinosis.decision.plan import REGIMEN_GROUPS, effects_by_source
from calcinosis.evidence.lines import complete_words
from calcinosis.render.charts import step_title
from calcinosis.web.forms import readable

__all__ = ["render", "templates"]

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# The templates are package files: compiled once, never looked at again (with
# auto_reload, each page and each include stats its file: a fifth of a page's time).
templates.env.auto_reload = False
templates.env.globals |= {
    "readable": readable,
    "complete_words": complete_words,
    "regimen_groups": REGIMEN_GROUPS,
    "effects_by_source": effects_by_source,
    "step_title": step_title,
}


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The template ``name`` with ``context`` and what every page shows."""
    state = request.app.state
    kb = state.kb
    last = kb.last_release
    common = {
        "evidence_version": kb.version,
        "evidence_released": kb.released,
        "evidence_unreleased": kb.unreleased,
        "evidence_status": kb.release_status(),
        "last_release": (
            {"version": last.version, "released": last.released.isoformat()} if last else None
        ),
        "disclaimer": DISCLAIMER,
        "base_url": state.settings.public_url,
    }
    return templates.TemplateResponse(
        request, name, {**context, **common}, status_code=status_code, headers=headers
    )
