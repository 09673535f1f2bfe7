"""Tests of settings and storage (calcinosis.settings, calcinosis.storage)."""
