"""Tests of the evidence layer (calcinosis.evidence)."""
