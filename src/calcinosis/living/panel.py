"""The reference panel: patients planned under two versions of the knowledge to show
whose plan a change of the evidence changes (``knowledge/panel.yaml``).

Each profile is a patient of the ``recommend`` contract (``patient.py``), checked as
strictly as one a clinician enters; a bad one fails naming the record and the field.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calcinosis.decision.patient import Patient, parse_patient
from calcinosis.errors import KnowledgeError, ProfileError, field_path
from calcinosis.evidence.knowledge_base import KNOWLEDGE_DIR
from calcinosis.evidence.schemas import SLUG_PATTERN
from calcinosis.living.directory import PANEL

__all__ = ["Profile", "load_panel", "panel_path"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=SLUG_PATTERN)
    description: str = Field(min_length=3)
    profile: dict[str, Any]


@dataclass(frozen=True)
class Profile:
    """One reference patient: its id, a clinician's sentence, the validated profile."""

    id: str
    description: str
    patient: Patient


def panel_path(*directories: Path | None) -> Path:
    """The panel of the first directory that has one, else the packaged panel."""
    for directory in directories:
        if directory is not None and (directory / PANEL).is_file():
            return directory / PANEL
    return KNOWLEDGE_DIR / PANEL


def load_panel(path: Path, therapies: Collection[str]) -> tuple[Profile, ...]:
    """The panel's profiles, each validated against the treatments of ``therapies``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(PANEL, None, None, f"cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(PANEL, None, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, list):
        raise KnowledgeError(PANEL, None, None, "must be a list of profiles")
    profiles: list[Profile] = []
    seen: set[str] = set()
    for index, raw in enumerate(data, start=1):
        label = f"#{index}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            label += f" ({raw['id']})"
        try:
            entry = _Entry.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise KnowledgeError(
                PANEL, label, field_path(error["loc"]) or None, error["msg"]
            ) from None
        if entry.id in seen:
            raise KnowledgeError(PANEL, label, "id", f"duplicate id {entry.id!r}")
        seen.add(entry.id)
        try:
            patient = parse_patient(entry.profile, therapies)
        except ProfileError as exc:
            raise KnowledgeError(PANEL, label, f"profile.{exc.field}", exc.message) from None
        profiles.append(Profile(entry.id, entry.description, patient))
    return tuple(profiles)
