"""Tests of the command line (calcinosis.cli)."""
