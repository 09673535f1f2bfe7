"""Tests of the statistics layer (calcinosis.stats)."""
