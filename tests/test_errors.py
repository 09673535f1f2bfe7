"""calcinosis.errors: the one spelling of a field path, and the one-line messages."""

from __future__ import annotations

import pytest

from calcinosis.errors import KnowledgeError, ProfileError, field_path


@pytest.mark.parametrize(
    ("loc", "empty", "path"),
    [
        (("age_years",), "", "age_years"),
        (("prior_treatments", 0, "response"), "", "prior_treatments[0].response"),
        (("lesions", "largest_cm"), "", "lesions.largest_cm"),
        (
            ("context", "draftOrders", "entry", 2, "resource"),
            "",
            "context.draftOrders.entry[2].resource",
        ),
        ((3, "jku"), "", "[3].jku"),  # a list at the top: the index alone
        (("conditions", 0, 1), "", "conditions[0][1]"),
        ((), "patient", "patient"),  # about the whole input
        ((), "", ""),
    ],
)
def test_field_path(loc: tuple[int | str, ...], empty: str, path: str) -> None:
    assert field_path(loc, empty) == path


def test_the_errors_name_the_path() -> None:
    assert str(ProfileError(field_path(("lesions", "count")), "too many")) == (
        "patient field 'lesions.count': too many"
    )
    error = KnowledgeError("treatments.yaml", "#2 (x)", field_path(("regimens", 0, "dose")), "bad")
    assert str(error) == "treatments.yaml, record #2 (x), field 'regimens[0].dose': bad"
