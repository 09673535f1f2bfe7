"""The evidence commands' choices: the review's tables, the output formats, the pooling
methods and the subgroup dimensions.

Kept apart from the modules that compute them (``tables.py``, ``synthesis.py``), which
re-export them, so that the command line builds its parser without importing what only
one command needs.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DIMENSIONS", "FORMATS", "METHODS", "TABLES", "Dimension", "Format", "Method"]

TABLES = (1, 2, 3, 4)
Format = Literal["text", "json", "csv", "markdown"]
FORMATS: tuple[Format, ...] = ("text", "json", "csv", "markdown")
Method = Literal["glmm", "dl", "reml", "pm"]
METHODS: tuple[Method, ...] = ("glmm", "dl", "reml", "pm")
Dimension = Literal["disease", "population"]
DIMENSIONS: tuple[Dimension, ...] = ("disease", "population")
