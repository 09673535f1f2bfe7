"""Rendering: forest plots and charts (matplotlib), the patient handout and the
transparency document. Reads plans and evidence; decides nothing."""
