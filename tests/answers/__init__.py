"""Tests of answers (calcinosis.answers)."""
