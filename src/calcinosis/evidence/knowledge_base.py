"""The evidence base: the knowledge files loaded, validated and cross-checked.

``load_knowledge()`` reads every file of ``knowledge/manifest.yaml`` through the
strict schemas of ``models.py``. A malformed file fails with a
:class:`~calcinosis.errors.KnowledgeError` naming the file, the record and the
field. The loaded base is immutable and cached.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from calcinosis.datafiles import read_data
from calcinosis.errors import KnowledgeError, UnknownChoiceError, field_path
from calcinosis.evidence.documents import ArmAdverseEvents, ArmDocument, ArmPrinted, ArmRelapses
from calcinosis.evidence.references import reference_text, surname
from calcinosis.evidence.schemas import (
    AlgorithmText,
    Arm,
    ChangeEntry,
    Finding,
    Manifest,
    ReviewTotal,
    Source,
    Statement,
    Study,
    Subtype,
    Table4Row,
    Treatment,
)

__all__ = [
    "ALGORITHM",
    "CHANGELOG",
    "KNOWLEDGE_DIR",
    "OUTCOMES",
    "KnowledgeBase",
    "Outcome",
    "ResponderCount",
    "arm_document",
    "load_knowledge",
    "patients_by_disease",
    "read_knowledge",
    "responders",
    "response_figure",
    "study_label",
    "surname",
    "version_key",
]

KNOWLEDGE_DIR = Path(__file__).parents[1] / "knowledge"

_SCHEMAS: dict[str, type[BaseModel]] = {
    "sources.yaml": Source,
    "studies.yaml": Study,
    "arms.yaml": Arm,
    "treatments.yaml": Treatment,
    "statements.yaml": Statement,
    "table4.yaml": Table4Row,
    "totals.yaml": ReviewTotal,
    "findings.yaml": Finding,
    "changes.yaml": ChangeEntry,
    "algorithm.yaml": AlgorithmText,
}
# The changelog: optional (a directory never released has none), and not part of the
# content a release hashes (an entry records that hash, so it cannot be part of it).
CHANGELOG = "changes.yaml"
# The algorithm's texts and ranks: hashed like the evidence, but a directory released before
# they were data (1.0.0) does not list them, and is read with the packaged ones (the texts
# the code of that release held).
ALGORITHM = "algorithm.yaml"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: caches key on it
class KnowledgeBase:
    """Everything the knowledge files hold, indexed by identifier.

    Its indexes (statements by id and by treatment, arms by treatment, the Table 4 row
    of a treatment, the conflicts about a treatment, the drug names, the figures the
    audit flags) are built on first use and kept with it: the base is immutable.
    """

    manifest: Manifest
    version: str
    sources: Mapping[str, Source]
    studies: Mapping[str, Study]
    arms: tuple[Arm, ...]
    treatments: Mapping[str, Treatment]
    statements: tuple[Statement, ...]
    table4: tuple[Table4Row, ...]
    totals: tuple[ReviewTotal, ...]
    findings: tuple[Finding, ...]
    classes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    changelog: tuple[ChangeEntry, ...] = ()  # the releases, newest first
    content_hash: str = ""  # SHA-256 of the evidence files (all but the changelog)
    # What other layers derive from this base (``@derived``), kept with it.
    _derived: dict[object, object] = field(default_factory=dict, init=False, repr=False)
    algorithm: Mapping[str, AlgorithmText] = field(default_factory=dict)  # engine texts, by id

    @property
    def released(self) -> str:
        """The release date of this evidence version (ISO 8601)."""
        return self.manifest.released.isoformat()

    @property
    def last_release(self) -> ChangeEntry | None:
        """The newest entry of the changelog, if the directory was ever released."""
        return self.changelog[0] if self.changelog else None

    @property
    def unreleased(self) -> bool:
        """True when this content is not the last release's: it was edited since (a
        study added), or it was never released."""
        last = self.last_release
        return (
            last is None
            or last.content != self.content_hash
            or last.version != self.manifest.version
            or last.released != self.manifest.released
        )

    def release_status(self) -> str:
        """What the version is, in words: released, or how it differs from a release."""
        last = self.last_release
        if not self.unreleased:
            return f"released {self.released}"
        if last is None:
            return "not released: this evidence has never been released"
        return (
            f"not released: it differs from release {last.version} of {last.released.isoformat()}"
        )

    def version_line(self) -> str:
        """'Evidence version 1.0.0+abc, released 2026-12-01' for every text output."""
        return f"Evidence version {self.version}, {self.release_status()}"

    def therapy_ids(self) -> frozenset[str]:
        """Treatments a patient can take or have tried (not the management steps)."""
        return self._therapy_ids

    @cached_property
    def _therapy_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self.treatments.values() if t.kind != "management")

    @cached_property
    def statements_by_id(self) -> Mapping[str, Statement]:
        return {statement.id: statement for statement in self.statements}

    def statement(self, statement_id: str) -> Statement:
        """The statement with this id (KeyError when there is none)."""
        return self.statements_by_id[statement_id]

    @cached_property
    def _statements_by_treatment(self) -> Mapping[str, tuple[Statement, ...]]:
        found: dict[str, list[Statement]] = {}
        for statement in self.statements:
            for treatment in dict.fromkeys(statement.treatments):
                found.setdefault(treatment, []).append(statement)
        return {treatment: tuple(items) for treatment, items in found.items()}

    def statements_about(self, treatment: str) -> tuple[Statement, ...]:
        """The statements that name ``treatment``, in file order."""
        return self._statements_by_treatment.get(treatment, ())

    @cached_property
    def _table4_by_treatment(self) -> Mapping[str, Table4Row]:
        rows: dict[str, Table4Row] = {}
        for row in self.table4:
            for treatment in row.treatments:
                rows.setdefault(treatment, row)
        return rows

    def table4_row(self, treatment: str) -> Table4Row | None:
        """The first Table 4 row about ``treatment``, or None."""
        return self._table4_by_treatment.get(treatment)

    @cached_property
    def _conflicts_by_treatment(self) -> Mapping[str, tuple[tuple[Statement, Statement], ...]]:
        found: dict[str, list[tuple[Statement, Statement]]] = {}
        for statement in self.statements:
            for other_id in statement.conflicts_with:
                other = self.statements_by_id[other_id]
                for treatment in sorted(set(statement.treatments) & set(other.treatments)):
                    found.setdefault(treatment, []).append((statement, other))
        return {treatment: tuple(pairs) for treatment, pairs in found.items()}

    def conflicts_about(self, treatment: str) -> tuple[tuple[Statement, Statement], ...]:
        """The pairs of statements that disagree and are both about ``treatment``."""
        return self._conflicts_by_treatment.get(treatment, ())

    @cached_property
    def drug_names(self) -> tuple[tuple[str, str], ...]:
        """(name, treatment id) for every drug a patient can take: its name, synonyms and
        id in words, lower case, longest first (the first id wins a shared name)."""
        therapies = self.therapy_ids()
        names: dict[str, str] = {}
        for entry in self.treatments.values():
            if entry.id not in therapies or entry.kind != "drug":
                continue
            for name in (entry.name, *entry.synonyms, entry.id.replace("-", " ")):
                names.setdefault(name.lower(), entry.id)
        return tuple(sorted(names.items(), key=lambda item: -len(item[0])))

    @cached_property
    def flagged_figures(self) -> tuple[str, ...]:
        """Figures the audit records as unit errors (e.g. colchicine "≤1.2 g per day")."""
        flagged: list[str] = []
        for finding in self.findings:
            if finding.kind == "unit":
                flagged += re.findall(r"\(([^)]+)\)", finding.published) or [finding.published]
        return tuple(flagged)

    @cached_property
    def _arms_by_treatment(self) -> Mapping[str, tuple[Arm, ...]]:
        found: dict[str, list[Arm]] = {}
        for arm in self.arms:
            found.setdefault(arm.treatment, []).append(arm)
        return {treatment: tuple(arms) for treatment, arms in found.items()}

    def pool_choices(self) -> list[str]:
        """Treatment ids that have arms, and classes with arms: what can be pooled."""
        with_arms = {arm.treatment for arm in self.arms}
        classes = [c for c, members in self.classes.items() if with_arms & set(members)]
        return sorted(with_arms) + sorted(classes)

    def resolve(self, name: str) -> tuple[str, ...]:
        """A treatment id or a class name -> the treatment ids it stands for."""
        if name in self.treatments:
            return (name,)
        if name in self.classes:
            return self.classes[name]
        raise UnknownChoiceError("treatment", name, self.pool_choices())

    def arms_for(self, treatments: Iterable[str]) -> tuple[Arm, ...]:
        """The arms of these treatments, in file order."""
        wanted = set(treatments)
        if len(wanted) == 1:
            return self._arms_by_treatment.get(next(iter(wanted)), ())
        return tuple(arm for arm in self.arms if arm.treatment in wanted)


def _validate_records(name: str, data: Any, schema: type[M]) -> list[M]:
    if not isinstance(data, list):
        raise KnowledgeError(name, None, None, "must be a list of records")
    records: list[M] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data, start=1):
        label = f"#{index}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            label += f" ({raw['id']})"
        if not isinstance(raw, dict):
            raise KnowledgeError(name, label, None, "must be a mapping of fields")
        try:
            record = schema.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise KnowledgeError(
                name, label, field_path(error["loc"]) or None, error["msg"]
            ) from None
        key = getattr(record, "id", None)
        if isinstance(key, str):
            if key in seen:
                raise KnowledgeError(
                    name, label, "id", f"duplicate id {key!r} (first at #{seen[key]})"
                )
            seen[key] = index
        records.append(record)
    return records


def _refs(
    file: str, record: str, field_name: str, values: Iterable[object], valid: Container[object]
) -> None:
    """Every value must name something that exists (``valid``)."""
    for value in values:
        if value not in valid:
            what = field_name.rsplit(".", maxsplit=1)[-1].rstrip("s").replace("_", " ")
            raise KnowledgeError(file, record, field_name, f"unknown {what} {value!r}")


def _cross_check(kb: KnowledgeBase) -> None:
    """Every identifier a record names must exist in the file that defines it."""
    arm_ids = {arm.id for arm in kb.arms}
    references = {study.reference for study in kb.studies.values()}
    statement_ids = {statement.id for statement in kb.statements}
    for arm in kb.arms:
        _refs("arms.yaml", arm.id, "study", [arm.study], kb.studies)
        _refs("arms.yaml", arm.id, "treatment", [arm.treatment], kb.treatments)
        _refs("arms.yaml", arm.id, "provenance.source", [arm.provenance.source], kb.sources)
    for row in kb.table4:
        _refs("table4.yaml", row.id, "treatments", row.treatments, kb.treatments)
        _refs("table4.yaml", row.id, "references", row.references, references)
    for total in kb.totals:
        _refs("totals.yaml", total.id, "treatments", total.treatments, kb.treatments)
        _refs("totals.yaml", total.id, "references", total.references, references)
    for statement in kb.statements:
        _refs("statements.yaml", statement.id, "source", [statement.source], kb.sources)
        _refs("statements.yaml", statement.id, "treatments", statement.treatments, kb.treatments)
        about = [statement.about_arm] if statement.about_arm else []
        _refs("statements.yaml", statement.id, "about_arm", about, arm_ids)
        _refs(
            "statements.yaml",
            statement.id,
            "conflicts_with",
            statement.conflicts_with,
            statement_ids,
        )
    for entry in kb.treatments.values():
        claims = [*entry.mechanism, *entry.regimens, *entry.adverse_effects, *entry.notes]
        if entry.time_to_response is not None:
            claims.append(entry.time_to_response)
        sources = [claim.provenance.source for claim in claims]
        sources += [rule.provenance.source for rule in entry.contraindications]
        _refs("treatments.yaml", entry.id, "provenance.source", sources, kb.sources)


def _check_algorithm(kb: KnowledgeBase) -> None:
    """The algorithm's texts cite statements and offer treatments that exist, and no rank
    is given twice in one plan (``every``: in each)."""
    statement_ids = {statement.id for statement in kb.statements}
    taken: dict[tuple[str, int], str] = {}
    plans: tuple[str, ...] = get_args(Subtype)
    for text in kb.algorithm.values():
        for index, cite in enumerate(text.cites):
            if cite not in statement_ids:
                where = f"cites[{index}]"
                raise KnowledgeError(ALGORITHM, text.id, where, f"unknown statement {cite!r}")
        ranks = [(f"offers[{i}].rank", offer.rank) for i, offer in enumerate(text.offers)]
        for index, offer in enumerate(text.offers):
            where = f"offers[{index}].treatment"
            _refs(ALGORITHM, text.id, where, [offer.treatment], kb.treatments)
        if text.ranks_from is not None:
            if not text.cites:
                raise KnowledgeError(
                    ALGORITHM, text.id, "ranks_from", "needs a statement cited (its treatments)"
                )
            count = len(kb.statement(text.cites[0]).treatments)
            ranks += [("ranks_from", text.ranks_from + i) for i in range(count)]
        for field_name, rank in ranks:
            for plan in plans if text.plan == "every" else [text.plan]:
                first = taken.get((plan, rank))
                if first is not None:
                    raise KnowledgeError(
                        ALGORITHM,
                        text.id,
                        field_name,
                        f"rank {rank} is given twice in the {plan} plan (first by {first})",
                    )
                taken[plan, rank] = text.id


def _index(records: Sequence[M]) -> dict[str, M]:
    return {str(getattr(record, "id")): record for record in records}  # noqa: B009


@cache
def _load_cached(directory: str) -> KnowledgeBase:
    return _load(Path(directory))


def load_knowledge(directory: Path | str | None = None) -> KnowledgeBase:
    """Load (once) and validate the knowledge base in ``directory``."""
    return _load_cached(str(Path(directory) if directory is not None else KNOWLEDGE_DIR))


def read_knowledge(directory: Path | str) -> KnowledgeBase:
    """Load and validate ``directory`` now, whatever was loaded before (not cached): for
    a directory that is being edited."""
    return _load(Path(directory))


def _load(directory: Path) -> KnowledgeBase:
    manifest_data = read_data(directory / "manifest.yaml")
    try:
        manifest = Manifest.model_validate(manifest_data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = field_path(error["loc"]) or None
        raise KnowledgeError("manifest.yaml", None, loc, error["msg"]) from None
    digest = hashlib.sha256()
    loaded: dict[str, list[Any]] = {}
    for name in manifest.files:
        if name not in _SCHEMAS:
            raise KnowledgeError("manifest.yaml", None, "files", f"no schema for {name!r}")
        path = directory / name
        data = read_data(path)
        if name != CHANGELOG:
            digest.update(name.encode() + b"\0" + path.read_bytes())
        loaded[name] = _validate_records(name, data, _SCHEMAS[name])
    if ALGORITHM not in loaded:
        packaged = KNOWLEDGE_DIR / ALGORITHM
        loaded[ALGORITHM] = _validate_records(ALGORITHM, read_data(packaged), AlgorithmText)
    missing = sorted(set(_SCHEMAS) - set(loaded) - {CHANGELOG})
    if missing:
        raise KnowledgeError("manifest.yaml", None, "files", f"missing {', '.join(missing)}")
    treatments: dict[str, Treatment] = _index(loaded["treatments.yaml"])
    classes: dict[str, list[str]] = {}
    for treatment in treatments.values():
        for cls in treatment.classes:
            classes.setdefault(cls, []).append(treatment.id)
    kb = KnowledgeBase(
        manifest=manifest,
        version=f"{manifest.version}+{digest.hexdigest()[:12]}",
        sources=_index(loaded["sources.yaml"]),
        studies=_index(loaded["studies.yaml"]),
        arms=tuple(loaded["arms.yaml"]),
        treatments=treatments,
        statements=tuple(loaded["statements.yaml"]),
        table4=tuple(loaded["table4.yaml"]),
        totals=tuple(loaded["totals.yaml"]),
        findings=tuple(loaded["findings.yaml"]),
        classes={cls: tuple(ids) for cls, ids in sorted(classes.items())},
        changelog=tuple(loaded.get(CHANGELOG, ())),
        content_hash=digest.hexdigest(),
        algorithm=_index(loaded[ALGORITHM]),
    )
    _cross_check(kb)
    _check_algorithm(kb)
    _check_changelog(kb)
    return kb


def require_current_texts(kb: KnowledgeBase) -> None:
    """KnowledgeError unless ``kb`` holds every algorithm text this code says: a directory
    released before a text was added (``serve --knowledge OLD``) is refused when it is
    loaded to make plans, in one line naming the first text missing, rather than on the
    first plan that needs it. (Reading it for a diff or a table needs no texts.)"""
    packaged = _packaged_text_ids()
    missing = [text_id for text_id in packaged if text_id not in kb.algorithm]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise KnowledgeError(
            ALGORITHM,
            missing[0],
            None,
            f"missing{more}: this version of calcinosis needs it (the knowledge directory "
            f"is {kb.manifest.version}, older than the code); serve a current release",
        )


@cache
def _packaged_text_ids() -> tuple[str, ...]:
    """The ids of the texts in the packaged algorithm.yaml: the texts this code says."""
    records = _validate_records(ALGORITHM, read_data(KNOWLEDGE_DIR / ALGORITHM), AlgorithmText)
    return tuple(record.id for record in records)


def version_key(version: str) -> tuple[int, ...]:
    """'1.10.0' -> (1, 10, 0): versions compared as numbers."""
    return tuple(int(part) for part in version.split("."))


def _check_changelog(kb: KnowledgeBase) -> None:
    """The releases are newest first, each names the one before, and none is newer than
    the manifest's version."""
    entries = kb.changelog
    for index, entry in enumerate(entries, start=1):
        label = f"#{index} ({entry.version})"
        older = entries[index] if index < len(entries) else None
        if older is not None and version_key(older.version) >= version_key(entry.version):
            raise KnowledgeError(
                CHANGELOG, label, "version", f"not newer than the entry after it ({older.version})"
            )
        if older is not None and older.released > entry.released:
            raise KnowledgeError(
                CHANGELOG, label, "released", f"before the release it follows ({older.version})"
            )
        if entry.previous != (older.version if older else None):
            expected = older.version if older else "null (the first release)"
            raise KnowledgeError(CHANGELOG, label, "previous", f"should be {expected}")
    if entries and version_key(entries[0].version) > version_key(kb.manifest.version):
        raise KnowledgeError(
            "manifest.yaml",
            None,
            "version",
            f"{kb.manifest.version} is older than the last release ({entries[0].version})",
        )


def study_label(study: Study) -> str:
    """A study's short label, e.g. 'Marco Puche 2010'."""
    return f"{surname(study.first_author)} {study.year}"


Outcome = Literal["any", "complete"]
OUTCOMES: tuple[Outcome, ...] = ("any", "complete")


@dataclass(frozen=True)
class ResponderCount:
    """Responders to one outcome over the arms that report them: ``x`` of ``n``."""

    outcome: Outcome
    x: int
    n: int
    arms: tuple[str, ...]  # the arms counted, in the order given
    left_out: tuple[tuple[str, str], ...] = ()  # (arm id, why it is not counted)

    @property
    def k(self) -> int:
        """How many arms were counted."""
        return len(self.arms)


def _count(arm: Arm, outcome: Outcome) -> int | None:
    return arm.responders_any if outcome == "any" else arm.responders_complete


def responders(arms: Iterable[Arm], outcome: Outcome) -> ResponderCount:
    """The one rule for counting responders (one study's arms, a treatment's, a class's).

    An arm is counted when it reports its size (``n``, at least 1) and its count for
    ``outcome``. An arm whose ``n`` or count is null (NA/NS in the review) or whose ``n``
    is 0 is left out, with the reason: a null is never read as 0, and a count is never
    taken from the other outcome. ``k`` is 0 (and ``x``, ``n`` 0) when no arm is counted.
    """
    counted: list[Arm] = []
    left_out: list[tuple[str, str]] = []
    for arm in arms:
        if arm.n is None or _count(arm, outcome) is None:
            missing = "n" if arm.n is None else f"responders_{outcome}"
            left_out.append((arm.id, f"{missing} not reported (null)"))
        elif arm.n == 0:
            left_out.append((arm.id, "n is 0"))
        else:
            counted.append(arm)
    return ResponderCount(
        outcome,
        sum(_count(arm, outcome) or 0 for arm in counted),
        sum(arm.n or 0 for arm in counted),
        tuple(arm.id for arm in counted),
        tuple(left_out),
    )


def response_figure(arms: Iterable[Arm]) -> ResponderCount | None:
    """The response a study (or an arm) reports: any response, counted by
    :func:`responders`, when at least one arm reports it; else complete responses
    (``outcome == "complete"``: complete only) when one arm does; else None."""
    arms = tuple(arms)
    for outcome in OUTCOMES:
        count = responders(arms, outcome)
        if count.k:
            return count
    return None


def patients_by_disease(arm: Arm) -> dict[str, int]:
    """Patients of an arm as DM, SSc or unspecified.

    The review counts the overlap (DM/SSc) child of Berger 1987 as DM (warfarin:
    DM=10, Results line 130), so we do too. An arm counted in digits contributes
    its patients (Fahmy 1998: 15 digits, 10 patients), not its digits.
    """
    totals = {"DM": 0, "SSc": 0, "unspecified": 0}
    counts = dict(arm.disease_counts)
    if arm.unit != "patients" and arm.patients is not None and len(counts) == 1:
        counts = {next(iter(counts)): arm.patients}
    for disease, count in counts.items():
        totals["DM" if disease == "DM/SSc" else disease] += count
    return totals


def arm_document(kb: KnowledgeBase, arm: Arm, level_rules: str) -> ArmDocument:
    """One arm as the ``evidence arms --format json`` contract (DESIGN.md) gives it, with
    the level the CEBM rules give its study (``tables.arm_level_rules``, which reads this
    module). ``model_dump(exclude_unset=True)`` is its JSON: a printed cell the review
    left empty stays out."""
    study = kb.studies[arm.study]
    source = kb.sources[arm.provenance.source]
    return ArmDocument(
        id=arm.id,
        study=study.id,
        first_author=study.first_author,
        year=study.year,
        reference=study.reference,
        design=study.design,
        treatment=arm.treatment,
        population=arm.population,
        disease=arm.disease,
        disease_counts=dict(arm.disease_counts),
        n=arm.n,
        unit=arm.unit,
        patients=arm.patients,
        responders_any=arm.responders_any,
        responders_complete=arm.responders_complete,
        dose=arm.dose,
        calcinosis_duration_years=arm.calcinosis_duration_years,
        follow_up_months=arm.follow_up_months,
        follow_up_range_months=(
            list(arm.follow_up_range_months) if arm.follow_up_range_months else None
        ),
        adverse_events=(
            None
            if arm.adverse_events is None
            else [ArmAdverseEvents(event=e.event, n=e.n, of=e.of) for e in arm.adverse_events]
        ),
        relapses=(
            ArmRelapses(n=arm.relapses.n, of=arm.relapses.of, text=arm.relapses.text)
            if arm.relapses
            else None
        ),
        level=arm.level,
        source=arm.source,
        location=arm.provenance.location,
        reference_text=reference_text(source),
        printed=(ArmPrinted(**arm.printed.model_dump(exclude_none=True)) if arm.printed else None),
        notes=list(arm.notes),
        level_rules=level_rules,
    )
