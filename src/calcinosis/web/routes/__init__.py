"""The HTTP routes: the JSON API (:mod:`.api`), the pages (:mod:`.pages`) and the CDS
Hooks endpoints (:mod:`.cds`)."""
