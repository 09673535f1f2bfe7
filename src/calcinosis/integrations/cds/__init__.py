"""HL7 CDS Hooks: the services and their cards (:mod:`.services`) and the trust in the
calling EHR (:mod:`.auth`)."""
