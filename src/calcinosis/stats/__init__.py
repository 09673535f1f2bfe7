"""Pure statistics: intervals, random-effects pooling, sensitivity analyses and the GRADE
certainty rules. Numbers in, numbers out: nothing here reads the knowledge base."""
