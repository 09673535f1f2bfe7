"""The FHIR mapper's first address: it is :mod:`calcinosis.integrations.fhir` now.

Kept so that ``from calcinosis.fhir import ...`` goes on working; new code imports from
the package.
"""

from __future__ import annotations

from calcinosis.integrations.fhir import (
    ICD10CM,
    RXNORM,
    SNOMED,
    FhirFindings,
    findings_from_fhir,
    is_calcinosis_reason,
    medication_ids,
    order_reasons,
    resources,
)

__all__ = [
    "ICD10CM",
    "RXNORM",
    "SNOMED",
    "FhirFindings",
    "findings_from_fhir",
    "is_calcinosis_reason",
    "medication_ids",
    "order_reasons",
    "resources",
]
