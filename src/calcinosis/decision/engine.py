"""The decision algorithm: a patient profile in, a ranked, explained, cited plan out.

It encodes the management topic (seed 004) for the five subtypes, with the
review (seed 001, Table 4 and Discussion) where it adds to it. Each step is one
small function that reads the patient and offers, ranks or forbids options; the
plan keeps the trace of every step and whether it fired. Whatever the path,
the last steps apply the patient's prior responses and then the safety rules
(``safety.py``), so an option the rules forbid can never come out offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from calcinosis.decision.documents import PlanDocument, TraceStep
from calcinosis.decision.patient import Patient
from calcinosis.decision.plan import (
    STANCES,
    Option,
    Plan,
    SourceDisagreement,
    Stance,
    plan_document,
)
from calcinosis.decision.safety import check_rules, findings_for
from calcinosis.errors import KnowledgeError
from calcinosis.evidence.applicability import Context
from calcinosis.evidence.derived import derived, derived_bounded
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.evidence.names import DISEASE_RECORDS, SOURCE_NAMES
from calcinosis.evidence.schemas import Provenance

__all__ = ["STEPS", "recommend", "recommend_document"]

# The autoimmune diseases, by name, and the dermatomyositis family (knowledge/diseases.yaml).
AUTOIMMUNE = {d.id: d.name for d in DISEASE_RECORDS.values() if d.autoimmune}
DM = tuple(d.id for d in DISEASE_RECORDS.values() if d.arms == "DM")
LOCAL = ("sodium-thiosulfate-topical", "sodium-thiosulfate-intralesional")
# Not ranks of the algorithm (those are in algorithm.yaml): every avoided option has this
# rank (so they are listed by name), and one that worked before moves this far up.
AVOID_RANK = 90
WORKED_BEFORE = 30


@dataclass(frozen=True)
class Said:
    """Words of the algorithm (``algorithm.yaml``) and the statements they cite; texts a
    step strings together are joined with one space, their citations in order."""

    text: str
    cites: tuple[str, ...] = ()

    def __add__(self, other: Said) -> Said:
        return Said(f"{self.text} {other.text}", self.cites + other.cites)


class Builder:
    """The plan while the steps build it."""

    def __init__(self, kb: KnowledgeBase, patient: Patient) -> None:
        self.kb = kb
        self.patient = patient
        self.options: dict[str, Option] = {}
        self.assumptions: list[str] = []
        self.disagreements: list[SourceDisagreement] = []
        self.warnings: list[str] = []
        self.silences: list[str] = []
        self.critical = False
        self.treat = True  # does the calcinosis warrant treatment?

    def cite(self, *statement_ids: str) -> list[Provenance]:
        return [_provenance(self.kb, i) for i in statement_ids]

    def say(self, text_id: str, **fields: object) -> Said:
        """The algorithm's text ``text_id``, its {fields} filled in, with what it cites."""
        record = self.kb.algorithm.get(text_id)
        if record is None:  # a knowledge directory older than this code (serve --knowledge)
            raise KnowledgeError(
                "algorithm.yaml",
                text_id,
                None,
                "missing: this version of calcinosis needs it (the knowledge is older)",
            )
        return Said(record.text.format(**fields), tuple(record.cites))

    def words(self, text_id: str, **fields: object) -> str:
        """The algorithm's text ``text_id`` alone (an assumption, a warning, a note)."""
        return self.say(text_id, **fields).text

    def named(self, *treatments: str) -> str:
        """The treatments as the trace names them: their catalog names, each once."""
        names = (
            entry.name if (entry := self.kb.treatments.get(t)) else t.replace("-", " ")
            for t in treatments
        )
        return ", ".join(dict.fromkeys(names))

    def ranks(self, text_id: str) -> dict[str, int]:
        """What the text ``text_id`` offers, and at which rank (in the data's order)."""
        return {offer.treatment: offer.rank for offer in self.kb.algorithm[text_id].offers}

    def offer(self, treatment: str, stance: Stance, rank: int, said: Said) -> None:
        """Offer an option; of several offers the most favourable stance wins, never over avoid."""
        why, cites = said.text, said.cites
        option = self.options.get(treatment)
        if option is None:
            self.options[treatment] = Option(treatment, stance, rank, [why], self.cite(*cites))
            return
        if option.stance == "avoid":
            return
        if STANCES.index(stance) < STANCES.index(option.stance):
            option.stance, option.rank = stance, rank
        option.rationale.append(why)
        option.cites.extend(self.cite(*cites))

    def offer_as(self, text_id: str, stance: Stance, said: Said | None = None) -> None:
        """Offer what the text ``text_id`` offers, at its ranks, saying ``said`` (or it),
        with the source's own words for its strength where the text gives them."""
        said = said or self.say(text_id)
        for offer in self.kb.algorithm[text_id].offers:
            self.offer(offer.treatment, stance, offer.rank, said)
            option = self.options[offer.treatment]
            if offer.direction and option.stance == stance:
                option.direction = offer.direction

    def avoid(
        self,
        treatment: str,
        why: str,
        cites: list[Provenance],
        personal: bool = False,
        *,
        own_reading: bool = False,
    ) -> None:
        """Avoid an option; ``personal``: because of this patient's own past response;
        ``own_reading``: on this tool's safer reading where no source addresses it."""
        option = self.options.get(treatment)
        if option is None or option.stance != "avoid":
            self.options[treatment] = Option(
                treatment,
                "avoid",
                AVOID_RANK,
                [why],
                list(cites),
                option.warnings if option else [],
                personal,
                own_reading=own_reading,
            )
        elif why not in option.rationale:
            option.rationale.append(why)
            option.cites.extend(cites)
            option.personal = option.personal and personal
            option.own_reading = option.own_reading and own_reading


@derived_bounded(4096)
def _provenance(kb: KnowledgeBase, statement_id: str) -> Provenance:
    """Where a statement is: built once (shared between plans: a Provenance is frozen)."""
    s = kb.statements_by_id[statement_id]
    return Provenance(source=s.source, location=s.location, quote=s.quote)


Step = Callable[[Builder], str | None]


# ------------------------------------------------------------------ dystrophic
def assess_underlying_disease(b: Builder) -> str | None:
    """Question 1: is the underlying autoimmune disease adequately treated?"""
    p = b.patient
    disease = AUTOIMMUNE.get(p.underlying_disease)
    if disease is None:
        if p.underlying_disease == "unknown":
            b.assumptions.append(b.words("underlying.unknown"))
        return None
    why = b.say("underlying.why", disease=disease)
    if p.underlying_disease in DM:
        why += b.say("underlying.why-dm")
    if p.underlying_disease == "juvenile-dermatomyositis":
        why += b.say("underlying.why-jdm")
    if p.disease_active is True:
        b.offer_as(
            "underlying.active", "first-line", b.say("underlying.active", disease=disease) + why
        )
        return f"{disease} not adequately controlled: treat it first"
    if p.disease_active is None:
        b.assumptions.append(b.words("underlying.activity-unknown", disease=disease))
        b.offer_as("underlying.check", "adjunct", b.say("underlying.check", disease=disease) + why)
        return f"{disease}: activity unknown, check its treatment"
    return None


def decide_whether_to_treat(b: Builder) -> str | None:
    """Question 2: do the signs and symptoms warrant treatment?"""
    p = b.patient
    answers = (p.symptomatic, p.progressive, p.internal_involvement, p.patient_concerned)
    if all(answer is False for answer in answers):
        b.treat = False
        b.offer_as("treat.nothing-warrants", "first-line")
        return "no sign warrants treatment: observation"
    if any(answer is True for answer in answers):
        return "treatment warranted (symptomatic, progressive, internal involvement or concern)"
    b.assumptions.append(b.words("treat.assumed"))
    b.offer_as("treat.if-nothing-warrants", "alternative")
    return "treatment assumed wanted (nothing stated)"


def offer_local_therapy(b: Builder) -> str | None:
    """Topical or intralesional sodium thiosulfate first (Grade 2C), by lesion size."""
    p = b.patient
    if not p.local_therapy_accessible:
        if b.treat:
            b.warnings.append(b.words("local.inaccessible"))
        return "local therapy not accessible: skipped"
    widespread = p.lesions.distribution == "widespread"
    size = p.lesions.largest_cm
    large = size is not None and size > 2
    # The topic keeps local therapy first unless the number or extent of lesions makes
    # it impractical. One discrete, symptomatic lesion over 2 cm is where surgery is the
    # primary option and local therapy did poorly (0 of 3 larger lesions): local therapy
    # is then an alternative; otherwise a large lesion is warned about, not skipped.
    discrete_large = large and not widespread and p.symptomatic is True
    first = b.treat and not widespread and not discrete_large
    stance: Stance = "first-line" if first else "alternative"
    why = b.say("local.initial")
    if not b.treat:
        why = b.say("local.if-wanted") + why
    if widespread:
        why += b.say("local.widespread")
    ((topical, topical_rank),) = b.ranks("local.topical").items()
    ((intralesional, intralesional_rank),) = b.ranks("local.intralesional").items()
    if size is not None and size < 0.2:  # very small lesions: topical first
        topical_rank, intralesional_rank = sorted((topical_rank, intralesional_rank))
    else:
        intralesional_rank, topical_rank = sorted((topical_rank, intralesional_rank))
    b.offer(topical, stance, topical_rank, why + b.say("local.topical"))
    b.offer(intralesional, stance, intralesional_rank, why + b.say("local.intralesional"))
    if large:
        for treatment in LOCAL:
            b.options[treatment].warnings.append(b.words("local.large", size=f"{size:g}"))
    if (
        b.treat
        and p.lesions.distribution is None
        and p.lesions.count is not None
        and p.lesions.count > 1
    ):
        b.assumptions.append(b.words("local.count-assumed", count=p.lesions.count))
    failed = {x.treatment for x in p.prior_treatments if x.response in ("none", "intolerant")}
    if size is None and b.treat and not failed & set(LOCAL):  # both still offered
        b.assumptions.append(b.words("local.size-assumed"))
    return f"local sodium thiosulfate: {stance}"


def offer_systemic_therapy(b: Builder) -> str | None:
    """Diltiazem, colchicine or minocycline when local therapy is impractical or fails."""
    p = b.patient
    if not b.treat:
        return None
    # First-line only when "the number or extent of lesions makes local therapy
    # impractical" or it cannot be accessed; after a local failure, apply_prior_responses
    # promotes it. One large discrete lesion is for surgery, not for systemic therapy.
    impractical = p.lesions.distribution == "widespread" or not p.local_therapy_accessible
    stance: Stance = "first-line" if impractical else "alternative"
    inflamed = p.inflammation is True or p.ulceration is True
    # the review's statements on calcium channel blockers are about Raynaud's in SSc and
    # digital calcinosis in SSc: said for SSc, or for Raynaud's with digital lesions, not
    # carried to any patient with Raynaud's (blind round 21: MCTD, lesions not digital)
    raynaud_ssc = p.underlying_disease == "systemic-sclerosis" or (
        p.raynaud is True and p.lesions.digital is True
    )
    ranks = b.ranks("systemic.base")  # in the usual order: diltiazem, colchicine, minocycline
    order = list(ranks)
    if inflamed:  # "colchicine or minocycline is generally preferred over diltiazem"
        order = [t for t in order if t != "diltiazem"] + ["diltiazem"]
    base = b.say("systemic.base")
    preferred = "systemic.preferred-inflamed" if inflamed else "systemic.preferred-when-inflamed"
    # diltiazem that a rule bars for this patient (conduction disease) or that failed is not
    # offered: a preference over it, or an order after it, is no reason here (round 23)
    failed = {x.treatment for x in p.prior_treatments if x.response in ("none", "intolerant")}
    diltiazem_out = findings_for_avoid(b, "diltiazem") or "diltiazem" in failed
    reasons = {
        treatment: b.say(preferred, name=_name(b, treatment, lower=not inflamed))
        for treatment in order
        if treatment != "diltiazem" and not diltiazem_out
    }
    reasons["diltiazem"] = b.say("systemic.diltiazem")
    if p.underlying_disease in AUTOIMMUNE:
        disease = AUTOIMMUNE[p.underlying_disease]
        reasons["diltiazem"] += b.say("systemic.diltiazem-disease", disease=disease)
    if raynaud_ssc and not inflamed:
        reasons["diltiazem"] += b.say("systemic.diltiazem-raynaud")
    for rank, treatment in zip(sorted(ranks.values()), order, strict=True):
        # "Colchicine or minocycline is generally preferred over diltiazem for patients
        # presenting with prominent inflammation or ulceration": diltiazem comes after.
        own: Stance = "alternative" if inflamed and treatment == "diltiazem" else stance
        reason = reasons.get(treatment)
        b.offer(treatment, own, rank, base if reason is None else base + reason)
    still = [t for t in order if t not in failed]
    if p.inflammation is None and p.ulceration is None and not diltiazem_out and len(still) > 1:
        b.assumptions.append(b.words("systemic.inflammation-assumed"))
    return f"systemic therapy: {stance}" + (" (inflammation/ulceration first)" if inflamed else "")


def offer_surgery(b: Builder) -> str | None:
    """Surgery and physical therapies for discrete, symptomatic lesions."""
    p = b.patient
    if not b.treat or p.lesions.distribution == "widespread" or p.symptomatic is False:
        return None
    large = p.lesions.largest_cm is not None and p.lesions.largest_cm > 2
    stance: Stance = "first-line" if large and p.symptomatic is True else "alternative"
    b.offer_as("surgery.excision", stance)
    b.offer_as("surgery.less-invasive", "alternative")
    if p.lesions.digital is True:
        b.offer_as("surgery.microdrilling", "alternative")
    if p.symptomatic is None:
        b.assumptions.append(b.words("surgery.symptoms-assumed"))
    return f"surgery for discrete lesions: {stance}"


def offer_disease_specific(b: Builder) -> str | None:
    """Options Table 4 names for DM and SSc (level IV, grade C)."""
    p = b.patient
    if not b.treat or p.underlying_disease not in (*DM, "systemic-sclerosis"):
        return None
    texts = ["specific.rituximab"]
    if p.underlying_disease in DM:
        texts += [
            "specific.bisphosphonates",
            "specific.ivig",
            "specific.infliximab",
            "specific.abatacept",
        ]
    refractory = any(prior.response == "none" for prior in p.prior_treatments)
    if p.underlying_disease == "juvenile-dermatomyositis" and (p.disease_active or refractory):
        texts.append("specific.cyclophosphamide")
    offered: list[str] = []
    for text_id in texts:
        b.offer_as(text_id, "alternative")
        offered += b.ranks(text_id)
    return "disease-specific options: " + b.named(*offered)


def show_source_disagreement(b: Builder) -> str | None:
    """Where the sources disagree about order, follow the most recent graded source.

    The AI answer is about dermatomyositis: its disagreement is shown for DM only."""
    if not any(t in b.options for t in LOCAL) or b.patient.underlying_disease not in DM:
        return None
    said = b.say("disagreement.first-line")
    b.disagreements.append(
        SourceDisagreement(
            summary=said.text, followed="management-topic", cites=b.cite(*said.cites)
        )
    )
    return "AI answer vs management topic on first-line: management topic followed"


# ----------------------------------------------------------- other subtypes
def treat_metabolic_cause(b: Builder) -> str | None:
    """Metastatic: correct the calcium-phosphate product; treat the cause."""
    b.offer_as("metastatic.correct", "first-line")
    return "correct the calcium-phosphate product"


def plan_idiopathic(b: Builder) -> str | None:
    """Idiopathic: no treatment if asymptomatic and unbothered; excision if wanted."""
    p = b.patient
    wants = p.symptomatic is True or p.patient_concerned is True
    excision: Stance = "first-line" if wants else "alternative"
    watch: Stance = "alternative" if wants else "first-line"
    observation = b.say("idiopathic.observation")
    if wants:
        observation = b.say("idiopathic.if-no-longer-troubling") + observation
    b.offer_as("idiopathic.observation", watch, observation)
    b.offer_as("idiopathic.excision", excision)
    if p.symptomatic is None and p.patient_concerned is None:
        b.assumptions.append(b.words("idiopathic.assumed"))
    return f"excision {excision}, observation {watch}"


def plan_iatrogenic(b: Builder) -> str | None:
    """Iatrogenic: observe (resolution within about six months); topical STS if symptomatic,
    and then the dystrophic options for a discrete lesion ("may be attempted")."""
    symptomatic = b.patient.symptomatic is True
    observation = b.say("iatrogenic.observation")
    if symptomatic:
        observation = b.say("iatrogenic.symptomatic") + observation
    b.offer_as(
        "iatrogenic.observation", "alternative" if symptomatic else "first-line", observation
    )
    b.offer_as("iatrogenic.topical", "first-line" if symptomatic else "alternative")
    if symptomatic and b.patient.age_years >= 1:
        # "may be attempted": the dystrophic options for a discrete lesion, as alternatives
        # (not for an infant: the topic's extravasation in newborns is observed)
        b.offer_as("iatrogenic.dystrophic", "alternative")
    size = b.patient.lesions.largest_cm
    if size is not None and size > 2:
        b.options["sodium-thiosulfate-topical"].warnings.append(
            b.words("iatrogenic.large", size=f"{size:g}")
        )
    if b.patient.symptomatic is None:
        b.assumptions.append(b.words("iatrogenic.assumed"))
    return "topical STS first" if symptomatic else "observation first"


def plan_calciphylaxis(b: Builder) -> str | None:
    """Calciphylaxis: urgent, multi-interventional care."""
    b.critical = True
    b.warnings.append(b.words("calciphylaxis.urgent"))
    b.offer_as("calciphylaxis.care", "first-line")
    b.offer_as("calciphylaxis.correct", "first-line")
    return "critical: calciphylaxis care, urgent referral"


def _name(b: Builder, treatment: str, *, lower: bool = False) -> str:
    name = b.kb.treatments[treatment].name
    return name.lower() if lower else name


# ------------------------------------------------------------- every path
def apply_prior_responses(b: Builder) -> str | None:
    """A treatment that failed is demoted; one that was not tolerated is avoided."""
    notes = []
    for prior in b.patient.prior_treatments:
        name = b.kb.treatments[prior.treatment].name
        if prior.response == "intolerant":
            # Safer than a demotion: do not offer again what the patient did not tolerate.
            said = b.say("prior.intolerant", name=name)
            b.avoid(prior.treatment, said.text, b.cite(*said.cites), personal=True)
            notes.append(f"{name} avoided (intolerant)")
        elif prior.response == "none":
            # Not offered again: a treatment that did not work for this patient is listed
            # with the reason, among what not to use (it stays visible, never offered).
            said = b.say("prior.no-response", name=name)
            b.avoid(prior.treatment, said.text, b.cite(*said.cites), personal=True)
            notes.append(f"{name} not offered again (no response)")
            inflamed = b.patient.inflammation is True or b.patient.ulceration is True
            if prior.treatment in LOCAL:
                for treatment in ("diltiazem", "colchicine", "minocycline"):
                    if inflamed and treatment == "diltiazem":
                        continue  # colchicine or minocycline preferred
                    if treatment in b.options and b.options[treatment].stance == "alternative":
                        b.options[treatment].stance = "first-line"
                        b.options[treatment].rationale.append(b.words("prior.local-failed"))
                # the topic: systemic therapy "for ... patients who do not respond to ...
                # topical or intralesional sodium thiosulfate". Intralesional injection
                # failing is local therapy failing: topical (the topic's choice for very
                # small lesions) stays, after systemic therapy. Topical failing is not:
                # intralesional injection is the step up (lesions up to about 2 cm).
                for other in LOCAL if prior.treatment == "sodium-thiosulfate-intralesional" else ():
                    option = b.options.get(other)
                    if other != prior.treatment and option and option.stance == "first-line":
                        option.stance = "alternative"
                        option.rationale.append(
                            b.words("prior.local-failed-other-route", name=name)
                        )
        elif prior.treatment in b.options and b.options[prior.treatment].stance != "avoid":
            option = b.options[prior.treatment]
            if option.stance in ("alternative", "adjunct") and option.id not in MANAGEMENT:
                option.stance = "first-line"
                option.rationale.append(b.words("prior.worked", response=prior.response))
            option.rank -= WORKED_BEFORE  # a treatment that worked comes first among its peers
            notes.append(f"{name}: {prior.response} response, kept first")
            systemic = (
                b.kb.treatments[prior.treatment].kind == "drug" and prior.treatment not in LOCAL
            )
            b.options[prior.treatment].warnings.append(
                b.words(
                    "prior.response-systemic" if systemic else "prior.response",
                    response=prior.response.capitalize(),
                )
            )
    return "; ".join(notes) or None


# Options that are not a treatment of the calcinosis itself.
MANAGEMENT = ("observation", "treat-underlying-disease")
# The management topic's algorithm for dystrophic calcinosis: local STS, then these three.
USUAL = (*LOCAL, "diltiazem", "colchicine", "minocycline")


def _local_failed(p: Patient) -> bool:
    """Intralesional sodium thiosulfate failed (no response or not tolerated): local therapy
    has failed, in the topic's words "patients who do not respond to ... topical or
    intralesional sodium thiosulfate"."""
    return any(
        x.treatment == "sodium-thiosulfate-intralesional" and x.response in ("none", "intolerant")
        for x in p.prior_treatments
    )


def offer_when_exhausted(b: Builder) -> str | None:
    """When every usual option failed, was not tolerated or is ruled out: what remains.
    Intralesional sodium thiosulfate failing is local therapy failing, so topical sodium
    thiosulfate does not keep the usual options from being exhausted."""
    p = b.patient
    if p.subtype != "dystrophic" or not b.treat:
        return None
    failed = {x.treatment for x in p.prior_treatments if x.response in ("none", "intolerant")}
    local_failed = _local_failed(p)
    remaining = [
        treatment
        for treatment in USUAL
        if treatment in b.options
        and b.options[treatment].stance != "avoid"
        and treatment not in failed
        and not (treatment in LOCAL and local_failed)
        and not findings_for_avoid(b, treatment)
    ]
    if remaining:
        return None
    # The management topic's "Other drug therapies" for dystrophic calcinosis (limited or
    # conflicting efficacy data), in the order it lists them.
    other = b.kb.algorithm["exhausted.other-drugs"]
    statement = b.kb.statement(other.cites[0])
    offered = []
    for rank, treatment in enumerate(statement.treatments, start=other.ranks_from or 0):
        if treatment in failed or treatment in b.options or findings_for_avoid(b, treatment):
            continue
        b.offer(treatment, "alternative", rank, b.say("exhausted.other-drugs"))
        offered.append(treatment)
    surgery = b.ranks("exhausted.surgery")
    if not (surgery.keys() & failed or surgery.keys() & b.options.keys()):
        b.offer_as("exhausted.surgery", "alternative")
        offered += surgery
    b.warnings.append(b.words("exhausted.warning"))
    return "usual options exhausted: " + (b.named(*offered) or "nothing further")


def findings_for_avoid(b: Builder, treatment: str) -> bool:
    return any(f.rule.stance == "avoid" for f in findings_for(b.kb, b.patient, treatment))


# Conditions a safety rule or a step reads; any other the patient has, no source addresses.
CONDITIONS_READ = frozenset(
    {
        "cardiac-conduction-abnormality",
        "reduced-ventricular-function",
        "chronic-kidney-disease",
        "end-stage-kidney-disease",
    }
)
_CONDITION_WORDS = {
    "pregnancy": "pregnancy",
    "breastfeeding": "breastfeeding",
    "interstitial-lung-disease": "interstitial lung disease",
}


def note_what_sources_do_not_cover(b: Builder) -> str | None:
    """Say where the sources are silent about this patient, instead of ignoring it."""
    p = b.patient
    noted: list[str] = []
    for condition in p.conditions:
        if condition in CONDITIONS_READ:
            continue
        words = _CONDITION_WORDS.get(condition, condition.replace("-", " "))
        extra = ""
        if condition == "interstitial-lung-disease":
            extra = " " + b.words("silent.lungs")
        if condition in UNADDRESSED_FOR_DRUGS:
            ranks = " " + b.words("silent.no-systemic-first") if condition == "pregnancy" else ""
            done = b.words("silent.warned-on-drugs", ranks=ranks, words=words)
        elif condition == "interstitial-lung-disease":
            done = b.words("silent.lung-rule", words=words)
        else:
            done = b.words("silent.unaccounted", words=words)
        b.silences.append(b.words("silent.condition", words=words, extra=extra, done=done))
        noted.append(condition.replace("-", " "))
    for other in p.other_conditions:
        words = other.replace("-", " ")
        b.silences.append(b.words("silent.unknown-condition", words=words))
        noted.append(other.replace("-", " "))
    if p.subtype == "dystrophic" and p.underlying_disease in ("other", "none"):
        b.silences.append(b.words("silent.other-cause"))
        noted.append("dystrophic calcinosis without autoimmune disease")
    kidney = {"chronic-kidney-disease", "end-stage-kidney-disease"} & set(p.conditions)
    if kidney and p.subtype in ("dystrophic", "idiopathic", "iatrogenic"):
        b.warnings.append(b.words("silent.kidney-subtype"))
        b.silences.append(b.words("silent.kidney-doses"))
        noted.append("kidney disease")
    if p.age_years < 1 and p.subtype != "iatrogenic":
        b.silences.append(b.words("silent.infants"))
    diltiazem = b.options.get("diltiazem")
    if (
        p.raynaud is True
        and p.underlying_disease == "systemic-sclerosis"
        and diltiazem is not None
        and diltiazem.stance == "avoid"
    ):  # the review's calcium channel blockers for Raynaud's, barred here (round 25)
        b.silences.append(b.words("silent.raynaud-without-diltiazem"))
        noted.append("Raynaud's phenomenon with diltiazem avoided")
    invasive = _invasive_offered(b) if "warfarin" in p.medications else []
    if invasive:  # no source speaks of injecting or operating on an anticoagulated patient
        names = [b.kb.treatments[t].name for t in invasive]
        said = ", ".join(n if n[1:2].isupper() else n[:1].lower() + n[1:] for n in names)
        b.silences.append(b.words("silent.warfarin-procedures", names=said))
        noted.append("procedures while taking warfarin")
    return ", ".join(noted) or None


def _invasive_offered(b: Builder) -> list[str]:
    """The options offered that are injected into a lesion or operated (not avoided)."""
    found = []
    for option in sorted(b.options.values(), key=lambda o: o.rank):
        entry = b.kb.treatments.get(option.id)
        if entry is None or option.stance == "avoid":
            continue
        if entry.kind == "procedure" or entry.route == "intralesional":
            found.append(option.id)
    return found


def _called(source_id: str) -> str:
    """How a sentence of the plan names a source (names.yaml), or its id."""
    name = SOURCE_NAMES.get(source_id)
    return name.called if name is not None else source_id


def show_disagreements_about_options(b: Builder) -> str | None:
    """Where two sources disagree about an option of this plan, show both."""
    seen: set[tuple[str, str]] = set()
    shown = []
    for option in sorted(b.options):
        for statement, other in b.kb.conflicts_about(option):
            pair = (min(statement.id, other.id), max(statement.id, other.id))
            if pair in seen:
                continue
            ai = {statement.source, other.source} & {"ai-answer-dm"}
            if ai and b.patient.underlying_disease not in DM:
                continue  # the AI answer is about dermatomyositis
            seen.add(pair)
            # the note of the source that is not the review explains the pair best
            ordered = sorted((statement, other), key=lambda x: x.source == "traineau-2020")
            note = next((n for x in ordered for n in x.notes if n), "")
            where = "; ".join(f"{_called(x.source)}, {x.location}" for x in ordered)
            summary = f"{b.kb.treatments[option].name} ({where}): " + (
                note.rstrip(".") + "." if note else "the sources disagree."
            )
            same = next(
                (
                    d
                    for d in b.disagreements
                    if d.summary.startswith(b.kb.treatments[option].name + " (")
                    and d.summary.endswith(note.rstrip(".") + ".")
                    and note
                ),
                None,
            )
            if same is not None:
                same.cites.extend(b.cite(statement.id, other.id))
                continue
            b.disagreements.append(
                SourceDisagreement(summary, followed=None, cites=b.cite(statement.id, other.id))
            )
            shown.append(option)
    return b.named(*shown) or None


def enforce_safety(b: Builder) -> str | None:
    """Contraindications (avoid) and cautions (never first-line), on every option."""
    p = b.patient
    candidates = set(b.options) | set(p.medications) | {x.treatment for x in p.prior_treatments}
    if p.subtype == "dystrophic":  # show what to avoid, even if nothing offered it
        candidates |= set(b.kb.treatments)
    fired: dict[tuple[str, str], list[str]] = {}  # (name, avoid or caution): the gists
    for treatment in sorted(candidates):
        for finding in findings_for(b.kb, p, treatment):
            rule = finding.rule
            if rule.stance == "avoid":
                b.avoid(treatment, rule.text, [rule.provenance])
                fired.setdefault((b.named(treatment), "avoid"), []).append(rule.gist or "")
            elif treatment in b.options:
                option = b.options[treatment]
                if option.stance == "first-line":
                    option.stance = "alternative"
                    option.warnings.append(b.words("safety.never-first-line", rule=rule.text))
                else:
                    option.warnings.append(rule.text)
                option.cites.append(rule.provenance)
                fired.setdefault((b.named(treatment), "caution"), []).append(rule.gist or "")
    return "; ".join(_fired(name, stance, gists) for (name, stance), gists in fired.items()) or None


def _fired(name: str, stance: str, gists: list[str]) -> str:
    """One treatment's safety findings in the trace: its stance and, once each, why."""
    why = "; ".join(dict.fromkeys(g for g in gists if g))
    return f"{name}: {stance}" + (f" ({why})" if why else "")


def _medication_warning(b: Builder, treatment: str) -> str:
    """What a current medication that the plan avoids means, by the reason it is avoided.

    Each says first what the finding is about (treating calcinosis, or this patient
    whatever the drug is for), so that "avoid" is not read as "stop the drug"."""
    name = b.kb.treatments[treatment].name
    findings = [
        f.rule for f in findings_for(b.kb, b.patient, treatment) if f.rule.stance == "avoid"
    ]
    everywhere = [rule for rule in findings if rule.indication == "any"]
    if everywhere:
        rule = everywhere[0]
        return b.words("medication.whatever-for", name=name, rule=rule.text.rstrip("."))
    prior = b.patient.prior(treatment)
    if not findings and prior is not None and prior.response == "intolerant":
        return b.words("medication.not-tolerated", name=name)
    reason = findings[0].reason if findings else "harm"
    extra = " ".join(rule.text for rule in findings[1:])
    if reason == "ineffective" and b.patient.subtype in ("calciphylaxis", "metastatic"):
        return b.words(
            "medication.ineffective-subtype",
            name=name,
            lower=name.lower(),
            extra=extra,
            subtype=b.patient.subtype,
        ).replace("  ", " ")
    if reason == "ineffective":
        return b.words(
            "medication.ineffective", name=name, lower=name.lower(), extra=extra
        ).replace("  ", " ")
    return b.words("medication.avoid", name=name)


def promote_when_no_first_line(b: Builder) -> str | None:
    """If the rules and the history leave no first-line treatment, promote the best
    remaining usual option that nothing cautions against, and say why."""
    p = b.patient
    if p.subtype != "dystrophic" or not b.treat:
        return None
    if any(o.stance == "first-line" and o.id not in MANAGEMENT for o in b.options.values()):
        return None
    local_failed = _local_failed(p)
    candidates = sorted(
        (
            o
            for o in b.options.values()
            if o.stance == "alternative"
            and o.id in (*USUAL, "surgical-excision")
            and not findings_for(b.kb, p, o.id)
            # local sodium thiosulfate that failed by injection is not promoted by the
            # other route: local therapy has failed
            and not (o.id in LOCAL and local_failed)
            # surgery is for discrete, symptomatic areas: promoted only when the lesions
            # are said to be localized (or one)
            and not (
                o.id == "surgical-excision"
                and p.lesions.distribution != "localized"
                and p.lesions.count != 1
            )
            # surgery is for discrete areas, and local injection impractical for many
            # lesions: neither is promoted to first-line for widespread lesions
            and not (
                o.id in ("surgical-excision", *LOCAL) and p.lesions.distribution == "widespread"
            )
        ),
        key=lambda o: (o.id not in ("diltiazem", "colchicine", "minocycline"), o.rank),
    )
    if not candidates:
        b.warnings.append(b.words("promote.none-first-line"))
        return "no first-line option"
    chosen = candidates[0]
    chosen.stance = "first-line"
    chosen.rationale.append(b.words("promote.promoted"))
    return f"{b.named(chosen.id)} promoted to first-line"


def note_current_medications(b: Builder) -> str | None:
    """A patient already taking an option, or something to avoid, is told so."""
    notes = []
    for treatment in b.patient.medications:
        option = b.options.get(treatment)
        if option is not None and option.stance == "avoid":
            b.warnings.append(_medication_warning(b, treatment))
            notes.append(f"{b.named(treatment)}: taking an avoided treatment")
        elif option is not None:
            option.warnings.append(b.words("medication.already-taking"))
            notes.append(f"{b.named(treatment)}: already taking")
    for other in b.patient.other_medications:
        b.silences.append(b.words("medication.unknown", name=other.replace("-", " ")))
        notes.append(f"{other.replace('-', ' ')}: not known to this tool")
    return "; ".join(notes) or None


# Conditions no source addresses that change whether or how a drug may be given: every
# drug option says so. In pregnancy no systemic drug is ranked first-line on this tool's
# word (the safer reading where the sources are silent, said in the plan); in
# breastfeeding and kidney disease the algorithm's order stands, each drug warned.
UNADDRESSED_FOR_DRUGS = {
    "pregnancy": "pregnancy",
    "breastfeeding": "breastfeeding",
    "chronic-kidney-disease": "kidney disease",
    "end-stage-kidney-disease": "end-stage kidney disease",
}
_NOT_FIRST_LINE_IN = frozenset({"pregnancy"})
_LOCAL_ROUTES = frozenset({"topical", "intralesional"})


def _withhold_in_pregnancy(b: Builder) -> None:
    """A drug a source bars while the teeth develop (minocycline under nine: permanent
    tooth discoloration) is not offered in pregnancy either. No source addresses it:
    this is the tool's own, safer reading, and the plan says so."""
    for option in list(b.options.values()):
        entry = b.kb.treatments.get(option.id)
        if entry is None or option.stance == "avoid":
            continue
        for rule in entry.contraindications:
            if rule.rule.startswith("age-under-") and "tooth" in rule.text:
                age = rule.rule.rsplit("-", 1)[1]
                said = b.words("silent-drugs.pregnancy", name=entry.name.lower(), age=age)
                b.avoid(option.id, said, [rule.provenance], own_reading=True)
                break


# Conditions a source's rule reads for one drug only (diltiazem and the heart): every
# other systemic drug says that no source addresses it with them, instead of silence that
# reads as reassurance (infliximab or IVIG in heart failure).
READ_FOR_ONE_DRUG = {
    "reduced-ventricular-function": "reduced ventricular function (heart failure)",
    "cardiac-conduction-abnormality": "a cardiac conduction abnormality",
}


def _warn_where_only_one_drug_is_read(b: Builder) -> list[str]:
    warned = []
    for condition in b.patient.conditions:
        words = READ_FOR_ONE_DRUG.get(condition)
        if words is None:
            continue
        for option in b.options.values():
            entry = b.kb.treatments.get(option.id)
            if (
                entry is None
                or entry.kind != "drug"
                or entry.route in _LOCAL_ROUTES
                or option.stance == "avoid"
                or any(r.rule == condition for r in entry.contraindications)
            ):
                continue
            option.warnings.append(
                b.words("silent-drugs.one-drug-read", name=entry.name.lower(), words=words)
            )
            warned.append(option.id)
    return warned


def _warn_where_an_effect_resembles_the_disease(b: Builder) -> list[str]:
    """A drug offered whose adverse effects include a reaction like the patient's own
    disease (``mimicked_by`` in names.yaml: minocycline's lupus-like syndrome in lupus):
    no source addresses the drug in that disease, so the option says so."""
    disease = DISEASE_RECORDS.get(b.patient.underlying_disease)
    if disease is None or not disease.mimicked_by:
        return []
    warned = []
    for option in b.options.values():
        entry = b.kb.treatments.get(option.id)
        if entry is None or entry.kind != "drug" or option.stance == "avoid":
            continue
        effect = next(
            (
                claim
                for claim in entry.adverse_effects
                if any(word in claim.text.lower() for word in disease.mimicked_by)
            ),
            None,
        )
        if effect is None:
            continue
        option.warnings.append(
            b.words(
                "silent-drugs.like-the-disease",
                name=entry.name.lower(),
                effect=effect.text,
                source=SOURCE_NAMES[effect.provenance.source].called,
                disease=disease.name,
            )
        )
        warned.append(option.id)
    return warned


def qualify_drugs_where_sources_are_silent(b: Builder) -> str | None:
    """Pregnancy, breastfeeding, kidney disease: no source gives the safety or the dose of
    any drug here. Each drug option carries that warning; in pregnancy a systemic drug
    that would be first-line becomes an alternative, so that none is offered first
    unchecked. Heart failure and conduction abnormalities are read for diltiazem only:
    the other systemic drugs say so. A drug one of whose adverse effects is like the
    patient's disease (a lupus-like syndrome in lupus) says that too."""
    p = b.patient
    if "pregnancy" in p.conditions:  # first: what is withheld is warned of no further
        _withhold_in_pregnancy(b)
    heart = _warn_where_only_one_drug_is_read(b)
    like = _warn_where_an_effect_resembles_the_disease(b)
    also = "; ".join(
        [f"heart: {b.named(*heart)} warned"] * bool(heart)
        + [f"like the disease: {b.named(*like)} warned"] * bool(like)
    )
    said = [UNADDRESSED_FOR_DRUGS[c] for c in p.conditions if c in UNADDRESSED_FOR_DRUGS]
    if not said:
        return also or None
    words = " or ".join(dict.fromkeys(said))
    check = "its safety and its dose" if any("kidney" in w for w in said) else "its safety"
    withheld = " or ".join(c for c in p.conditions if c in _NOT_FIRST_LINE_IN)
    demoted = []
    for option in b.options.values():
        entry = b.kb.treatments.get(option.id)
        if entry is None or entry.kind != "drug" or option.stance == "avoid":
            continue
        option.warnings.append(
            b.words("silent-drugs.check", name=entry.name.lower(), words=words, check=check)
        )
        if withheld and option.stance == "first-line" and entry.route not in _LOCAL_ROUTES:
            option.stance = "alternative"
            option.rationale.append(b.words("silent-drugs.not-first-line", withheld=withheld))
            demoted.append(option.id)
    if demoted:
        b.warnings.append(b.words("silent-drugs.none-first-line", withheld=withheld))
    detail = f"{words}: " + (b.named(*demoted) + " not first-line" if demoted else "warned")
    return f"{detail}; {also}" if also else detail


def ensure_an_offer(b: Builder) -> str | None:
    """Every plan offers at least one step, even when everything else is ruled out."""
    if any(option.stance != "avoid" for option in b.options.values()):
        return None
    b.offer_as("nothing-left", "adjunct")
    return "nothing left to offer: follow-up and reassessment"


FINAL: tuple[Step, ...] = (
    apply_prior_responses,
    offer_when_exhausted,
    enforce_safety,
    promote_when_no_first_line,
    note_current_medications,
    show_disagreements_about_options,
    note_what_sources_do_not_cover,
    qualify_drugs_where_sources_are_silent,
    ensure_an_offer,
)
STEPS: dict[str, tuple[Step, ...]] = {
    "dystrophic": (
        assess_underlying_disease,
        decide_whether_to_treat,
        offer_local_therapy,
        offer_systemic_therapy,
        offer_surgery,
        offer_disease_specific,
        show_source_disagreement,
        *FINAL,
    ),
    "metastatic": (treat_metabolic_cause, *FINAL),
    "idiopathic": (plan_idiopathic, *FINAL),
    "iatrogenic": (plan_iatrogenic, *FINAL),
    "calciphylaxis": (plan_calciphylaxis, *FINAL),
}


@lru_cache(maxsize=4096)
def _trace_step(step: str, detail: str | None) -> TraceStep:
    """One line of the trace (shared between plans: frozen)."""
    return TraceStep(step=step, fired=detail is not None, detail=detail or "")


@derived
def _checked(kb: KnowledgeBase) -> KnowledgeBase:
    check_rules(kb)
    return kb


def recommend(patient: Patient, kb: KnowledgeBase | None = None) -> Plan:
    """Run the algorithm of the patient's subtype, then the safety steps."""
    kb = _checked(kb or load_knowledge())
    builder = Builder(kb, patient)
    trace: list[TraceStep] = []
    for step in STEPS[patient.subtype]:
        detail = step(builder)
        trace.append(_trace_step(step.__name__, detail))
    options = sorted(
        builder.options.values(), key=lambda o: (STANCES.index(o.stance), o.rank, o.id)
    )
    return Plan(
        patient.subtype,
        options,
        trace,
        builder.assumptions,
        builder.disagreements,
        builder.warnings,
        builder.critical,
        kb.version,
        Context.of(patient.subtype, patient.underlying_disease, patient.age_years),
        patient.lesions.largest_cm,
        builder.silences,
        patient.weight_kg,
        patient.height_cm,
    )


def recommend_document(patient: Patient, kb: KnowledgeBase | None = None) -> PlanDocument:
    """The plan as the JSON document of DESIGN.md (``model_dump()`` is the JSON)."""
    kb = kb or load_knowledge()
    return plan_document(kb, recommend(patient, kb))
