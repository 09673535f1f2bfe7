"""The package's exceptions. Each carries structured fields, and its ``str``
is the one line a user sees (the CLI prints it and exits 2)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CalcinosisError",
    "KnowledgeError",
    "PoolingError",
    "ProfileError",
    "StudyFileError",
    "UnknownChoiceError",
    "field_path",
]


def field_path(loc: Sequence[int | str], empty: str = "") -> str:
    """A validation error's location as the path every message names:
    ``("prior_treatments", 0, "response")`` -> ``prior_treatments[0].response``; ``empty``
    when the error is about the whole input. The one spelling of a field path: patient
    profiles, request bodies, knowledge files, trust files and FHIR resources use it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or empty


class CalcinosisError(Exception):
    """Base class: every error the package raises on purpose."""


class KnowledgeError(CalcinosisError):
    """A knowledge data file is malformed: names the file, the record and the field."""

    def __init__(self, file: str, record: str | None, field: str | None, message: str) -> None:
        self.file = file
        self.record = record
        self.field = field
        self.message = message
        where = file
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class UnknownChoiceError(CalcinosisError):
    """A value that is not one of the valid choices (treatment, table, option...)."""

    def __init__(self, what: str, value: object, choices: Sequence[str]) -> None:
        self.what = what
        self.value = value
        self.choices = list(choices)
        shown = ", ".join(self.choices)
        super().__init__(f"unknown {what} {value!r}; valid choices: {shown}")


class PoolingError(CalcinosisError):
    """Pooling cannot be done (no usable arms, invalid counts)."""


class ProfileError(CalcinosisError):
    """A patient profile that is not valid: names the field (and the valid choices)."""

    def __init__(self, field: str, message: str, choices: Sequence[str] | None = None) -> None:
        self.field = field
        self.message = message
        self.choices = list(choices) if choices else []
        text = f"patient field '{field}': {message}"
        if self.choices:
            text += f"; valid choices: {', '.join(self.choices)}"
        super().__init__(text)


class StudyFileError(CalcinosisError):
    """A study file (``calcinosis evidence add``) that cannot be added: names the file,
    the field (``arms[0].responders_any``) and what is wrong with it."""

    def __init__(self, file: str, field: str | None, message: str) -> None:
        self.file = file
        self.field = field
        self.message = message
        super().__init__(f"{file}: {field}: {message}" if field else f"{file}: {message}")
