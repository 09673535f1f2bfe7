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
from functools import cache, lru_cache

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
from calcinosis.evidence.applicability import Context
from calcinosis.evidence.knowledge_base import KnowledgeBase, load_knowledge
from calcinosis.evidence.schemas import Provenance

__all__ = ["STEPS", "recommend", "recommend_document"]

AUTOIMMUNE = {
    "systemic-sclerosis": "systemic sclerosis",
    "dermatomyositis": "dermatomyositis",
    "juvenile-dermatomyositis": "juvenile dermatomyositis",
    "systemic-lupus-erythematosus": "systemic lupus erythematosus",
    "mixed-connective-tissue-disease": "mixed connective tissue disease",
}
DM = ("dermatomyositis", "juvenile-dermatomyositis")
LOCAL = ("sodium-thiosulfate-topical", "sodium-thiosulfate-intralesional")


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

    def offer(self, treatment: str, stance: Stance, rank: int, why: str, *cites: str) -> None:
        """Offer an option; of several offers the most favourable stance wins, never over avoid."""
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

    def avoid(
        self, treatment: str, why: str, cites: list[Provenance], personal: bool = False
    ) -> None:
        """Avoid an option; ``personal``: because of this patient's own past response."""
        option = self.options.get(treatment)
        if option is None or option.stance != "avoid":
            self.options[treatment] = Option(
                treatment,
                "avoid",
                90,
                [why],
                list(cites),
                option.warnings if option else [],
                personal,
            )
        elif why not in option.rationale:
            option.rationale.append(why)
            option.cites.extend(cites)
            option.personal = option.personal and personal


@lru_cache(maxsize=4096)
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
            b.assumptions.append(
                "Underlying disease not given: the algorithm for autoimmune connective tissue "
                "disease is used, without disease-specific options. Dystrophic calcinosis "
                "most often occurs with autoimmune connective tissue disease (particularly "
                "systemic sclerosis and dermatomyositis): look for one."
            )
        return None
    cites = ["management-topic-two-questions", "management-topic-treat-underlying-disease"]
    why = f"Suppress the activity of the {disease}: disease-related tissue injury is thought to "
    why += "contribute to calcification."
    if p.underlying_disease in DM:
        why += (
            " An AI-generated answer (not peer-reviewed) names methotrexate, mycophenolate "
            "mofetil or rituximab for DM."
        )
        cites.append("ai-answer-treat-dm-aggressively")
    if p.underlying_disease == "juvenile-dermatomyositis":
        why += " Consensus recommendations for juvenile DM suggest intensifying immunosuppression."
        cites.append("review-discussion-no-guidelines-jdm-consensus")
    if p.disease_active is True:
        b.offer(
            "treat-underlying-disease",
            "first-line",
            0,
            f"The {disease} is not adequately controlled: treat it first. {why}",
            *cites,
        )
        return f"{disease} not adequately controlled: treat it first"
    if p.disease_active is None:
        b.assumptions.append(
            f"Activity of the {disease} not given: check that it is adequately treated."
        )
        b.offer(
            "treat-underlying-disease",
            "adjunct",
            1,
            f"Check that the {disease} is adequately treated. {why}",
            *cites,
        )
        return f"{disease}: activity unknown, check its treatment"
    return None


def decide_whether_to_treat(b: Builder) -> str | None:
    """Question 2: do the signs and symptoms warrant treatment?"""
    p = b.patient
    answers = (p.symptomatic, p.progressive, p.internal_involvement, p.patient_concerned)
    if all(answer is False for answer in answers):
        b.treat = False
        b.offer(
            "observation",
            "first-line",
            5,
            "Asymptomatic, non-progressive, without internal involvement and of minimal "
            "concern to the patient: clinical follow-up without intervention is a reasonable "
            "option.",
            "management-topic-whom-to-treat",
        )
        return "no sign warrants treatment: observation"
    if any(answer is True for answer in answers):
        return "treatment warranted (symptomatic, progressive, internal involvement or concern)"
    b.assumptions.append(
        "Symptoms, progression, internal involvement and the patient's concern not given: "
        "treatment is assumed to be wanted; if none applies, observation is reasonable."
    )
    b.offer(
        "observation",
        "alternative",
        50,
        "If the calcinosis is asymptomatic, non-progressive, without internal involvement "
        "and of minimal concern, clinical follow-up without intervention is reasonable.",
        "management-topic-whom-to-treat",
    )
    return "treatment assumed wanted (nothing stated)"


def offer_local_therapy(b: Builder) -> str | None:
    """Topical or intralesional sodium thiosulfate first (Grade 2C), by lesion size."""
    p = b.patient
    if not p.local_therapy_accessible:
        if b.treat:
            b.warnings.append(
                "Local sodium thiosulfate is not offered: it cannot be accessed for this "
                "patient, so systemic therapy comes first."
            )
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
    why = (
        "Suggested as initial treatment rather than systemic therapy (Grade 2C), for its "
        "limited evidence of efficacy and relative safety."
    )
    if not b.treat:
        why = "If treatment becomes wanted: " + why
    if widespread:
        why += " The lesions are widespread, which may make local therapy impractical."
    topical_rank, intralesional_rank = (10, 11) if size is not None and size < 0.2 else (11, 10)
    b.offer(
        "sodium-thiosulfate-topical",
        stance,
        topical_rank,
        why + " Topical therapy may be most beneficial for very small lesions "
        "(all 53 lesions under 0.2 cm resolved in one series).",
        "management-topic-initial-sts-2c",
        "management-topic-topical-sts-53-lesions",
    )
    b.offer(
        "sodium-thiosulfate-intralesional",
        stance,
        intralesional_rank,
        why + " Intralesional injection resolved 13 of 13 lesions of 2 cm or less in one "
        "series, none of 3 larger ones.",
        "management-topic-initial-sts-2c",
        "management-topic-intralesional-13-of-13-lesions",
    )
    if large:
        for treatment in LOCAL:
            b.options[treatment].warnings.append(
                f"Largest lesion {size:g} cm: lesions over 2 cm responded poorly to local "
                "therapy (intralesional: none of 3; topical: lower resolution rates)."
            )
    if (
        b.treat
        and p.lesions.distribution is None
        and p.lesions.count is not None
        and p.lesions.count > 1
    ):
        b.assumptions.append(
            f"{p.lesions.count} lesions, distribution not given: local therapy is taken as "
            "practical. If their number or extent makes it impractical, systemic therapy "
            "comes first (the sources give no number of lesions for this)."
        )
    if size is None and b.treat:
        b.assumptions.append(
            "Lesion size not given: topical and intralesional sodium thiosulfate both offered "
            "(topical suits very small lesions, intralesional lesions up to about 2 cm)."
        )
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
    raynaud_ssc = p.underlying_disease == "systemic-sclerosis" or p.raynaud is True
    order = (
        ["colchicine", "minocycline", "diltiazem"]
        if inflamed
        else ["diltiazem", "colchicine", "minocycline"]
    )
    base = (
        "A systemic option for lesions whose number or extent makes local therapy "
        "impractical, or when local therapy fails or cannot be accessed."
    )
    reasons = {
        "diltiazem": (
            "Diltiazem is a common systemic treatment; the review suggests discussing it "
            "in SSc and in DM with Raynaud's phenomenon (grade C).",
            ["management-topic-systemic-alternatives", "management-topic-diltiazem-common"],
        ),
        "colchicine": (
            "Colchicine is preferred over diltiazem here: inflammation or ulceration is prominent."
            if inflamed
            else "The management topic prefers colchicine over diltiazem when inflammation or "
            "ulceration is prominent, which is not said of this patient.",
            [
                "management-topic-systemic-alternatives",
                "management-topic-colchicine-minocycline-inflammation",
            ],
        ),
        "minocycline": (
            "Minocycline is preferred over diltiazem here: inflammation or ulceration is prominent."
            if inflamed
            else "The management topic prefers minocycline over diltiazem when inflammation or "
            "ulceration is prominent, which is not said of this patient.",
            [
                "management-topic-systemic-alternatives",
                "management-topic-colchicine-minocycline-inflammation",
            ],
        ),
    }
    if p.underlying_disease in AUTOIMMUNE:
        reasons["diltiazem"] = (
            reasons["diltiazem"][0] + " It has appeared to be of benefit in dystrophic "
            f"calcinosis with {AUTOIMMUNE[p.underlying_disease]} (case reports and series).",
            [*reasons["diltiazem"][1], "management-topic-diltiazem-benefit-diseases"],
        )
    if raynaud_ssc and not inflamed:
        reasons["diltiazem"] = (
            reasons["diltiazem"][0] + " Calcium channel blockers are recommended for Raynaud's "
            "phenomenon in SSc and may prevent calcinosis; diltiazem may be considered for digital "
            "calcinosis in SSc.",
            [
                *reasons["diltiazem"][1],
                "review-discussion-ccb-ssc",
                "review-discussion-diltiazem-digital-ssc",
            ],
        )
    for rank, treatment in enumerate(order, start=20):
        why, cites = reasons[treatment]
        # "Colchicine or minocycline is generally preferred over diltiazem for patients
        # presenting with prominent inflammation or ulceration": diltiazem comes after.
        own: Stance = "alternative" if inflamed and treatment == "diltiazem" else stance
        b.offer(treatment, own, rank, f"{base} {why}", *cites)
    failed = {x.treatment for x in p.prior_treatments if x.response in ("none", "intolerant")}
    still = [t for t in order if t not in failed]
    if p.inflammation is None and p.ulceration is None and "diltiazem" in still and len(still) > 1:
        b.assumptions.append(
            "Inflammation and ulceration not given: diltiazem is ordered before colchicine and "
            "minocycline (these are preferred when inflammation or ulceration is prominent)."
        )
    return f"systemic therapy: {stance}" + (" (inflammation/ulceration first)" if inflamed else "")


def offer_surgery(b: Builder) -> str | None:
    """Surgery and physical therapies for discrete, symptomatic lesions."""
    p = b.patient
    if not b.treat or p.lesions.distribution == "widespread" or p.symptomatic is False:
        return None
    large = p.lesions.largest_cm is not None and p.lesions.largest_cm > 2
    stance: Stance = "first-line" if large and p.symptomatic is True else "alternative"
    b.offer(
        "surgical-excision",
        stance,
        30,
        "Surgical removal is a primary or adjunctive option for discrete, symptomatic areas; "
        "the review reports response rates over 80% in DM and SSc.",
        "management-topic-role-of-surgery",
        "review-discussion-surgery",
    )
    less = (
        "A less invasive procedure; the review lists it as an alternative to surgery, with "
        "weak evidence."
    )
    b.offer("co2-laser", "alternative", 32, less, "review-discussion-less-invasive")
    b.offer("eswt", "alternative", 33, less, "review-discussion-less-invasive")
    if p.lesions.digital is True:
        b.offer(
            "microdrilling",
            "alternative",
            31,
            "Microdrilling improved 12 of 15 digits with calcinosis (Fahmy 1998).",
            "review-discussion-surgery",
        )
    if p.symptomatic is None:
        b.assumptions.append(
            "Symptoms not given: surgery is offered for discrete lesions "
            "on the assumption that they are symptomatic."
        )
    return f"surgery for discrete lesions: {stance}"


def offer_disease_specific(b: Builder) -> str | None:
    """Options Table 4 names for DM and SSc (level IV, grade C)."""
    p = b.patient
    if not b.treat or p.underlying_disease not in (*DM, "systemic-sclerosis"):
        return None
    offered = ["rituximab"]
    b.offer(
        "rituximab",
        "alternative",
        40,
        "May be discussed in DM and SSc: most studies showed at least a partial response.",
        "review-discussion-rituximab",
        "review-table4-rituximab",
    )
    if p.underlying_disease in DM:
        for rank, (treatment, why, cite) in enumerate(
            (
                (
                    "pamidronate",
                    "Bisphosphonates remain an option mostly in DM; no specific regimen "
                    "can be recommended.",
                    "review-discussion-bisphosphonates",
                ),
                (
                    "alendronate",
                    "Bisphosphonates remain an option mostly in DM; no specific regimen "
                    "can be recommended.",
                    "review-discussion-bisphosphonates",
                ),
                ("ivig", "May be discussed in DM patients.", "review-table4-ivig"),
                (
                    "infliximab",
                    "TNF inhibitors, particularly infliximab, may help in juvenile DM.",
                    "review-discussion-tnf-juvenile-dm",
                ),
                ("abatacept", "May be discussed in DM patients.", "review-table4-abatacept"),
            ),
            start=41,
        ):
            b.offer(treatment, "alternative", rank, why, cite)
            offered.append(treatment)
    refractory = any(prior.response == "none" for prior in p.prior_treatments)
    if p.underlying_disease == "juvenile-dermatomyositis" and (p.disease_active or refractory):
        b.offer(
            "cyclophosphamide",
            "alternative",
            46,
            "Used for severe or refractory juvenile DM: 9 of 14 complete responses in one study.",
            "review-results-cyclophosphamide",
            "review-table4-cyclophosphamide",
        )
        offered.append("cyclophosphamide")
    return "disease-specific options: " + ", ".join(offered)


def show_source_disagreement(b: Builder) -> str | None:
    """Where the sources disagree about order, follow the most recent graded source.

    The AI answer is about dermatomyositis: its disagreement is shown for DM only."""
    if not any(t in b.options for t in LOCAL) or b.patient.underlying_disease not in DM:
        return None
    b.disagreements.append(
        SourceDisagreement(
            summary="An AI-generated answer on dermatomyositis (not peer-reviewed) puts "
            "diltiazem and bisphosphonates first; the management topic (the most recent "
            "graded source) suggests local sodium thiosulfate first (Grade 2C). This plan "
            "follows the management topic.",
            followed="management-topic",
            cites=b.cite(
                "ai-answer-first-line-ccb-bisphosphonates", "management-topic-initial-sts-2c"
            ),
        )
    )
    return "AI answer vs management topic on first-line: management topic followed"


# ----------------------------------------------------------- other subtypes
def treat_metabolic_cause(b: Builder) -> str | None:
    """Metastatic: correct the calcium-phosphate product; treat the cause."""
    why = (
        "Metastatic calcinosis results from a defect of calcium or phosphorus metabolism, most "
        "often chronic renal failure: treatment corrects the calcium-phosphate product and the "
        "underlying defect. The sources recommend no calcinosis-directed drug for it (the "
        "drugs studied for dystrophic calcinosis are not offered here). The topic refers "
        "to the management of mineral and bone disorders in chronic kidney disease (in "
        "adults, and in children), reviewed separately."
    )
    b.offer(
        "correct-calcium-phosphate",
        "first-line",
        0,
        why,
        "management-topic-metastatic",
        "management-topic-metastatic-summary",
    )
    return "correct the calcium-phosphate product"


def plan_idiopathic(b: Builder) -> str | None:
    """Idiopathic: no treatment if asymptomatic and unbothered; excision if wanted."""
    p = b.patient
    wants = p.symptomatic is True or p.patient_concerned is True
    excision: Stance = "first-line" if wants else "alternative"
    watch: Stance = "alternative" if wants else "first-line"
    b.offer(
        "observation",
        watch,
        5,
        ("If the lesions stop troubling the patient: " if wants else "")
        + "Treatment is not necessary in asymptomatic patients who are not bothered by the "
        "condition. Of one form the topic adds that subepidermal calcified nodules often "
        "resolve spontaneously, when the nodule ulcerates and eliminates its calcium "
        "through the skin.",
        "management-topic-idiopathic",
    )
    b.offer(
        "surgical-excision",
        excision,
        10,
        "If treatment is desired, surgical excision is the treatment of choice.",
        "management-topic-idiopathic",
    )
    if p.symptomatic is None and p.patient_concerned is None:
        b.assumptions.append(
            "Symptoms and concern not given: observation comes first, "
            "excision if treatment is desired."
        )
    return f"excision {excision}, observation {watch}"


def plan_iatrogenic(b: Builder) -> str | None:
    """Iatrogenic: observe (resolution within about six months); topical STS if symptomatic."""
    symptomatic = b.patient.symptomatic is True
    b.offer(
        "observation",
        "alternative" if symptomatic else "first-line",
        5,
        (
            "These lesions are symptomatic; observation is the approach for asymptomatic ones: "
            if symptomatic
            else ""
        )
        + "Observation is a reasonable initial approach for asymptomatic lesions: they may "
        "resolve spontaneously within six months.",
        "management-topic-iatrogenic-observation",
    )
    b.offer(
        "sodium-thiosulfate-topical",
        "first-line" if symptomatic else "alternative",
        10,
        "Treatments for dystrophic calcinosis may be attempted for symptomatic lesions, but "
        "data confirming their efficacy in iatrogenic calcinosis are lacking; topical sodium "
        "thiosulfate has been suggested from case reports (resolution within four to six "
        "months with 10 or 25%).",
        "management-topic-iatrogenic-symptomatic",
    )
    size = b.patient.lesions.largest_cm
    if size is not None and size > 2:
        b.options["sodium-thiosulfate-topical"].warnings.append(
            f"Largest lesion {size:g} cm: in a series of 80 lesions, topical therapy resolved "
            "all lesions under 0.2 cm and fewer of the larger ones."
        )
    if b.patient.symptomatic is None:
        b.assumptions.append(
            "Symptoms not given: observation first, topical sodium thiosulfate "
            "if the lesions are symptomatic."
        )
    return "topical STS first" if symptomatic else "observation first"


def plan_calciphylaxis(b: Builder) -> str | None:
    """Calciphylaxis: urgent, multi-interventional care."""
    b.critical = True
    b.warnings.append(
        "Calciphylaxis is a life-threatening calcific vasculopathy; many patients die within "
        "months, often of sepsis from infected ulcers. Refer urgently for multi-interventional "
        "care."
    )
    b.offer(
        "calciphylaxis-care",
        "first-line",
        0,
        "Wound care, pain control, prompt treatment of infection, correction of plasma calcium "
        "and phosphorus, avoidance of local tissue trauma, and other interventions.",
        "management-topic-calciphylaxis",
        "management-topic-calciphylaxis-prognosis",
    )
    b.offer(
        "correct-calcium-phosphate",
        "first-line",
        1,
        "Part of calciphylaxis care: correction of abnormalities in plasma calcium and "
        "phosphorus concentrations.",
        "management-topic-calciphylaxis",
    )
    return "critical: calciphylaxis care, urgent referral"


# ------------------------------------------------------------- every path
def apply_prior_responses(b: Builder) -> str | None:
    """A treatment that failed is demoted; one that was not tolerated is avoided."""
    notes = []
    for prior in b.patient.prior_treatments:
        name = b.kb.treatments[prior.treatment].name
        if prior.response == "intolerant":
            # Safer than a demotion: do not offer again what the patient did not tolerate.
            b.avoid(
                prior.treatment,
                f"{name} was not tolerated before.",
                b.cite("management-topic-treatment-selection"),
                personal=True,
            )
            notes.append(f"{prior.treatment} avoided (intolerant)")
        elif prior.response == "none":
            # Not offered again: a treatment that did not work for this patient is listed
            # with the reason, among what not to use (it stays visible, never offered).
            b.avoid(
                prior.treatment,
                f"{name} did not work for this patient before (no response): not offered again.",
                b.cite("management-topic-treatment-selection"),
                personal=True,
            )
            notes.append(f"{prior.treatment} not offered again (no response)")
            inflamed = b.patient.inflammation is True or b.patient.ulceration is True
            if prior.treatment in LOCAL:
                for treatment in ("diltiazem", "colchicine", "minocycline"):
                    if inflamed and treatment == "diltiazem":
                        continue  # colchicine or minocycline preferred
                    if treatment in b.options and b.options[treatment].stance == "alternative":
                        b.options[treatment].stance = "first-line"
                        b.options[treatment].rationale.append(
                            "Local therapy failed before, so systemic therapy comes first."
                        )
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
                            f"{name} did not work before: local therapy has failed, so "
                            "systemic therapy comes first and this is an alternative."
                        )
        elif prior.treatment in b.options and b.options[prior.treatment].stance != "avoid":
            option = b.options[prior.treatment]
            if option.stance in ("alternative", "adjunct") and option.id not in MANAGEMENT:
                option.stance = "first-line"
                option.rationale.append(
                    f"It worked before for this patient ({prior.response} response): first-line "
                    "to continue or resume."
                )
            option.rank -= 30  # a treatment that worked comes first among its peers
            notes.append(f"{prior.treatment}: {prior.response} response, kept first")
            systemic = (
                b.kb.treatments[prior.treatment].kind == "drug" and prior.treatment not in LOCAL
            )
            b.options[prior.treatment].warnings.append(
                f"{prior.response.capitalize()} response when tried before"
                + (
                    "; patients who respond to systemic therapy are often maintained on it "
                    "for months to years."
                    if systemic
                    else "."
                )
            )
    return "; ".join(notes) or None


# Options that are not a treatment of the calcinosis itself.
MANAGEMENT = ("observation", "treat-underlying-disease")
# The management topic's algorithm for dystrophic calcinosis: local STS, then these three.
USUAL = (*LOCAL, "diltiazem", "colchicine", "minocycline")
# The management topic's "Other drug therapies" for dystrophic calcinosis (limited or
# conflicting efficacy data), offered only once the usual options are exhausted.
OTHER_DRUG_THERAPIES = "management-topic-other-drug-therapies"


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
    statement = b.kb.statement(OTHER_DRUG_THERAPIES)
    offered = []
    for rank, treatment in enumerate(statement.treatments, start=60):
        if treatment in failed or treatment in b.options or findings_for_avoid(b, treatment):
            continue
        b.offer(
            treatment,
            "alternative",
            rank,
            "The usual options are exhausted for this patient. The management topic lists "
            "it among other drug therapies used for dystrophic calcinosis, with limited or "
            "conflicting efficacy data.",
            OTHER_DRUG_THERAPIES,
        )
        offered.append(treatment)
    if "surgical-excision" not in failed and "surgical-excision" not in b.options:
        b.offer(
            "surgical-excision",
            "alternative",
            59,
            "The usual options are exhausted: surgical removal remains an option for "
            "discrete, symptomatic areas of calcinosis.",
            "management-topic-role-of-surgery",
        )
        offered.append("surgical-excision")
    b.warnings.append(
        "The usual options (local sodium thiosulfate, diltiazem, colchicine, minocycline) "
        "have failed, were not tolerated or are ruled out for this patient. What remains "
        "rests on limited or conflicting evidence (case series, level 4 at best); the "
        "sources rank none of it first."
    )
    return "usual options exhausted: " + (", ".join(offered) or "nothing further")


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
            extra = (
                " (the review's only words on the lungs: TNF inhibitors and pulmonary "
                "fibrosis in systemic sclerosis, and rituximab's favourable outcomes on SSc "
                "lung function)"
            )
        if condition in UNADDRESSED_FOR_DRUGS:
            done = (
                "The plan warns on every drug option"
                + (" and ranks no systemic drug first-line" if condition == "pregnancy" else "")
                + f": check each option's safety in {words} elsewhere."
            )
        elif condition == "interstitial-lung-disease":
            done = (
                "The plan's only rule that touches the lungs is the TNF-inhibitor caution in "
                f"systemic sclerosis: check each option's safety in {words} elsewhere."
            )
        else:
            done = (
                "The plan does not account for it: check each option's safety in "
                f"{words} elsewhere."
            )
        b.silences.append(
            f"The sources are silent on {words}: none addresses it in choosing a treatment "
            f"for calcinosis cutis{extra}. {done}"
        )
        noted.append(condition)
    for other in p.other_conditions:
        words = other.replace("-", " ")
        b.silences.append(
            f"Not known to this tool: {words}. No source addresses it in choosing a treatment "
            f"for calcinosis cutis, and no rule of this plan reads it: check each option's "
            f"safety in {words} elsewhere."
        )
        noted.append(other)
    if p.subtype == "dystrophic" and p.underlying_disease in ("other", "none"):
        b.silences.append(
            "The sources' treatment evidence for dystrophic calcinosis is about autoimmune "
            "connective tissue disease (mostly systemic sclerosis and dermatomyositis); none "
            "addresses dystrophic calcinosis from another cause (trauma, a scar, "
            "panniculitis...), so every option here is extrapolated from it."
        )
        noted.append("dystrophic calcinosis without autoimmune disease")
    kidney = {"chronic-kidney-disease", "end-stage-kidney-disease"} & set(p.conditions)
    if kidney and p.subtype in ("dystrophic", "idiopathic", "iatrogenic"):
        b.warnings.append(
            "Kidney disease: chronic renal failure is the most common cause of metastatic "
            "calcinosis cutis, and calciphylaxis usually occurs with end-stage kidney "
            "disease. Check the calcium-phosphate product and confirm the subtype before "
            "following this plan."
        )
        b.silences.append(
            "No source gives the doses or the safety of the options in this plan in kidney disease."
        )
        noted.append("kidney disease")
    if p.age_years < 1 and p.subtype != "iatrogenic":
        b.silences.append(
            "No source reports treatment of calcinosis cutis in infants for this subtype."
        )
    return ", ".join(noted) or None


_SOURCE_WORDS = {
    "traineau-2020": "the review",
    "traineau-2020-abstract": "the review's abstract",
    "management-topic": "the management topic",
    "nowaczyk-2021": "the local-therapies review",
    "ai-answer-dm": "the AI-generated answer",
}


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
            where = "; ".join(
                f"{_SOURCE_WORDS.get(x.source, x.source)}, {x.location}" for x in ordered
            )
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
    return ", ".join(dict.fromkeys(shown)) or None


def enforce_safety(b: Builder) -> str | None:
    """Contraindications (avoid) and cautions (never first-line), on every option."""
    p = b.patient
    candidates = set(b.options) | set(p.medications) | {x.treatment for x in p.prior_treatments}
    if p.subtype == "dystrophic":  # show what to avoid, even if nothing offered it
        candidates |= set(b.kb.treatments)
    fired = []
    for treatment in sorted(candidates):
        for finding in findings_for(b.kb, p, treatment):
            rule = finding.rule
            if rule.stance == "avoid":
                b.avoid(treatment, rule.text, [rule.provenance])
                fired.append(f"{treatment}: avoid ({rule.rule})")
            elif treatment in b.options:
                option = b.options[treatment]
                if option.stance == "first-line":
                    option.stance = "alternative"
                    option.warnings.append("Never first-line for this patient: " + rule.text)
                else:
                    option.warnings.append(rule.text)
                option.cites.append(rule.provenance)
                fired.append(f"{treatment}: caution ({rule.rule})")
    return "; ".join(fired) or None


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
        return (
            f"Current medication: {name}. This finding is about this patient, whatever it "
            f"is prescribed for: {rule.text.rstrip('.')}. Review it with its prescriber now."
        )
    prior = b.patient.prior(treatment)
    if not findings and prior is not None and prior.response == "intolerant":
        return (
            f"Current medication: {name}, recorded as not tolerated before: check why it is "
            "being taken, with its prescriber."
        )
    reason = findings[0].reason if findings else "harm"
    extra = " ".join(rule.text for rule in findings[1:])
    if reason == "ineffective" and b.patient.subtype in ("calciphylaxis", "metastatic"):
        return (
            f"Current medication: {name}. This finding is about treating calcinosis: "
            f"{name.lower()} does not treat calcinosis cutis (see Avoid, not effective). "
            f"{extra} In {b.patient.subtype} calcinosis, review it with its prescriber."
        ).replace("  ", " ")
    if reason == "ineffective":
        return (
            f"Current medication: {name}. This finding is about treating calcinosis only: "
            f"{name.lower()} does not treat calcinosis cutis (the sources advise against "
            f"using it for calcinosis; see Avoid, not effective). {extra} If it is prescribed "
            "for another reason, keep it on this account and ask its prescriber."
        ).replace("  ", " ")
    return (
        f"Current medication: {name}. This plan says to avoid it for calcinosis cutis "
        "(see Avoid). Any other indication is for its prescriber to weigh."
    )


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
        b.warnings.append(
            "No option is first-line for this patient: the usual ones are ruled out or "
            "cautioned against. Choose among the alternatives with the patient."
        )
        return "no first-line option"
    chosen = candidates[0]
    chosen.stance = "first-line"
    chosen.rationale.append(
        "Promoted to first-line: the options the sources prefer for this patient are ruled "
        "out or were not tolerated."
    )
    return f"{chosen.id} promoted to first-line"


def note_current_medications(b: Builder) -> str | None:
    """A patient already taking an option, or something to avoid, is told so."""
    notes = []
    for treatment in b.patient.medications:
        option = b.options.get(treatment)
        if option is not None and option.stance == "avoid":
            b.warnings.append(_medication_warning(b, treatment))
            notes.append(f"{treatment}: taking an avoided treatment")
        elif option is not None:
            option.warnings.append("Already taking it.")
            notes.append(f"{treatment}: already taking")
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
                b.avoid(
                    option.id,
                    f"No source addresses {entry.name.lower()} in pregnancy. The management "
                    f"topic bars it in children under {rule.rule.rsplit('-', 1)[1]} because "
                    "of permanent tooth discoloration; this tool takes the safer reading and "
                    "does not offer it in pregnancy (its own reading, not a source's).",
                    [rule.provenance],
                )
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
                f"No source addresses {entry.name.lower()} with {words} (the sources' only "
                "rule on it is for diltiazem): check its safety there before using it."
            )
            warned.append(option.id)
    return warned


def qualify_drugs_where_sources_are_silent(b: Builder) -> str | None:
    """Pregnancy, breastfeeding, kidney disease: no source gives the safety or the dose of
    any drug here. Each drug option carries that warning; in pregnancy a systemic drug
    that would be first-line becomes an alternative, so that none is offered first
    unchecked. Heart failure and conduction abnormalities are read for diltiazem only:
    the other systemic drugs say so."""
    p = b.patient
    heart = _warn_where_only_one_drug_is_read(b)
    said = [UNADDRESSED_FOR_DRUGS[c] for c in p.conditions if c in UNADDRESSED_FOR_DRUGS]
    if not said:
        return f"heart: {', '.join(heart)} warned" if heart else None
    words = " or ".join(dict.fromkeys(said))
    check = "its safety and its dose" if any("kidney" in w for w in said) else "its safety"
    withheld = " or ".join(c for c in p.conditions if c in _NOT_FIRST_LINE_IN)
    demoted = []
    if "pregnancy" in p.conditions:
        _withhold_in_pregnancy(b)
    for option in b.options.values():
        entry = b.kb.treatments.get(option.id)
        if entry is None or entry.kind != "drug" or option.stance == "avoid":
            continue
        option.warnings.append(
            f"No source addresses {entry.name.lower()} in {words}: check {check} in {words} "
            "before using it."
        )
        if withheld and option.stance == "first-line" and entry.route not in _LOCAL_ROUTES:
            option.stance = "alternative"
            option.rationale.append(
                f"Not ranked first-line here: no source addresses its use in {withheld}."
            )
            demoted.append(option.id)
    if demoted:
        b.warnings.append(
            f"No systemic drug is ranked first-line for this patient: the sources do not "
            f"address the safety of any of them in {withheld}, and this tool takes the safer "
            "reading. Choose with the patient, with a source that covers it (the drugs' "
            "labels, a specialist)."
        )
    return f"{words}: " + (", ".join(demoted) + " not first-line" if demoted else "warned")


def ensure_an_offer(b: Builder) -> str | None:
    """Every plan offers at least one step, even when everything else is ruled out."""
    if any(option.stance != "avoid" for option in b.options.values()):
        return None
    b.offer(
        "observation",
        "adjunct",
        99,
        "No treatment option remains for this profile: follow the patient up and reassess, "
        "and weigh the options marked avoid only if their reason no longer applies.",
        "management-topic-treatment-selection",
    )
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


@cache
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
