"""Tests of FHIR and CDS Hooks (calcinosis.integrations)."""
