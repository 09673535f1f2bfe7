"""Tests of living evidence (calcinosis.living)."""
