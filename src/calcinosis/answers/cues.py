"""What a question asks, as data: the cues of its intent, of a yes/no proposition, and
of the roles the treatments it names play (tried before, taken now, not available).

Read by ``understand.py`` only. Patterns are regular expressions matched against the
normalised question (lower case, words separated by single spaces, padded with a
space); the first intent of :data:`INTENT_CUES` with a matching cue wins.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ALSO_INTENTS",
    "BEST_EVIDENCE",
    "INTENTS",
    "INTENT_CUES",
    "MEDICATION_CUES",
    "NEGATIONS",
    "PATIENT_CUES",
    "PREDICATE_CUES",
    "PRIOR_AFTER",
    "PRIOR_BEFORE",
    "PRIOR_LIST_AFTER",
    "SOURCE_CUES",
    "UNAVAILABLE_AFTER",
    "UNAVAILABLE_AROUND",
    "UNAVAILABLE_BEFORE",
    "WEAK_FIRST_LINE",
    "WHEN_CUES",
    "YES_NO_END",
    "YES_NO_START",
    "Intent",
    "Predicate",
]

Intent = Literal[
    "efficacy",
    "dose",
    "adverse-effects",
    "contraindication",  # contraindication or safety
    "level-or-grade",
    "comparison",
    "time-to-response",
    "relapse",
    "epidemiology",
    "mechanism",
    "what-not-to-use",
    "first-line",
    "study-size",
    "overview",  # subtypes, definitions, the evidence as a whole
    "patient-specific",
    "unknown",
]

INTENTS: tuple[Intent, ...] = get_args(Intent)

# What is asked, in order of precedence: the first intent with a matching cue wins
# ("How many patients were in the warfarin trial?" is a study-size question even
# though it names a treatment; "how long does it take to work" is about time).
INTENT_CUES: tuple[tuple[Intent, tuple[str, ...]], ...] = (
    (
        "study-size",
        (
            # not "how many patients got better": that is a response rate
            r" how many (patients|people|subjects|participants|children|adults|cases|studies"
            r"|trials|individuals|lesions|digits|women|men)\b(?! (develop|get|have|got|improv"
            r"|respond|resolv|clear|heal|benefit|did well|were cured|went into|had (a |any )?"
            r"(response|improvement|resolution|benefit)|saw|showed|achiev))",
            r" number of (patients|studies|participants|subjects)",
            r" sample size",
            r" how (large|big) (was|were|is) ",
            r" how many were ",
            r" (is there|are there|was there|were there|any) (an |a |any )?(rct|randomi[sz]ed"
            r"|controlled trial|trial|trials)",
        ),
    ),
    (
        "overview",
        (
            r" subtypes? ",
            r" (types|kinds|forms|categories) of calcinosis",
            r" (a )?(type|subtype|kind|form) of calcinosis",  # "is calciphylaxis a type of ...?"
            r" what (is|are) (calcinosis|calciphylaxis|dystrophic|metastatic|idiopathic"
            r"|iatrogenic|tumoral)",
            r" defin(e|ition) ",
            r" overview ",
            r" prognosis",
            r" (left )?untreated",
            r" curable ",
            r" cured ",
            r" (a |any )?cure (for|to)\b",
            # "is calcinosis cutis painful?", "what are the symptoms?"
            r"^ (is|are|can) (calcinosis|it|they|the lesions|the deposits)( cutis)? (be )?painful",
            r" symptoms of calcinosis",
            r" what (symptoms|problems) (does|do|can) (calcinosis|it)",
            r" curative",
            r" prevent(ed|ion|able)? ",
            r" risk factors? ",
            r" guidelines? ",
            r" eular ",
            r" consensus ",
            r" diagnos",
        ),
    ),
    (
        "what-not-to-use",
        (
            r" (which|what) (treatments?|drugs?|therapies|medications?|options?|agents?) .*"
            r"(avoid|not (be )?(used|use|recommended|given)|don t work|do not work"
            r"|ineffective|contraindicated|against)",
            r" (treatments?|drugs?|therapies) (to|that should be) avoid",
            r" what (not to|to avoid|should be avoided)",
            # "what should I avoid in a JDM child?", "anything to avoid?"
            r" (what|which|anything) (should|must|do|would|to) ((i|we|you|one) )?(avoid|not (use"
            r"|give|prescribe))\b",
            r" anything (i|we) should (avoid|not (use|give))",
            r" (should not|shouldn t|must not) be (used|given|prescribed) ",
            r" (not|never) (be )?(given|used|prescribed) (to|in|for) ",
            r" not recommended ",
            r" don t work | do not work | ineffective ",
        ),
    ),
    (
        "time-to-response",
        (
            r" how (long|soon|quickly|fast) ",
            r" when (will|should|does|do|can|would) .*(work|improve|respond|see|expect|resolve"
            r"|effect|response|better)",
            r" time to (response|improvement|resolution|effect|work)",
            r" onset of (action|response|effect)",
            r" how many (\S+ ){0,3}(months|weeks|days|treatments|sessions|injections"
            r"|applications|procedures|courses|shots|rounds)",
            r" before (i|we|you|one|they|she|he) (should |would |will |can |might )?(see|notice"
            r"|expect|get)",
        ),
    ),
    (
        "relapse",
        (
            r" relaps",
            r" recur",
            r" come(s)? back",
            r" coming back",
            r" return(s)? after",
            r" reappear",
        ),
    ),
    (
        "adverse-effects",
        (
            r" side effects? ",
            r" adverse ",
            r" toxicit",
            r" complications? ",
            r" risks? (of|with|from) ",
            r" scarring ",
            r" (leave|leaves|left|cause|causes|caused|risk of) (a |any )?scars? ",
            r" tolerab",
            r" tolerance ",
            r" what harm",
            # "does IL STS hurt?", "are the injections painful?" (not "a painful nodule")
            r" (does|do|will|would|is|are) (it|they|this|that|the \S+|\S+( \S+)?( \S+)?) (hurt"
            r"|sting|burn|painful)\b",
            r" (injections?|procedures?|treatments?|applications?) (hurt|sting|burn|painful|are "
            r"painful|is painful)\b",
        ),
    ),
    (
        "epidemiology",
        (
            r" how (common|frequent|often) (is|are|does|do) (calcinosis|calciphylaxis|it)\b",
            r" prevalen",
            r" inciden",
            r" (what|which) (percentage|proportion|fraction|share) of ",
            r" risk of (developing|getting) ",
            r" (how many|what percentage|how often) .*(develop|get|have)s? calcinosis",
            r" (most common|most frequent) (form|type|subtype|cause|disease)",
            r" who gets ",
            r" (associated|occur|occurs) (with|in) (which|what) ",
            # "is calcinosis cutis common in children with DM?", "how likely is it in SSc?"
            r"^ (is|are) (calcinosis|calciphylaxis|it|this)( cutis)? (\S+ )?(common|frequent"
            r"|rare|unusual|likely)\b",
            r" (how|what) (likely|often) (is|do|does) (\S+ ){0,3}(get|develop|have)\b",
        ),
    ),
    (
        "mechanism",
        (
            r" how (does|do|would|might) \S+( \S+){0,3} work ",
            r" mechanism",
            r" mode of action",
            r" why (does|do|would|is|are|might) ",
            r" pathophysiolog",
            r" pathogenesis",
            r" what causes ",
            r"(?<!managed)(?<!treated)(?<!handled) (the )?same (thing )?as ",
            r" difference between ",
            r" different from ",
            r" caused by ",
            r" (promot|caus|worsen|induc|aggravat|accelerat|trigger)\w* (ectopic |more |the "
            r"|further |vascular )?(calcification|calcinosis|calcium deposit)",
            r" make\w* (the |my |her |his )?(calcification|calcinosis|calcium deposits?|it)"
            r" worse",
        ),
    ),
    (
        "contraindication",
        (
            r" safe ",
            r" safely ",
            r" safety ",
            r" contraindicat",
            r" caution",
            r" heart block ",
            r" av block ",
            r" conduction ",
            r" allowed ",
            r" ok to ",
            r" okay to ",
            r" (can|could|may) (a|an|my|the|this|our) (\d+ )?(year|month) old",
            r" (can|could|may) (a |an |my |the |this )?(child|children|kid|kids|baby|infant"
            r"|toddler|teenager|boy|girl) ",
            r" in (a |an )?(pregnan\w*|heart block)",
            r" pregnan",
            r" breastfeed",
        ),
    ),
    (
        "level-or-grade",
        (
            r" levels? of evidence",
            r" evidence level",
            r" grade ",
            r" grades ",
            r" grading",
            r" graded ",
            r" strength of (the )?(evidence|recommendation)",
            r" quality of (the )?evidence",
            r" how (strong|good|solid|robust) is the evidence",
            r" oxford ",
            r" cebm ",
            r" level (i|ii|iii|iv|v|ia|ib|iia|iib|[1-5] ?[abc]?) ",
            r" graded? ([abcd]|[12] ?[abc]) ",
        ),
    ),
    (
        "comparison",
        (
            r" vs ",
            r" versus ",
            r" compar",
            r" better than ",
            r" (better|worse|more|less) \w+ than ",
            r" which is better",
            r" better ",  # "X or Y better?" (a comparison needs two treatments named)
            r" more effective than ",
            r" rather than ",
            r" as (well|good|effective) as ",
            r" compared (to|with) ",
            r" (superior|inferior) to ",
        ),
    ),
    (
        "dose",
        (
            r" dos(e|es|age|ing) ",
            r" how much ",
            r" regimens? ",
            r" mg ",
            # "how often do I apply it", not "how often do they clear" (a response rate)
            r" how often (should|do|to|is|are|can) (?!(\S+ ){0,3}(clear|resolve|respond|improve"
            r"|work|heal|go away|disappear|recur|relapse|come back))",
            r" how frequently ",
            r" how many times ",
            r" concentration",
            r" how (do i|to|should i|do you|do we|is it) (apply|give|prescribe|administer|use"
            r"|dose)",
            r" administ",
            r" schedule",
            r" prescrib",
            r" frequency of (application|injection|dosing)",
            # a procedure's "dose": its settings
            r" settings? ",
            r" parameters? ",
            r" how many (shocks|pulses|impulses|passes)",
            r" (what|which) (energy|intensity|power|wavelength|fluence|pressure)",
        ),
    ),
    (
        "first-line",
        (
            r" first[ -]?line ",
            r" first choice",
            # "what did the AI answer recommend first?"
            r" (recommend|suggest|advise|put|use|give|try)\w* first\b",
            r" (initial|first) (treatment|therapy|management|step|approach|option)",
            r" best ([\w-]+ ){0,2}(treatment|therapy|option|approach|drug|choice)",
            r" preferred (treatment|therapy|initial|option)",
            r" start with ",
            r" what (next|now|else)",
            r" now what",
            r" (any )?(thoughts|ideas|suggestions|advice|recs|recommendations) ",
            r" treat( it| them| this| these)? $",
            r" what to do",
            r" how to proceed",
            r" (add|adding) (something|anything|another|a second)",
            r" (keep going|continue|carry on) or (switch|stop|change)",
            r" (switch|change) (to|treatment|therapy|drugs?)",
            r" what can (be|i|we|you) (do|done)",
            r" next (step|option|line|treatment)",
            r" second[ -]line",
            # "failed X, what now?", not "after an extravasation, now painful"
            r" (failed|failing|after) .*( what | which | next (step|option|line|treatment|move)"
            r"| now what )",
            r" what (should|do|can|would) (i|we|you) (start|give|use|try|do|prescribe|offer"
            r"|suggest|recommend)",
            r" what (do|would) you (suggest|recommend|advise)",
            r" (which|what) (systemic )?(drug|treatment|therapy|medication|option) (for|should"
            r"|to|is best|would)",
            r" need\w* (any )?(treatment|to be treated|therapy|treating)",
            r" (be|get) treated ",
            r" how (do|should|would|can) (i|you|we) (treat|manage|approach)",
            r" how (is|are) .*(treated|managed)",
            r" (is|are) .*(treated|managed) (the same|differently|like)",
            r" treat(ment|ing)? (of|for) ",
            r" manag(e|ement|ing) ",
            r" algorithm",
            r" approach to ",
            r" options ",
            r" what (treatments?|therapies|drugs) (are|is|exist)",
            r" how to treat ",
            r" tx ",
            r" therapy for ",
        ),
    ),
    (
        "efficacy",
        (
            r" work",
            r" effective",
            r" efficacy",
            r" respon",
            r" how well ",
            r" success",
            r" improv",
            r" outcomes? ",
            r" evidence ",
            r" help",
            r" useful ",
            r" benefit",
            r" worth ",
            r" remission",
            r" results? ",
            r" resolv",
            r" dissolv",
        ),
    ),
)

# Intents a question can ask besides its primary one ("dose + side effects?",
# "results, complications, recurrence?"), each answered after it, in the order asked.
ALSO_INTENTS: dict[Intent, tuple[str, ...]] = {
    "efficacy": (
        r" results? ",
        r" efficacy",
        r" effective",
        r" response",
        r" success",
        r" how well ",
        r" (does|do|will|would) (it|they|this|that) work",
        r" (did|has|have) (it|they|this|that) (work|help)",
        # "does pamidronate work", not "how fast does it work" (a time to response)
        r"(?<! how fast)(?<! how quickly)(?<! how soon)(?<! how long)(?<! when)"
        r" (does|do|did|will|would) \S+ (work|help)\b",
        r" (did|do|does) (it|they) (respond|improve)",
        r" how many (\S+ ){0,2}(improved|responded|got better|benefited|resolved|cleared"
        r"|healed|did well|were cured)",
        r" how often (\S+ ){0,3}(clear|resolve|respond|improve|work|heal|go away|disappear)",
    ),
    "dose": (
        r" dos(e|es|age|ing) ",
        r" regimens? ",
        r" how much ",
        r" (what|which) (concentration|strength|percent\b|mg)",  # not "what percentage of"
        r" concentrations? ",
        r" conc\b",  # "what conc + interval"
        r" (dosing |injection |treatment )?intervals? ",
        r" how often (?!(\S+ ){0,3}(clear|resolve|respond|improve|work|heal|go away|disappear"
        r"|relaps|recur|come back|comes back))",
    ),
    "adverse-effects": (
        r" side effects? ",
        r" adverse ",
        r" complications? ",
        r" toxicit",
        r" (what are|what s|any) (the )?(risks|downsides|harms)",
    ),
    "relapse": (r" relaps", r" recur", r" come(s)? back"),
    "time-to-response": (
        r" how (long|soon|quickly) ",
        r" how many (\S+ ){0,3}(sessions|treatments|injections|shots|rounds) ",
    ),
    "level-or-grade": (r" levels? of evidence", r" grade ", r" strength of "),
    "mechanism": (r" how (does|do) (it|they|\S+) work", r" mechanism", r" mode of action"),
    # "IVIG next? anything else?": what else the plan offers, after the treatment asked
    "first-line": (
        r" anything else",
        r" what else",
        # "failed topical STS ... next step? is IL STS reasonable?": the plan, then the X
        r" next steps? ",
        r" what (next|now) ",
        r" (any )?other (options|treatments|therapies|drugs) ",
        r" (what|which|any) alternatives",
    ),
}

# First-line cues that, when a treatment is named, ask about that treatment's
# efficacy rather than for the first-line plan ("Treatment of calcinosis with X").
WEAK_FIRST_LINE: tuple[str, ...] = (
    r" treat(ment|ing)? (of|for) ",
    r" manag(e|ement|ing) ",
    r" options ",
    r" therapy for ",
    r" tx ",
    r" approach to ",
)

# A yes/no question: it starts with an auxiliary, or asks "does it ...?" after a dash.
# A yes/no question: a clause of it (split at , ; : ? ! and dashes) opens with an
# auxiliary, or asks whether something is worth it.
YES_NO_START = (
    r"^ (is|are|does|do|did|can|could|should|shall|will|would|may|might|has|have|was|were"
    r"|must|any good|worth|ok|okay|safe|reasonable|appropriate|advisable|a good idea)\b",
    r"^ (need|needs) (to|we|i|it|they|treatment|treating|therapy) ",  # "need to treat?"
    # "... high phos. start diltiazem for the calcinosis?": a clause asking leave to act
    r"^ (start|try|give(?! (me|us) )|use|add|begin|prescribe|switch to|go with|go ahead"
    r" with) \S+",  # not "give me the numbers"
    # "minocin ok for a 15 yo ...?", "cardizem safe in heart block?"
    r"^ \S+( \S+){0,2} (ok|okay|safe|fine|alright|reasonable|appropriate|allowed) (for|in|with"
    r"|at|to use|to give) ",
)

# ... or closes with the word asked about ("cardizem ok?", "minocycline safe here?")
YES_NO_END = (
    r" (ok|okay|safe|fine|alright|reasonable|appropriate|an option|allowed|recommended|advised"
    r"|indicated|worth it|worth trying|useful|effective)( here| now)? $",
    # "IL STS for a 3 cm nodule - likely to work?", "... going to help?"
    r"(^| )(likely|unlikely|going|expected) to (work|help|respond|resolve|clear)( here| now)? $",
)

Predicate = Literal[
    "resolves-alone",
    "promotes-calcification",
    "safe-with",
    "usable-at-age",
    "first-line",
    "avoided",
    "recommended",
    "causes",
    "effective",
    "needs-treatment",
    "size-matters",
    "complete-response",
    "preferred-over",
    "can-observe",
    "managed-like",
]

# What a yes/no question claims about its treatment, in order of precedence.
PREDICATE_CUES: tuple[tuple[Predicate, tuple[str, ...]], ...] = (
    (
        "resolves-alone",
        (
            r" (go|goes|going) away (on (its|their) own|by (itself|themselves)|spontaneously)",
            r" (resolve|resolves|regress|regresses|clear|clears|disappear|disappears|shrink"
            r"|shrinks)( up)? (on (its|their) own|by (itself|themselves)|spontaneously"
            r"|without treatment)",
            r" spontaneous(ly)? (resolution|resolve|regression|regress|clear|disappear)",
            r" self (resolv|limit)",
        ),
    ),
    (
        "promotes-calcification",
        (
            r" (promot|caus|worsen|induc|aggravat|accelerat|trigger|increas)\w* (ectopic |more "
            r"|the |further |vascular )?(calcification|calcinosis|calcium deposit)",
            r" make\w* (the |my |her |his )?(calcification|calcinosis|calcium deposits?|it)"
            r" worse",
        ),
    ),
    (
        "managed-like",
        (
            r" (managed|treated|handled|approached) (the )?same (way )?(as|like) ",
            r" same (treatment|management|approach|algorithm) as ",
            r" (treat|manage) (it|them|this) (like|as) ",
            # "do I just follow the topical/IL STS-first algorithm?"
            r" (follow|use|apply|go by) the (\S+ ){0,5}(algorithm|approach|pathway|protocol"
            r"|guideline|plan)",
        ),
    ),
    (
        "can-observe",
        (
            r" (just )?(leave|leaving) (it|them|this|these|alone)",
            r" (just )?(watch|observe|monitor)( it| them| and wait)? ",
            r" do nothing",
            r" wait and see",
            r" (not|no) (treat|treatment|need to treat)",
            r" without (treatment|treating)",
        ),
    ),
    (
        "needs-treatment",
        (
            r" need\w* (any )?(treatment|to be treated|therapy|treating)",
            r" (be|get) treated ",
            r" (have|has|need|needs|got) to (be )?treat",
            r" (have|has|need|needs|got) to (be )?(excised|removed|cut out|operated|taken out)",
            r" must (i|we|you|they) treat",
            r" (should|do) (i|we|you) (even )?(treat|bother)",
        ),
    ),
    (
        "size-matters",
        (
            r" (lesion |deposit |nodule )?size (matter|count|make|affect|influence|chang)",
            r" (does|do|is) (the )?(lesion |deposit )?size",
            r" (larger|bigger|smaller|small|large) (lesions?|deposits?|nodules?) "
            r"(respond|do|work|resolve)",
        ),
    ),
    (
        "complete-response",
        (
            r" (get rid of|clear|remove|eliminate|dissolve|resolve)\w* .*(completely|entirely"
            r"|fully|totally)",
            r" complete (response|resolution|remission|clearance)",
            r" (completely|entirely|fully|totally) (resolv|clear|dissolv|disappear|go away)",
        ),
    ),
    (
        "preferred-over",
        (r" preferred (over|to) ", r" (preferable|preferred) (than|to) ", r" favou?red over "),
    ),
    (
        "first-line",
        (r" first[ -]?line ", r" first choice", r" (initial|first) (treatment|therapy)"),
    ),
    (
        "avoided",
        (
            r" avoid",
            r" (should|must) not ",
            r" shouldn t ",
            r" stop(ped)? ",
            r" contraindicat",
            # "is diltiazem not recommended in DM?": whether to avoid it, not whether to use it
            r" not (recommended|advised|indicated|suggested)\b",
        ),
    ),
    (
        "causes",
        (
            r" (cause|causes|lead to|leads to|produce|produces|give|gives|leave|leaves) (\w+ )?"
            r"(discolou?r|pain|infection|nausea|dizziness|edema|oedema|headache|scar|necrosis|block"
            r"|bradycardia|hypotension|acidosis|irritation|hyperkeratosis|diarrh|gastro)",
            # "does IL STS hurt?", "is topical STS painful?", not "a single painful nodule"
            r" (does|do|will|would|is|are) (it|they|this|that|the \S+|\S+( \S+)?( \S+)?) (hurt"
            r"|sting|burn|painful)\b",
            # "is scarring common after CO2 laser?"
            r"^ (is|are) \S+( \S+)? (common|frequent|usual|likely) (after|with|from) ",
        ),
    ),
    ("safe-with", (r" safe", r" risk", r" caution", r" ok ", r" okay ", r" allowed ")),
    (
        "recommended",
        (
            r" should ",
            r" recommend",
            r" indicated ",
            r" worth ",
            r" (can|could|may) .*(be )?(used|use|given|give|tried|try|take|taken|prescribed"
            r"|excised|removed|cut out|operated on|injected)",
            r" appropriate ",
            r" reasonable ",
            r" advis",
            r" consider",
            r" an option ",
            r" good idea ",
            r" make\w* sense",
            r" (used|given|tried|an option) (for|in) ",
            r" (do|would|can) (we|you|i) (use|give|try|start|offer)",
            r" (the )?(right|correct|best|appropriate|proper) (tx|treatment|therapy|choice|drug"
            r"|option|approach) ",
            r"^ (start|try|give(?! (me|us) )|use|add|begin|prescribe|switch to|go with|go ahead"
            r" with) ",
            # the act a clinician asks leave for: "can i refer for excision?"
            r" (can|could|may|should|shall) (i|we|you) (refer|send|do|perform|offer|go ahead"
            r"|proceed|book|schedule|operate|excise|cut out|remove|inject|treat)",
        ),
    ),
    (
        "effective",
        (
            r" work",
            r" help",
            r" effective",
            r" efficac",
            r" improv",
            r" useful",
            r" benefit",
            r" respon",
            r" dissolv",
            r" resolv",
            r" shrink",
            r" reduc",
            r" evidence",
            r" (any|some) (data|reports?|experience) ",
        ),
    ),
)

# A question about when a treatment is used, answered with the sources' indications.
WHEN_CUES: tuple[str, ...] = (
    r" when (should|to|is|are|do|would|can|might) .*(use|used|start|consider|considered"
    r"|indicated|given|tried|offer|an option)",
    r" (indications?|indicated) (for|of) ",
    r" who (should|would|can) (get|receive|be given|be offered)",
)

# Questions about one patient.
PATIENT_CUES: tuple[str, ...] = (
    r" patient (?!s )",  # one patient ("pt w/ HFrEF ..."), not "patients with SSc"
    r" history of ",
    r" (start|starting|give|giving|try|trying|add|adding|switch to|begin|repeat) (\S+ )?$",
    r" (keep going|continue|carry on|add something|add anything) ",
    r" (a|an|this|my|our|the) (man|woman|guy|lady|kid|boy|girl|baby|infant|neonate|child)\b",
    r" (she|he|her|his|him) ",
    r" my patient",
    r" this patient",
    r" our patient",
    r" \d+ (year|month) old",
    r" \d+ yo ",
    # "should I / can I / do I" only with someone to do it to: a general question is not
    # about one patient ("should i use low dose warfarin?")
    r" (should|can|do) i .*\b(him|her|them|patient|pt|son|daughter|baby|child|infant)\b",
    r" (she|he) (has|is|had) ",
    r" for him ",
    r" for her ",
    r" my (child|son|daughter|kid)",
    # someone for whom everything failed ("ssc + ild, failed everything, thinking humira?")
    r" (failed|tried|refractory to|resistant to|exhausted) (everything|all )",
    r" nothing (has )?(worked|helped)",
)

# Words around a treatment that say it was tried before, and how it went (the profile's
# ``prior_treatments`` responses): before the treatment, then after it.
_TRIED = (
    r"(?<!never)(?<!not)(?<!haven t)(?<!hasn t)(?<!didn t)(?<!not yet) (tried|trialed|trialled"
    r"|status post|was on|were on|been on|has had|had had|used to take|previously on|prior"
    r"|did|used|applied|received|was given|got) $"
)
PRIOR_BEFORE: dict[str, str] = {
    r" (failed|failing|after failing|no response to|not responding to|didn t respond to|didnt "
    r"respond to|did not respond to|unresponsive to|refractory to|despite|no better after"
    r"( \w+){0,4}|not better after( \w+){0,4}|no improvement (with|after|on)( \w+){0,4})"
    r" $": "none",
    r" (intolerant of|intolerant to|could not tolerate|couldn t tolerate|stopped) $": "intolerant",
    r" (partial response to|some response to) $": "partial",
    # tried, with no outcome said: neither the subject nor a failure ("tried X", "s/p X")
    _TRIED: "tried",
}

_PARTIAL = (
    r"^( (x|times) ?\d+)?( for \d+ \w+)? (helped a bit|helped a little|helped somewhat|partly"
    r" helped|partially helped|partial(ly)?|some improvement|some response|modest improvement"
    r"|plateaued|(with|w) (partial|some|modest|minimal|slight) (improvement|response|benefit))"
)
_ALL_FAILED = (
    r"^ ?,? (none|nothing|neither|none of them|none of these) (helped|worked|did anything"
    r"|made a difference)|^ ?,? (all|both) (failed|did not work|didn t work)|^ ?,? to no avail"
)

PRIOR_AFTER: dict[str, str] = {
    r"^ (failed|did not work|didn t work|didnt work|has not worked|hasn t worked|no response"
    r"|not worked|was ineffective|did nothing|didn t help|did not help|didnt help|no effect"
    r"|made no difference|not helping|wasn t helping|stopped working|was useless"
    r"|no change(?! yet)|no improvement(?! yet)|without improvement|without benefit"
    r"|without success|w o benefit)": "none",
    r"^ (was not tolerated|not tolerated|caused side effects)": "intolerant",
    _PARTIAL: "partial",
}

# Words after a list of treatments that say how all of them went ("tried X, Y and Z, none
# helped"): the response given to every treatment of the list.
PRIOR_LIST_AFTER: dict[str, str] = {
    _ALL_FAILED: "none",
}

# Words around a treatment that say it cannot be had or used here ("when topical STS
# isn't practical"): the profile's local_therapy_accessible, and not the subject.
UNAVAILABLE_BEFORE: tuple[str, ...] = (
    r" (no access to|can t access|cannot access|can t get|cannot get|unable to get|unable to "
    r"access|without access to) $",
    r" (nobody|no one|noone|nobody here|no one here) (here |locally )?(does|do|offers|can do"
    r"|performs|gives) $",
    r" (we|they) (don t|do not|can t|cannot) (do|offer|give|get) $",
)

UNAVAILABLE_AFTER: tuple[str, ...] = (
    r"^ (isn t|is not|isnt|was not|wasn t|not) (practical|possible|available|feasible|accessible"
    r"|an option)",
    r"^ (impractical|unavailable|not an option|is out|out of the question)",
    r"^ (can t|cannot|could not|couldn t) be (used|applied|accessed|obtained|had|done)",
)
# ... and around it: "she is not a surgical candidate", "unfit for surgery", "declines
# surgery" (the words before, the words after)
UNAVAILABLE_AROUND: tuple[tuple[str, str], ...] = (
    (r" (not|never) (a|an)( good| suitable| fit)? $", r"^ candidate"),
    (r" (poor|bad|no|unsuitable) $", r"^ candidate"),
    (r" (unfit|not fit|too frail|too sick|unsuitable|not suitable) for $", ""),
    (
        r" (declines|declined|refuses|refused|won t have|will not have|doesn t want|does not"
        r" want|can t have|cannot have|can t undergo|cannot undergo) $",
        "",
    ),
)

# Words before a treatment that make it a current medication, not the one asked about.
MEDICATION_CUES: tuple[str, ...] = (
    r" (already|currently|presently|now|is|s|chronically) (on|taking|takes|receiving|using) $",
    r" (takes|taking|receiving) $",
    r" (patient|pt|she|he|who is|who s|been|while|and|but|also|still|remains|remaining) on $",
    r"^ on $",
    # "on" just before a drug is taking it ("calcinosis on elbows, on MTX + pred"), except
    # where it is "about" ("data on colchicine", "based on")
    r"(?<! based)(?<! data)(?<! evidence)(?<! studies)(?<! study)(?<! information)"
    r"(?<! info)(?<! literature)(?<! trials)(?<! trial)(?<! reports)(?<! report)(?<! focus)"
    r"(?<! depends)(?<! depend)(?<! effect)(?<! effects)(?<! review)(?<! research)"
    r"(?<! guidance)(?<! advice)(?<! say)(?<! says) on $",
)

# Words that negate a feature named just after them ("no ulcers", "not painful").
NEGATIONS = frozenset(
    (
        "no",
        "not",
        "without",
        "non",
        "don",
        "dont",
        "doesn",
        "doesnt",
        "isn",
        "isnt",
        "aren",
        "arent",
        "never",
        "nor",
        "poorly",
    )
)

# The source a question names ("what does the review conclude about X?").
SOURCE_CUES: dict[str, tuple[str, ...]] = {
    "traineau-2020": ("the review", "traineau", "the systematic review", "jaad review"),
    "management-topic": ("the topic", "management topic", "point of care topic", "uptodate"),
    "nowaczyk-2021": ("nowaczyk", "local therapies review", "review of local therapies"),
    "ai-answer-dm": ("ai answer", "ai generated answer", "the ai"),
}

# "which treatment has the best evidence?": a question about the grades of all of them
BEST_EVIDENCE: tuple[str, ...] = (
    # not "the best evidence-based option for <this patient>": that asks for the plan
    r" (best|strongest|highest|most|good|better|greatest) (levels? of |quality |grade of )?"
    r"(evidence|data)(?! based)",
    r" evidence (is )?(the )?(strongest|best)",
    r" (most|best) (proven|studied)",
)
