"""Tests of rendering (calcinosis.render)."""
