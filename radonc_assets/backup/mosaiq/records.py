"""RT Beams Treatment Records (PS3.3 A.29) from Mosaiq sessions: model in, datasets out.

One record per :class:`.model.Session` (one patient, plan, date and machine), with
the IOD's modules: Patient (C.7.1.1), General Study (C.7.2.1; the plan's study when
Mosaiq's ``DCMStudy`` knows it), RT Series (C.8.8.1), General Equipment (C.7.5.1),
RT General Treatment Record (C.8.8.17), RT Treatment Machine Record (C.8.8.18),
Calculated Dose Reference Record (C.8.8.20, when Mosaiq projected a dose), RT Beams
Session Record (C.8.8.21), RT Treatment Summary Record (C.8.8.23, when the planned
and current fraction numbers are known) and SOP Common (C.12.1). The Measured Dose
Reference Record (C.8.8.19, User optional) is left out: Mosaiq holds no measured dose.

Deterministic: UIDs derive from a UID root and Mosaiq keys (:func:`record_uids`),
and every date and time from Mosaiq's own (the first delivery is the treatment and
series time, the last the instance creation time), so generating a date again gives
identical datasets and re-runs never duplicate an instance.

Site name, setup note, activity and plan label, which have no standard attribute,
go in a private block (:data:`PRIVATE_GROUP`) whose creator the site configures.
"""

import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydicom import dcmread
from pydicom.dataset import FileDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    PYDICOM_ROOT_UID,
    ExplicitVRLittleEndian,
    RTBeamsTreatmentRecordStorage,
    RTPlanStorage,
    generate_uid,
)
from pydicom.valuerep import DA, TM

from radonc_assets.backup.mosaiq.mlc import LeafPositions, tenths_of_mm
from radonc_assets.backup.mosaiq.model import ControlPoint, Delivery, Session
from radonc_assets.backup.mosaiq.units import DEGREES, HALF_TURN
from radonc_assets.site.config import SiteConfig
from resources.dicom.part10 import (
    Element,
    Value,
    element,
    element_column,
    encoded_dataset,
    file_header,
    item,
    private,
    sequence,
)
from resources.dicom.queries import InstanceRecord, instance_record

LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

PRIVATE_GROUP = 0x3009
DEFAULT_PRIVATE_CREATOR = "RADONC_BACKUP MOSAIQ 1"
# Element offsets in the private block (PS3.5 7.8.1: element (3009,xxee), ee below).
# At the top level:
PRIVATE_PLAN_LABEL = 0x10  # LO, RtPlan.Label
PRIVATE_ACTIVITY = 0x11  # LO, Schedule.Activity (a CPT.Hsp_Code)
PRIVATE_ACTIVITY_DESCRIPTION = 0x12  # LO, CPT.Short_Desc
# In each Treatment Session Beam Sequence item:
PRIVATE_SITE_NAME = 0x20  # LO, Site.Site_Name
PRIVATE_SETUP_NOTE = 0x21  # UT, SiteSetup.Setup_Note
PRIVATE_DOSE_HST_ID = 0x22  # IS, Dose_Hst.DHS_ID
PRIVATE_FIELD_ID = 0x23  # IS, TxField.FLD_ID
_PRIVATE_CREATOR = PRIVATE_GROUP << 16 | 0x0010  # the creator of block 0x10
_PRIVATE_BLOCK = PRIVATE_GROUP << 16 | 0x1000

MANUFACTURER = "radonc-backup"
_MODEL_NAME = "Mosaiq RT Beams Treatment Record export"
_IMPLEMENTATION_VERSION = "RADONC_MOSAIQ_1"
# PS3.3 C.12.1.1.2: ISO_IR 192 is UTF-8; Mosaiq names are Unicode.
_CHARACTER_SET = "ISO_IR 192"
# PS3.5 6.2 value lengths (characters).
_SH, _LO, _ST, _PN_GROUP = 16, 64, 1024, 64
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# PS3.5 6.1.3: UT may hold CR, LF, FF and ESC besides graphic characters.
_NOTE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x09\x0b\x0e-\x1a\x1c-\x1f\x7f]")


@dataclass(frozen=True)
class RecordSettings:
    """What a site configures about its records.

    Attributes:
        uid_root: The UID root all generated UIDs start with (PS3.5 9.1; at most 54
            characters, as pydicom's ``generate_uid`` allows); a trailing dot is added.
        private_creator: Private Creator of the private block (LO, at most 64 characters).

    Raises:
        ValueError: An invalid UID root or private creator.
    """

    uid_root: str = PYDICOM_ROOT_UID
    private_creator: str = DEFAULT_PRIVATE_CREATOR

    def __post_init__(self) -> None:
        root = self.uid_root if self.uid_root.endswith(".") else f"{self.uid_root}."
        generate_uid(prefix=root, entropy_srcs=["check"])  # raises ValueError if invalid
        object.__setattr__(self, "uid_root", root)
        creator = self.private_creator
        if not creator.strip() or len(creator) > _LO or _CONTROL_CHARACTERS.search(creator):
            raise ValueError(f"private creator {creator!r} is not a 1-64 character LO value")
        if "\\" in creator:
            raise ValueError(f"private creator {creator!r} contains a backslash")


@dataclass(frozen=True)
class RecordUids:
    """The UIDs of one record."""

    study: str
    series: str
    instance: str


def record_uids(session: Session, uid_root: str) -> RecordUids:
    """The study, series and SOP instance UIDs of a session's record.

    - Study: the plan's ``DCMStudy.StudyInstanceUID`` when Mosaiq has it, else derived from
      the patient (``Pat_ID1``) and the plan.
    - Series: patient, plan, date and machine: the session.
    - Instance: the session and its ``Dose_Hst`` keys, so a session that grows after a run
      (a delivery later that day) becomes a new record in the same series, and a re-run
      over the same deliveries gives the same UID.

    Args:
        session: The session.
        uid_root: A valid UID prefix ending with a dot (:class:`RecordSettings` makes one).
    """
    patient = f"Pat_ID1={session.patient.pat_id1}"
    plan = f"plan={session.plan.key}"
    series = (
        patient,
        plan,
        f"date={session.date.isoformat()}",
        f"machine={session.machine.staff_id}",
    )
    dose_keys = "DHS_ID=" + ",".join(str(d.dhs_id) for d in session.deliveries)
    study = session.plan.study
    return RecordUids(
        study=study.uid if study else _derived_uid(uid_root, "study", patient, plan),
        series=_derived_uid(uid_root, "series", *series),
        instance=_derived_uid(uid_root, "record", *series, dose_keys),
    )


def _derived_uid(uid_root: str, *parts: str) -> str:
    # pydicom joins entropy sources without a separator (["1", "23"] == ["12", "3"]): join
    # them here with one that no part contains.
    return str(generate_uid(prefix=uid_root, entropy_srcs=["|".join(("mosaiq", *parts))]))


def treatment_record(session: Session, settings: RecordSettings | None = None) -> FileDataset:
    """The RT Beams Treatment Record of one session, as a pydicom dataset.

    :func:`encode_record` read back: the elements are decoded when first read.

    Args:
        session: The deliveries of one patient and plan on one date and machine.
        settings: UID root and private creator; pydicom's root and the default creator if None.
    """
    return encode_record(session, settings).dataset()


@dataclass(frozen=True)
class EncodedRecord:
    """One record, encoded.

    Attributes:
        uids: Its study, series and SOP instance UIDs.
        data: A DICOM file (PS3.10), Explicit VR Little Endian, ready to write or C-STORE.
    """

    uids: RecordUids
    data: bytes

    def dataset(self) -> FileDataset:
        """The record as a pydicom dataset, decoded element by element as it is read."""
        return dcmread(io.BytesIO(self.data))

    def instance(self) -> InstanceRecord:
        """The record as a manifest's instance (its one dataset answers every level)."""
        ds = self.dataset()
        return instance_record(ds, ds, ds)


def encode_record(session: Session, settings: RecordSettings | None = None) -> EncodedRecord:
    """The RT Beams Treatment Record of one session, encoded (:mod:`resources.dicom.part10`).

    Args:
        session: The deliveries of one patient and plan on one date and machine.
        settings: UID root and private creator; pydicom's root and the default creator if None.
    """
    settings = settings or RecordSettings()
    uids = record_uids(session, settings.uid_root)
    first, last = session.deliveries[0].treated_at, session.deliveries[-1].treated_at
    institution = session.machine.institution
    dose_references = _calculated_dose_references(session)
    elements = [
        # SOP Common (C.12.1)
        element("SpecificCharacterSet", _CHARACTER_SET),
        element("SOPClassUID", RTBeamsTreatmentRecordStorage),
        element("SOPInstanceUID", uids.instance),
        element("InstanceCreationDate", _da(last.date())),
        element("InstanceCreationTime", _tm(last.time())),
        *_patient(session),
        *_study(session, uids.study),
        *_series(session, uids.series),
        # General Equipment (C.7.5.1): the equipment that made this instance, i.e. this export.
        element("Manufacturer", MANUFACTURER),
        element("ManufacturerModelName", _MODEL_NAME),
        *([element("InstitutionName", _string(institution, _LO))] if institution else []),
        # RT General Treatment Record (C.8.8.17)
        element("InstanceNumber", len(session.deliveries)),
        element("TreatmentDate", _da(first.date())),
        element("TreatmentTime", _tm(first.time())),
        sequence(
            "ReferencedRTPlanSequence",
            [
                item(
                    [
                        element("ReferencedSOPClassUID", RTPlanStorage),
                        element("ReferencedSOPInstanceUID", session.plan.uid),
                    ]
                )
            ]
            if session.plan.uid
            else [],
        ),
        _machine(session),
        *_calculated_dose_reference_sequence(dose_references),
        *_beams_session(session, dose_references, settings.private_creator),
        *_treatment_summary(session),
        *_session_private_block(session, settings.private_creator),
    ]
    LOGGER.debug(
        "record %s: %d deliveries of Pat_ID1 %s on %s",
        uids.instance,
        len(session.deliveries),
        session.patient.pat_id1,
        session.date,
    )
    header = file_header(
        RTBeamsTreatmentRecordStorage,
        uids.instance,
        ExplicitVRLittleEndian,
        (PYDICOM_IMPLEMENTATION_UID, _IMPLEMENTATION_VERSION),
    )
    return EncodedRecord(uids, header + encoded_dataset(elements))


def _string(value: str, limit: int) -> str:
    """A SH, LO or ST value: no control characters or backslash (separator), cut to `limit`."""
    return _CONTROL_CHARACTERS.sub(" ", value).replace("\\", " ").strip()[:limit].rstrip()


def _note(value: str) -> str:
    """A UT value: line breaks kept, other control characters (a TAB too) become spaces."""
    return _NOTE_CONTROL_CHARACTERS.sub(" ", value).strip()


def person_name(last: str, first: str, middle: str, suffix: str) -> str:
    """A PN value ``Last^First^Middle^^Suffix`` (PS3.5 6.2.1).

    The component and group delimiters (``^``, ``=``) and backslash cannot appear in a
    component and become spaces; empty trailing components are dropped; the group is cut
    to 64 characters.
    """
    parts = [
        " ".join(_CONTROL_CHARACTERS.sub(" ", part).translate(_PN_DELIMITERS).split())
        for part in (last, first, middle, "", suffix)
    ]
    return "^".join(parts).rstrip("^")[:_PN_GROUP].rstrip("^")


_PN_DELIMITERS = str.maketrans({"^": " ", "=": " ", "\\": " "})


def _da(value: dt.date) -> str:
    """A DA value as text (pydicom's format), as a dataset read from a file holds it."""
    return str(DA(value))


def _tm(value: dt.time) -> str:
    """A TM value as text: HHMMSS, with fractions only when Mosaiq has them."""
    return str(TM(value))


def _patient(session: Session) -> list[Element]:
    """Patient (C.7.1.1)."""
    patient = session.patient
    name = person_name(patient.last_name, patient.first_name, patient.middle_name, patient.suffix)
    return [
        element("PatientName", name),
        element("PatientID", _string(patient.mrn, _LO)),
        element("PatientBirthDate", _da(patient.birth_date) if patient.birth_date else None),
        element("PatientSex", patient.sex or None),
    ]


def _study(session: Session, study_uid: str) -> list[Element]:
    """General Study (C.7.2.1): the plan's study when Mosaiq knows it."""
    study = session.plan.study
    started = study.started if study else None
    elements = [
        element("StudyInstanceUID", study_uid),
        element("StudyDate", _da(started.date()) if started else None),
        element("StudyTime", _tm(started.time()) if started else None),
        element("ReferringPhysicianName", None),
        element("StudyID", _string(study.study_id, _SH) if study else None),
        element("AccessionNumber", None),
    ]
    if study and study.description:
        elements.append(element("StudyDescription", _string(study.description, _LO)))
    return elements


def _series(session: Session, series_uid: str) -> list[Element]:
    """RT Series (C.8.8.1); SeriesDate is the treatment date, as the DICOM sources' records have."""
    first = session.deliveries[0].treated_at
    fraction = _current_fraction(session)
    description = f"Mosaiq treatment {session.date.isoformat()}"
    return [
        element("Modality", "RTRECORD"),
        element("SeriesInstanceUID", series_uid),
        element("SeriesNumber", fraction),
        element("SeriesDate", _da(first.date())),
        element("SeriesTime", _tm(first.time())),
        element(
            "SeriesDescription", f"{description} fraction {fraction}" if fraction else description
        ),
        element("OperatorsName", None),
    ]


def _current_fraction(session: Session) -> int | None:
    numbers = [d.fraction_number for d in session.deliveries if d.fraction_number is not None]
    return max(numbers) if numbers else None


def _machine(session: Session) -> Element:
    """RT Treatment Machine Record (C.8.8.18): a single machine."""
    machine = session.machine
    return sequence(
        "TreatmentMachineSequence",
        [
            item(
                [
                    element("TreatmentMachineName", _string(machine.name, _SH) or None),
                    element("Manufacturer", None),  # Mosaiq's Machine table names no manufacturer
                    element("InstitutionName", _string(machine.institution, _LO) or None),
                    element("ManufacturerModelName", _string(machine.model, _LO) or None),
                    element("DeviceSerialNumber", None),
                ]
            )
        ],
    )


@dataclass(frozen=True)
class _DoseReference:
    number: int
    description: str
    dose: float


def _calculated_dose_references(session: Session) -> dict[int | None, _DoseReference]:
    """Mosaiq's projected dose per site (Gy, by ``SIT_SET_ID``), numbered from 1.

    Empty when no delivery has a projected dose.
    """
    totals: dict[int | None, tuple[str, float]] = {}
    for delivery in session.deliveries:
        if delivery.projected_dose is None:
            continue
        site = delivery.field.site
        name, total = totals.get(site.sit_set_id, (site.name, 0.0))
        totals[site.sit_set_id] = (name, total + delivery.projected_dose)
    return {
        site: _DoseReference(number, name, total)
        for number, (site, (name, total)) in enumerate(totals.items(), start=1)
    }


def _calculated_dose_reference_sequence(
    references: dict[int | None, _DoseReference],
) -> list[Element]:
    """Calculated Dose Reference Record (C.8.8.20); left out when there is no reference."""
    if not references:
        return []
    items = [
        item(
            [
                element("CalculatedDoseReferenceNumber", reference.number),
                element(
                    "CalculatedDoseReferenceDescription",
                    _string(reference.description, _ST) or None,
                ),
                element("CalculatedDoseReferenceDoseValue", reference.dose),
            ]
        )
        for reference in references.values()
    ]
    return [sequence("CalculatedDoseReferenceSequence", items)]


def _beams_session(
    session: Session, dose_references: dict[int | None, _DoseReference], creator: str
) -> list[Element]:
    """RT Beams Session Record (C.8.8.21): one Treatment Session Beam item per delivery."""
    offsets = continuation_offsets(session.deliveries)
    beams = [
        _beam(delivery, offset, dose_references, creator)
        for delivery, offset in zip(session.deliveries, offsets, strict=True)
    ]
    return [
        element("NumberOfFractionsPlanned", session.deliveries[0].field.site.fractions_planned),
        element("PrimaryDosimeterUnit", "MU"),
        sequence("TreatmentSessionBeamSequence", beams),
    ]


def continuation_offsets(deliveries: Sequence[Delivery]) -> list[float]:
    """The meterset each delivery resumes from: 0, or what earlier interrupted deliveries gave.

    A delivery of a field continues an interrupted one (PS3.3 C.8.8.21, Treatment Delivery Type
    CONTINUATION) when the field's previous delivery in the session stopped short: terminated
    other than NORMAL and below the planned meterset. Complete deliveries (two fractions on one
    date) each start from 0.
    """
    offsets = []
    given: dict[int, float] = {}
    for delivery in deliveries:
        field = delivery.field
        offset = given.get(field.fld_id, 0.0)
        offsets.append(offset)
        done = offset + delivery.delivered_meterset
        planned = field.planned_meterset
        complete = delivery.termination_status == "NORMAL" or planned is None or done >= planned
        given[field.fld_id] = 0.0 if complete else done
    return offsets


def control_point_metersets(
    weight: float, planned: float | None, delivered: float, offset: float = 0.0
) -> tuple[float, float]:
    """The Specified and Delivered Meterset (MU) up to a control point (PS3.3 C.8.8.21).

    Args:
        weight: The control point's cumulative meterset weight (0 to 1).
        planned: The field's planned meterset; None when unknown.
        delivered: What this delivery gave (``Dose_Hst.Meterset``).
        offset: Where this delivery resumed (:func:`continuation_offsets`).

    Returns:
        ``(specified, delivered)``: a complete beam's points scale to the delivered total; an
        interrupted one followed the plan until it stopped, so points past the stop hold the
        delivered total; a continuation counts from where it resumed.
    """
    if planned is None or planned <= 0:
        return weight * delivered, weight * delivered
    remaining = max(weight * planned - offset, 0.0)
    if offset == 0 and delivered >= planned:
        return remaining, weight * delivered
    return remaining, min(remaining, delivered)


def _beam(
    delivery: Delivery,
    offset: float,
    dose_references: dict[int | None, _DoseReference],
    creator: str,
) -> bytes:
    """One Treatment Session Beam Sequence item."""
    field = delivery.field
    points = field.control_points
    elements = [
        element("BeamType", beam_type(points)),
        element("RadiationType", field.radiation_type),
        sequence(
            "BeamLimitingDeviceLeafPairsSequence",
            [
                item(
                    [
                        element("RTBeamLimitingDeviceType", device),
                        element("NumberOfLeafJawPairs", len(positions) // 2),
                    ]
                )
                for device, positions in _devices(points[0]).items()
            ],
        ),
        # Mosaiq's wedge, compensator, bolus and block columns are not read: none are recorded
        # (Type 1 wants a number), the others are Type 2 and stay empty.
        element("NumberOfWedges", 0),
        element("NumberOfCompensators", None),
        element("NumberOfBoli", None),
        element("NumberOfBlocks", None),
        element("CurrentFractionNumber", delivery.fraction_number),
        element(
            "TreatmentDeliveryType",
            "CONTINUATION"
            if offset > 0 and field.delivery_type == "TREATMENT"
            else field.delivery_type,
        ),
        element("TreatmentTerminationStatus", delivery.termination_status),
        element("TreatmentVerificationStatus", delivery.verification_status or None),
        element("DeliveredPrimaryMeterset", delivery.delivered_meterset),
        element("NumberOfControlPoints", len(points)),
        sequence("ControlPointDeliverySequence", control_point_delivery(delivery, offset)),
    ]
    if field.beam_number is not None:
        elements.append(element("ReferencedBeamNumber", field.beam_number))
    if field.beam_name:
        elements.append(element("BeamName", _string(field.beam_name, _LO)))
    if field.description:
        elements.append(element("BeamDescription", _string(field.description, _ST)))
    if field.source_axis_distance is not None:
        elements.append(element("SourceAxisDistance", field.source_axis_distance))
    reference = dose_references.get(field.site.sit_set_id)
    if reference is not None and delivery.projected_dose is not None:
        referenced = [
            element("ReferencedCalculatedDoseReferenceNumber", reference.number),
            element("CalculatedDoseReferenceDoseValue", delivery.projected_dose),
        ]
        elements.append(sequence("ReferencedCalculatedDoseReferenceSequence", [item(referenced)]))
    if delivery.termination_code:
        code = _string(delivery.termination_code, _SH)
        elements.append(element("TreatmentTerminationCode", code))
    if field.planned_meterset is not None:
        specified = max(field.planned_meterset - offset, 0.0)
        elements.append(element("SpecifiedPrimaryMeterset", specified))
    values: list[tuple[int, str, Value]] = [
        (PRIVATE_SITE_NAME, "LO", _string(field.site.name, _LO)),
        (PRIVATE_SETUP_NOTE, "UT", _note(field.site.setup_note)),
        (PRIVATE_DOSE_HST_ID, "IS", delivery.dhs_id),
        (PRIVATE_FIELD_ID, "IS", field.fld_id),
    ]
    return item([*elements, *_private_block(creator, values)])


def _private_block(creator: str, values: Sequence[tuple[int, str, Value]]) -> list[Element]:
    """The private block of `creator` (PS3.5 7.8.1, block 0x10 of :data:`PRIVATE_GROUP`).

    Args:
        creator: The Private Creator.
        values: ``(element offset, VR, value)``; empty values are left out, and the block
            with them when none is left.
    """
    present = [
        private(_PRIVATE_BLOCK | offset, vr, value)
        for offset, vr, value in values
        if value is not None and value != ""
    ]
    return [private(_PRIVATE_CREATOR, "LO", creator), *present] if present else []


def beam_type(points: Sequence[ControlPoint]) -> str:
    """STATIC, or DYNAMIC when a beam parameter changes between control points (PS3.3 C.8.8.14).

    The parameters: energy, gantry, collimator and patient support angles, jaws and MLC;
    an unknown (NULL) value is no change.
    """
    readings: list[Callable[[ControlPoint], object]] = [
        lambda p: p.energy,
        lambda p: p.gantry_angle,
        lambda p: p.collimator_angle,
        lambda p: p.couch_angle,
        lambda p: p.jaws_x,
        lambda p: p.jaws_y,
        lambda p: p.mlc,
    ]
    for read in readings:
        if len({value for value in map(read, points) if value is not None}) > 1:
            return "DYNAMIC"
    return "STATIC"


def _devices(point: ControlPoint) -> dict[str, tuple[float, ...] | LeafPositions]:
    """The beam limiting device positions of a control point, by RT Beam Limiting Device Type."""
    devices: dict[str, tuple[float, ...] | LeafPositions] = {}
    if point.jaws_x is not None:
        devices["ASYMX"] = point.jaws_x
    if point.jaws_y is not None:
        devices["ASYMY"] = point.jaws_y
    if point.mlc is not None:
        devices["MLCX"] = point.mlc
    return devices


def rotation_directions(angles: Sequence[float | None], increasing: str) -> list[str | None]:
    """Rotation directions derived from the angles, for the segment after each control point.

    PS3.3 C.8.8.14 defines each direction "for segment following Control Point". The turn to
    the next known angle takes the short way round (350 -> 10 is +20 degrees); an increasing
    IEC 61217 angle turns `increasing` as DICOM views it: CW for the gantry (seen from the
    isocentre) and the collimator (seen from the isocentre, as pymedphys ``angle_dd2dcm`` also
    reads it), CC for the patient support (seen from above). NONE after the last known angle;
    None (not known) where the angle itself is unknown.
    """
    decreasing = "CC" if increasing == "CW" else "CW"
    directions: list[str | None] = []
    following: float | None = None
    for current in reversed(angles):
        if current is None:
            directions.append(None)
            continue
        turn = 0.0 if following is None else (following - current + HALF_TURN) % DEGREES - HALF_TURN
        directions.append("NONE" if turn == 0 else increasing if turn > 0 else decreasing)
        following = current
    return directions[::-1]


@dataclass(frozen=True)
class _Energy:
    """Nominal Beam Energy and its unit, written together."""

    value: float
    unit: str


def control_point_delivery(delivery: Delivery, offset: float = 0.0) -> list[bytes]:
    """The Control Point Delivery Sequence items of one delivery (PS3.3 C.8.8.21), encoded.

    Every point has its date and time (the delivery's ``Tx_DtTm``: Mosaiq keeps no time per
    point) and its Specified and Delivered Meterset (:func:`control_point_metersets`). The
    other attributes are Type 1C/2C "required for the first item, or if it changes during the
    beam": each is written at the first point and where its value changes, and an unknown
    (NULL) value later in the beam is no change (:func:`setting_changes`); the angles,
    directions and table top positions are written at the first point even when unknown
    (empty), the energy and beam limiting devices once known. Directions come from Mosaiq's
    enumerations when recorded, else from the angles (:func:`rotation_directions`).
    """
    points = delivery.field.control_points
    written: list[list[Element]] = [[] for _ in points]
    energies = [
        _Energy(p.energy, p.energy_unit) if p.energy is not None and p.energy_unit else None
        for p in points
    ]
    for i, energy in setting_changes(energies, empty_at_first=False):
        if energy is not None:
            written[i] += [
                element("NominalBeamEnergy", energy.value),
                element("NominalBeamEnergyUnit", energy.unit),
            ]
    for keyword, values in _angles_and_positions(points).items():
        changes = setting_changes(values, empty_at_first=True)
        encoded = element_column(keyword, [value for _, value in changes])
        for (i, _), changed in zip(changes, encoded, strict=True):
            written[i].append(changed)
    # Mosaiq records no table top eccentric rotation: an isocentric couch has none.
    written[0] += [
        element("TableTopEccentricAngle", 0.0),
        element("TableTopEccentricRotationDirection", "NONE"),
    ]
    devices: list[list[bytes]] = [[] for _ in points]
    for device, positions in _device_positions(points).items():
        device_type = element("RTBeamLimitingDeviceType", device)
        for i, leaf_jaw_positions in positions:
            devices[i].append(item([device_type, element("LeafJawPositions", leaf_jaw_positions)]))
    treated = [
        element("TreatmentControlPointDate", _da(delivery.treated_at.date())),
        element("TreatmentControlPointTime", _tm(delivery.treated_at.time())),
        # Mosaiq's TxFieldPoint columns read here hold no dose rate: Type 2, empty.
        element("DoseRateSet", None),
        element("DoseRateDelivered", None),
    ]
    planned, given = delivery.field.planned_meterset, delivery.delivered_meterset
    metersets = [
        control_point_metersets(p.cumulative_weight, planned, given, offset) for p in points
    ]
    indices = element_column("ReferencedControlPointIndex", [p.index for p in points])
    specified = element_column("SpecifiedMeterset", [value for value, _ in metersets])
    delivered = element_column("DeliveredMeterset", [value for _, value in metersets])
    items = []
    for i, (settings, device_items) in enumerate(zip(written, devices, strict=True)):
        point = [*treated, indices[i], specified[i], delivered[i], *settings]
        if device_items:
            point.append(sequence("BeamLimitingDevicePositionSequence", device_items))
        items.append(item(point))
    return items


def _angles_and_positions(points: Sequence[ControlPoint]) -> dict[str, list[float | str | None]]:
    """The angles, directions and table top positions of the control points, by keyword."""
    gantry = rotation_directions([p.gantry_angle for p in points], "CW")
    collimator = rotation_directions([p.collimator_angle for p in points], "CW")
    couch = rotation_directions([p.couch_angle for p in points], "CC")
    return {
        "GantryAngle": [p.gantry_angle for p in points],
        "GantryRotationDirection": [
            p.gantry_direction or d for p, d in zip(points, gantry, strict=True)
        ],
        "BeamLimitingDeviceAngle": [p.collimator_angle for p in points],
        "BeamLimitingDeviceRotationDirection": [
            p.collimator_direction or d for p, d in zip(points, collimator, strict=True)
        ],
        "PatientSupportAngle": [p.couch_angle for p in points],
        "PatientSupportRotationDirection": [
            p.couch_direction or d for p, d in zip(points, couch, strict=True)
        ],
        "TableTopVerticalPosition": [p.couch_vertical for p in points],
        "TableTopLongitudinalPosition": [p.couch_longitudinal for p in points],
        "TableTopLateralPosition": [p.couch_lateral for p in points],
    }


def _device_positions(points: Sequence[ControlPoint]) -> dict[str, list[tuple[int, Value]]]:
    """Where each beam limiting device's positions are written, and their Leaf/Jaw Positions.

    By RT Beam Limiting Device Type, in the order the items are written: the jaws' values as
    numbers, the MLC's as DS text made in one pass (:func:`.mlc.tenths_of_mm`).
    """
    jaws: dict[str, list[tuple[float, ...] | None]] = {
        "ASYMX": [p.jaws_x for p in points],
        "ASYMY": [p.jaws_y for p in points],
    }
    positions: dict[str, list[tuple[int, Value]]] = {
        device: list(setting_changes(values, empty_at_first=False))
        for device, values in jaws.items()
    }
    mlc = [
        (i, value)
        for i, value in setting_changes([p.mlc for p in points], empty_at_first=False)
        if value is not None
    ]
    texts = tenths_of_mm([value.tenths_mm for _, value in mlc])
    positions["MLCX"] = [(i, text) for (i, _), text in zip(mlc, texts, strict=True)]
    return positions


def setting_changes(values: Sequence[_T], *, empty_at_first: bool) -> list[tuple[int, _T | None]]:
    """Where a setting is written, and its value: at the first point and where it changes.

    An unknown value (None) is no change. At the first point an unknown value is written
    (empty) when `empty_at_first`, else the setting is first written where it becomes known.

    Args:
        values: The setting at each control point.
        empty_at_first: Whether the setting is Type 2C (written empty when unknown).

    Returns:
        ``(control point position, value)`` pairs.
    """
    changes: list[tuple[int, _T | None]] = (
        [(0, None)] if values[0] is None and empty_at_first else []
    )
    last: _T | None = None
    for i, value in enumerate(values):
        if value is not None and value != last:
            changes.append((i, value))
            last = value
    return changes


def _treatment_summary(session: Session) -> list[Element]:
    """RT Treatment Summary Record (C.8.8.23), when the fractions planned and given are known.

    As of this session, so that it never changes: the most recent treatment is this date,
    the first is the earliest ``TxField.Start_DtTm`` of the session's fields.
    """
    planned = session.deliveries[0].field.site.fractions_planned
    current = _current_fraction(session)
    if planned is None or current is None:
        return []
    starts = [d.field.first_treatment for d in session.deliveries if d.field.first_treatment]
    summary = [
        element("FractionGroupType", "EXTERNAL_BEAM"),
        element("NumberOfFractionsPlanned", planned),
        element("NumberOfFractionsDelivered", current),
    ]
    return [
        element("CurrentTreatmentStatus", "COMPLETED" if current >= planned else "ON_TREATMENT"),
        element("FirstTreatmentDate", _da(min(starts).date()) if starts else None),
        element("MostRecentTreatmentDate", _da(session.date)),
        sequence("FractionGroupSummarySequence", [item(summary)]),
    ]


def _session_private_block(session: Session, creator: str) -> list[Element]:
    """Plan label and activity (no standard attribute holds them) in the private block."""
    appointment = session.appointment
    values: list[tuple[int, str, Value]] = [
        (PRIVATE_PLAN_LABEL, "LO", _string(session.plan.label, _LO)),
        (PRIVATE_ACTIVITY, "LO", _string(appointment.activity, _LO) if appointment else ""),
        (
            PRIVATE_ACTIVITY_DESCRIPTION,
            "LO",
            _string(appointment.description, _LO) if appointment else "",
        ),
    ]
    return _private_block(creator, values)


def record_settings(site: SiteConfig) -> RecordSettings:
    """The UID root and private creator of the site's records (defaults where unset).

    Raises:
        ConfigError: A setting the site file accepts but a record cannot use (a private
            creator of spaces or control characters).
    """
    settings = site.settings
    try:
        return RecordSettings(
            **{
                key: value
                for key, value in (
                    ("uid_root", settings.uid_root),
                    ("private_creator", settings.mosaiq_private_creator),
                )
                if value
            }
        )
    except ValueError as exc:
        raise site.problem("settings", str(exc)) from exc
