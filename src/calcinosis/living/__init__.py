"""Living evidence: add a study, see what it changes, cut a release.

``add`` (a study file joins a knowledge directory, atomically), ``diff`` (two versions
compared: records, pooled estimates, levels and grades, the audit, and the plans of a
reference panel of patients), ``release`` (a version stamped, with its changelog entry).
"""
