"""FHIR R4 data (CDS Hooks ``prefetch`` and ``context.draftOrders``) -> patient profile.

A CDS Hooks service receives FHIR R4 resources: a ``prefetch`` value may be a
single resource, a searchset Bundle, an OperationOutcome (the EHR could not run
the query) or JSON ``null``. This module turns the Patient, its Conditions and
its medications into the patient profile of :mod:`calcinosis.decision.patient` (a dict for
``parse_patient``) and says whether the patient has calcinosis cutis. Every
resource is validated with the R4B models of ``fhir.resources`` (R4B and R4 share
these five resources). Nothing here raises on bad data: a resource that cannot be
read is skipped and the skip is noted.

Patient safety first: the profile holds only what the FHIR data say, never a
guess. A boolean the data are silent about stays absent; a value that cannot be
inferred safely (subtype, age, disease) is left out, and the notes say why, so
that the service asks the clinician to complete the assessment.

Reading the resources
---------------------
* ``"..."`` members (the "snipped for brevity" marker of the CDS Hooks
  specification's examples) are dropped.
* A resource carrying a ``modifierExtension`` or ``implicitRules`` is skipped:
  FHIR forbids processing it as if the modifier were not there.
* Two harmless slips are repaired, with a note: an unknown element *nested* in
  a resource is ignored (e.g. the STU3-style ``dosageInstruction.doseQuantity``
  of the CDS Hooks order-sign example), and a single object where FHIR JSON
  wants an array is read as an array of one (``doseAndRate`` in the
  order-select example). An unknown *top-level* element, or any other
  validation error, skips the whole resource: the elements that change a
  resource's meaning (``status``, ``clinicalStatus``, ``verificationStatus``,
  ``doNotPerform``) live at the top level, and a misspelt one must not be
  ignored.
* A Condition or medication whose ``subject`` names another Patient than the
  prefetched one is skipped.
* The ``fhir.resources`` models are the gate, not what is read: a resource is
  read only once its model validates (after the repairs above), and what is
  read is its JSON. The models accept more than FHIR JSON and rewrite some of
  it, so reading them would change what these inputs mean: ``"true"`` or ``1``
  become booleans (``doNotPerform``, ``isActive``, ``deceasedBoolean``),
  ``"62"`` a decimal (``valueQuantity.value``), and a ``dateTime`` a Python
  ``datetime`` (``...09:00:00.50Z`` reads back as ``...09:00:00.500000+00:00``;
  the notes quote it, and the latest Observation is chosen on it, as written).
  The reader takes a value only with the JSON type FHIR gives it
  (``tests/integrations/test_fhir.py`` holds one case of each).

Mapping rules
-------------
Code systems: ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm`` (codes compared
with or without the dot), SNOMED CT ``http://snomed.info/sct``, RxNorm
``http://www.nlm.nih.gov/research/umls/rxnorm``. Text matching is
case-insensitive, on whole words, over ``CodeableConcept.text`` and every
``coding.display``.

* **Conditions that count**: ``clinicalStatus`` active, recurrence or relapse
  (a Condition without a clinicalStatus does not count, and is noted); never
  ``verificationStatus`` refuted or entered-in-error.
* **Calcinosis cutis**: ICD-10-CM ``L94.2``, or text "calcinosis cutis" /
  "cutaneous calcinosis". No SNOMED CT code: none could be verified, so SNOMED
  coded Conditions are recognised by their display text. "Calcinosis" alone
  (e.g. tumoral calcinosis) does not count; it is noted.
* **Calciphylaxis** (a calcinosis cutis, subtype ``calciphylaxis``): text
  "calciphylaxis" or "calcific uremic (uraemic) arteriolopathy". ICD-10-CM
  ``E83.59`` (other disorders of calcium metabolism) counts only together with
  such text; alone it is noted and not counted.
* **Underlying disease**: ICD-10-CM ``M34.*`` -> systemic-sclerosis, ``M33.0*``
  -> juvenile-dermatomyositis, ``M33.1*``/``M33.9*`` -> dermatomyositis,
  ``M33.2*`` polymyositis -> other (noted: not DM), ``M32.*`` ->
  systemic-lupus-erythematosus, ``M35.1`` -> mixed-connective-tissue-disease;
  SNOMED CT ``89155008`` systemic sclerosis, ``396230008`` dermatomyositis,
  ``1212005`` juvenile dermatomyositis; text "systemic sclerosis",
  "scleroderma" (not localized/linear scleroderma or morphea), "CREST
  syndrome", "juvenile dermatomyositis", "dermatomyositis",
  "dermatopolymyositis", "polymyositis", "systemic lupus (erythematosus)",
  "lupus nephritis", "mixed connective tissue disease", "MCTD". Several: juvenile
  DM wins over DM; of different diseases the one the safety rules depend on
  (systemic sclerosis) is kept, then JDM, DM, MCTD, SLE, and all are noted. None
  coded: the field stays absent ("unknown"), never "none".
* **Subtype**: calciphylaxis when coded as above; "dystrophic" when calcinosis
  cutis and an autoimmune connective tissue disease (SSc, DM, JDM, SLE, MCTD)
  are coded and no kidney disease is (CKD or ESKD make a metabolic cause
  possible); otherwise absent (metastatic, idiopathic and iatrogenic are never
  guessed).
* **Age** from ``birthDate`` in completed years. Partial dates take the
  *youngest* possible age (born on the last day of that month or year) so that
  an age limit (minocycline under 9) is never missed. No, or an unusable,
  birthDate: no ``age_years`` (noted).
* **Sex**: ``gender`` female, male, other or unknown.
* **Conditions**: cardiac-conduction-abnormality ``I44.*``, ``I45.*``,
  ``I49.5`` (sick sinus syndrome); reduced-ventricular-function ``I50.2*``,
  ``I50.4*`` (other heart failure codes, e.g. ``I50.9``, are noted, not assumed);
  interstitial-lung-disease ``J84.*``; chronic-kidney-disease ``N18.1``-``N18.5``,
  ``N18.9``; end-stage-kidney-disease ``N18.6``; pregnancy ``Z33.1``, ``Z3A.*``
  and ``O00``-``O9A``; plus plain text ("atrioventricular block", "HFrEF",
  "interstitial lung disease", "end-stage renal disease", "pregnancy", ...).
  Raynaud ``I73.0*`` or text "Raynaud" -> ``raynaud: true`` (never false).
* **Medications**: MedicationRequests that are not stopped, cancelled,
  completed or entered-in-error (nor ``doNotPerform``), and MedicationStatements
  that are active, intended, on-hold or unknown. Medication resources are read
  only as the targets of ``medicationReference`` (contained or in the same
  input). Catalog ids (drugs of ``kb.therapy_ids()`` only): by RxNorm ingredient
  code where verified (warfarin, rituximab, infliximab, adalimumab, verapamil,
  methotrexate), otherwise by the catalog's names, synonyms and identifiers
  found in the medication's text, displays and ingredients (whole words,
  longest first; "Diltiazem Hydrochloride 120 MG ..." -> diltiazem). Sodium
  thiosulfate without a route in its name is mapped by its route (intravenous,
  topical, intralesional); with no or several routes it stays unmapped. The rest
  is listed as unmapped.
* **Draft orders**: :func:`order_reasons` lists a MedicationRequest's
  ``reasonCode`` (lower-cased text and displays, ``system|code``);
  :func:`is_calcinosis_reason` is true when a reasonCode, or a Condition its
  ``reasonReference`` resolves to (contained, or among ``conditions``), or the
  reference's display, names calcinosis cutis or calciphylaxis by the rules
  above.

The package, by concern (each module imports only the ones listed before it):

* ``terminology``: the code systems, codes and words it recognises (the rules above),
  read from ``terminology.yaml`` (a new code is a record there);
* ``concepts``: reading CodeableConcepts, codings, references and status codes;
* ``resources``: prefetch values, Bundles, OperationOutcomes, and the fhir.resources gate;
* ``conditions``, ``medications``, ``patients``, ``observations``: one per resource type;
* ``findings``: :func:`findings_from_fhir`, which puts them together;
* ``orders``: the draft orders' reasons.
"""

from __future__ import annotations

from calcinosis.integrations.fhir.findings import FhirFindings, findings_from_fhir
from calcinosis.integrations.fhir.medications import medication_ids
from calcinosis.integrations.fhir.orders import is_calcinosis_reason, order_reasons
from calcinosis.integrations.fhir.resources import resources
from calcinosis.integrations.fhir.terminology import ICD10CM, RXNORM, SNOMED

__all__ = [
    "ICD10CM",
    "RXNORM",
    "SNOMED",
    "FhirFindings",
    "findings_from_fhir",
    "is_calcinosis_reason",
    "medication_ids",
    "order_reasons",
    "resources",
]
