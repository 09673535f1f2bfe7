"""The evidence layer: the knowledge files as validated records, their indexes, and what is
recomputed from them (tables, pools, grades, the audit, the summary of findings).

Knows the statistics below it (:mod:`calcinosis.stats`); knows no patient."""
