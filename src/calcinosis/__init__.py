"""calcinosis: evidence-based clinical decision support for calcinosis cutis."""

__all__ = ["DISCLAIMER", "__version__"]

__version__ = "0.1.0"
# Every output says it (DESIGN.md): the CLI's last line, the plan and answer documents, the
# pages, the cards, the OpenAPI description. The one place this sentence is written.
DISCLAIMER = (
    "calcinosis supports, and does not replace, clinical judgement: check what it says "
    "against the patient in front of you and the cited sources."
)
