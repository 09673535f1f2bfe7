"""Other systems: FHIR R4 (:mod:`calcinosis.integrations.fhir`)."""
