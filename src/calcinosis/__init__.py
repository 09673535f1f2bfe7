"""calcinosis: evidence-based clinical decision support for calcinosis cutis."""

__all__ = ["__version__"]

__version__ = "0.1.0"
