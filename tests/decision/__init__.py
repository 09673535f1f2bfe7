"""Tests of the decision layer (calcinosis.decision)."""
