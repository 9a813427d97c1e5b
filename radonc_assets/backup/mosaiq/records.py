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
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydicom import Dataset
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    PYDICOM_ROOT_UID,
    UID,
    ExplicitVRLittleEndian,
    RTBeamsTreatmentRecordStorage,
    RTPlanStorage,
    generate_uid,
)
from pydicom.valuerep import DA, TM, DSfloat, format_number_as_ds

from radonc_assets.backup.mosaiq.model import ControlPoint, Delivery, Session
from radonc_assets.site.config import SiteConfig

LOGGER = logging.getLogger(__name__)

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

MANUFACTURER = "radonc-backup"
_MODEL_NAME = "Mosaiq RT Beams Treatment Record export"
_IMPLEMENTATION_VERSION = "RADONC_MOSAIQ_1"
# PS3.3 C.12.1.1.2: ISO_IR 192 is UTF-8; Mosaiq names are Unicode.
_CHARACTER_SET = "ISO_IR 192"
# PS3.5 6.2 value lengths (characters).
_SH, _LO, _ST, _PN_GROUP, _DS = 16, 64, 1024, 64, 16
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# PS3.5 6.1.3: UT may hold CR, LF, FF and ESC besides graphic characters.
_NOTE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x09\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_DEGREES = 360.0
_HALF_TURN = 180.0


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
    """The RT Beams Treatment Record of one session, with file meta (Explicit VR Little Endian).

    Args:
        session: The deliveries of one patient and plan on one date and machine.
        settings: UID root and private creator; pydicom's root and the default creator if None.

    Returns:
        The dataset, ready for ``dcmwrite(..., enforce_file_format=True)`` or C-STORE.
    """
    settings = settings or RecordSettings()
    uids = record_uids(session, settings.uid_root)
    ds = _file_dataset(uids.instance)
    first, last = session.deliveries[0].treated_at, session.deliveries[-1].treated_at
    # SOP Common (C.12.1)
    ds.SpecificCharacterSet = _CHARACTER_SET
    ds.SOPClassUID = RTBeamsTreatmentRecordStorage
    ds.SOPInstanceUID = uids.instance
    ds.InstanceCreationDate = _da(last.date())
    ds.InstanceCreationTime = _tm(last.time())
    _patient(ds, session)
    _study(ds, session, uids.study)
    _series(ds, session, uids.series)
    # General Equipment (C.7.5.1): the equipment that made this instance, i.e. this export.
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = _MODEL_NAME
    if session.machine.institution:
        ds.InstitutionName = _string(session.machine.institution, _LO)
    # RT General Treatment Record (C.8.8.17)
    ds.InstanceNumber = len(session.deliveries)
    ds.TreatmentDate = _da(first.date())
    ds.TreatmentTime = _tm(first.time())
    ds.ReferencedRTPlanSequence = (
        [_item(ReferencedSOPClassUID=RTPlanStorage, ReferencedSOPInstanceUID=session.plan.uid)]
        if session.plan.uid
        else []
    )
    _machine(ds, session)
    dose_references = _calculated_dose_references(ds, session)
    _beams_session(ds, session, dose_references, settings.private_creator)
    _treatment_summary(ds, session)
    _session_private_block(ds, session, settings.private_creator)
    LOGGER.debug(
        "record %s: %d deliveries of Pat_ID1 %s on %s",
        uids.instance,
        len(session.deliveries),
        session.patient.pat_id1,
        session.date,
    )
    return ds


def _file_dataset(instance_uid: str) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTBeamsTreatmentRecordStorage
    meta.MediaStorageSOPInstanceUID = UID(instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION
    return FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128, is_implicit_VR=False)


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


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


def _ds_text(value: float) -> str:
    """A DS value's text, at most 16 characters (PS3.5 6.2).

    Python's shortest round-trip text when it fits: a clean value (an MLC position, 0.1 mm
    steps) fits, a float carrying arithmetic noise never does (its text has 16 or more
    digits), and is rounded to 1e-6 (sub-micrometre, sub-microMU) instead, so
    ``7.000000000000001`` (0.7 cm in mm) is written ``7``. A record holds some 30,000
    values: the short path matters (measured).
    """
    text = repr(value + 0.0)  # + 0.0 turns -0.0 into 0.0
    if len(text) <= _DS:
        return text
    rounded = round(value, 6) + 0.0
    text = f"{rounded:.6f}".rstrip("0").rstrip(".")
    return text if len(text) <= _DS else format_number_as_ds(rounded)


def _ds(value: float) -> DSfloat:
    """A DS value (:func:`_ds_text`)."""
    return DSfloat(_ds_text(value))


def _patient(ds: Dataset, session: Session) -> None:
    """Patient (C.7.1.1)."""
    patient = session.patient
    ds.PatientName = person_name(
        patient.last_name, patient.first_name, patient.middle_name, patient.suffix
    )
    ds.PatientID = _string(patient.mrn, _LO)
    ds.PatientBirthDate = _da(patient.birth_date) if patient.birth_date else None
    ds.PatientSex = patient.sex or None


def _study(ds: Dataset, session: Session, study_uid: str) -> None:
    """General Study (C.7.2.1): the plan's study when Mosaiq knows it."""
    study = session.plan.study
    started = study.started if study else None
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = _da(started.date()) if started else None
    ds.StudyTime = _tm(started.time()) if started else None
    ds.ReferringPhysicianName = None
    ds.StudyID = _string(study.study_id, _SH) if study else None
    ds.AccessionNumber = None
    if study and study.description:
        ds.StudyDescription = _string(study.description, _LO)


def _series(ds: Dataset, session: Session, series_uid: str) -> None:
    """RT Series (C.8.8.1); SeriesDate is the treatment date, as the DICOM sources' records have."""
    first = session.deliveries[0].treated_at
    fraction = _current_fraction(session)
    ds.Modality = "RTRECORD"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = fraction
    ds.SeriesDate = _da(first.date())
    ds.SeriesTime = _tm(first.time())
    description = f"Mosaiq treatment {session.date.isoformat()}"
    ds.SeriesDescription = f"{description} fraction {fraction}" if fraction else description
    ds.OperatorsName = None


def _current_fraction(session: Session) -> int | None:
    numbers = [d.fraction_number for d in session.deliveries if d.fraction_number is not None]
    return max(numbers) if numbers else None


def _machine(ds: Dataset, session: Session) -> None:
    """RT Treatment Machine Record (C.8.8.18): a single machine."""
    machine = session.machine
    ds.TreatmentMachineSequence = [
        _item(
            TreatmentMachineName=_string(machine.name, _SH) or None,
            Manufacturer=None,  # Mosaiq's Machine table names no manufacturer
            InstitutionName=_string(machine.institution, _LO) or None,
            ManufacturerModelName=_string(machine.model, _LO) or None,
            DeviceSerialNumber=None,
        )
    ]


def _calculated_dose_references(ds: Dataset, session: Session) -> dict[int | None, int]:
    """Calculated Dose Reference Record (C.8.8.20): Mosaiq's projected dose per site (Gy).

    Returns:
        The Calculated Dose Reference Number of each site (by ``SIT_SET_ID``), empty when
        no delivery has a projected dose (the module is then left out).
    """
    totals: dict[int | None, tuple[str, float]] = {}
    for delivery in session.deliveries:
        if delivery.projected_dose is None:
            continue
        site = delivery.field.site
        name, total = totals.get(site.sit_set_id, (site.name, 0.0))
        totals[site.sit_set_id] = (name, total + delivery.projected_dose)
    if not totals:
        return {}
    numbers = {site: number for number, site in enumerate(totals, start=1)}
    ds.CalculatedDoseReferenceSequence = [
        _item(
            CalculatedDoseReferenceNumber=numbers[site],
            CalculatedDoseReferenceDescription=_string(name, _ST) or None,
            CalculatedDoseReferenceDoseValue=_ds(total),
        )
        for site, (name, total) in totals.items()
    ]
    return numbers


def _beams_session(
    ds: Dataset, session: Session, dose_references: dict[int | None, int], creator: str
) -> None:
    """RT Beams Session Record (C.8.8.21): one Treatment Session Beam item per delivery."""
    ds.NumberOfFractionsPlanned = session.deliveries[0].field.site.fractions_planned
    ds.PrimaryDosimeterUnit = "MU"
    offsets = continuation_offsets(session.deliveries)
    ds.TreatmentSessionBeamSequence = [
        _beam(delivery, offset, dose_references, creator)
        for delivery, offset in zip(session.deliveries, offsets, strict=True)
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
    delivery: Delivery, offset: float, dose_references: dict[int | None, int], creator: str
) -> Dataset:
    field = delivery.field
    points = field.control_points
    beam = Dataset()
    if field.beam_number is not None:
        beam.ReferencedBeamNumber = field.beam_number
    if field.beam_name:
        beam.BeamName = _string(field.beam_name, _LO)
    if field.description:
        beam.BeamDescription = _string(field.description, _ST)
    beam.BeamType = beam_type(points)
    beam.RadiationType = field.radiation_type
    if field.source_axis_distance is not None:
        beam.SourceAxisDistance = _ds(field.source_axis_distance)
    beam.BeamLimitingDeviceLeafPairsSequence = [
        _item(RTBeamLimitingDeviceType=device, NumberOfLeafJawPairs=len(positions) // 2)
        for device, positions in _devices(points[0]).items()
    ]
    number = dose_references.get(field.site.sit_set_id)
    if number is not None and delivery.projected_dose is not None:
        beam.ReferencedCalculatedDoseReferenceSequence = [
            _item(
                ReferencedCalculatedDoseReferenceNumber=number,
                CalculatedDoseReferenceDoseValue=_ds(delivery.projected_dose),
            )
        ]
    # Mosaiq's wedge, compensator, bolus and block columns are not read: none are recorded
    # (Type 1 wants a number), the others are Type 2 and stay empty.
    beam.NumberOfWedges = 0
    beam.NumberOfCompensators = None
    beam.NumberOfBoli = None
    beam.NumberOfBlocks = None
    beam.CurrentFractionNumber = delivery.fraction_number
    resumed = offset > 0 and field.delivery_type == "TREATMENT"
    beam.TreatmentDeliveryType = "CONTINUATION" if resumed else field.delivery_type
    beam.TreatmentTerminationStatus = delivery.termination_status
    if delivery.termination_code:
        beam.TreatmentTerminationCode = _string(delivery.termination_code, _SH)
    beam.TreatmentVerificationStatus = delivery.verification_status or None
    if field.planned_meterset is not None:
        beam.SpecifiedPrimaryMeterset = _ds(max(field.planned_meterset - offset, 0.0))
    beam.DeliveredPrimaryMeterset = _ds(delivery.delivered_meterset)
    beam.NumberOfControlPoints = len(points)
    beam.ControlPointDeliverySequence = control_point_delivery(delivery, offset)
    block = beam.private_block(PRIVATE_GROUP, creator, create=True)
    if field.site.name:
        block.add_new(PRIVATE_SITE_NAME, "LO", _string(field.site.name, _LO))
    if field.site.setup_note:
        block.add_new(PRIVATE_SETUP_NOTE, "UT", _note(field.site.setup_note))
    block.add_new(PRIVATE_DOSE_HST_ID, "IS", delivery.dhs_id)
    block.add_new(PRIVATE_FIELD_ID, "IS", field.fld_id)
    return beam


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


def _devices(point: ControlPoint) -> dict[str, tuple[float, ...]]:
    """The beam limiting device positions of a control point, by RT Beam Limiting Device Type."""
    devices: dict[str, tuple[float, ...]] = {}
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
        turn = (
            0.0 if following is None else (following - current + _HALF_TURN) % _DEGREES - _HALF_TURN
        )
        directions.append("NONE" if turn == 0 else increasing if turn > 0 else decreasing)
        following = current
    return directions[::-1]


# Keys of a control point's settings that are not DICOM keywords: the energy (written with its
# unit) and the beam limiting devices (written as Beam Limiting Device Position items).
_ENERGY = "energy"
_DEVICE_TYPES = ("ASYMX", "ASYMY", "MLCX")
_LEAF_JAW_POSITIONS = Tag("LeafJawPositions")


def control_point_delivery(delivery: Delivery, offset: float = 0.0) -> list[Dataset]:
    """The Control Point Delivery Sequence of one delivery (PS3.3 C.8.8.21).

    Every point has its date and time (the delivery's ``Tx_DtTm``: Mosaiq keeps no time per
    point) and its Specified and Delivered Meterset (:func:`control_point_metersets`). The
    other attributes are Type 1C/2C "required for the first item, or if it changes during the
    beam": each is written at the first point and where its value changes, and an unknown
    (NULL) value later in the beam is no change. Directions come from Mosaiq's enumerations
    when recorded, else from the angles (:func:`rotation_directions`).
    """
    points = delivery.field.control_points
    gantry = rotation_directions([p.gantry_angle for p in points], "CW")
    collimator = rotation_directions([p.collimator_angle for p in points], "CW")
    couch = rotation_directions([p.couch_angle for p in points], "CC")
    written: dict[str, object] = {}
    sequence = []
    for i, point in enumerate(points):
        settings: dict[str, object] = {
            _ENERGY: (point.energy, point.energy_unit)
            if point.energy is not None and point.energy_unit
            else None,
            **_devices(point),
            "GantryAngle": point.gantry_angle,
            "GantryRotationDirection": point.gantry_direction or gantry[i],
            "BeamLimitingDeviceAngle": point.collimator_angle,
            "BeamLimitingDeviceRotationDirection": point.collimator_direction or collimator[i],
            "PatientSupportAngle": point.couch_angle,
            "PatientSupportRotationDirection": point.couch_direction or couch[i],
            "TableTopVerticalPosition": point.couch_vertical,
            "TableTopLongitudinalPosition": point.couch_longitudinal,
            "TableTopLateralPosition": point.couch_lateral,
        }
        if i == 0:
            # Mosaiq records no table top eccentric rotation: an isocentric couch has none.
            settings |= {
                "TableTopEccentricAngle": 0.0,
                "TableTopEccentricRotationDirection": "NONE",
            }
            changed = settings
        else:
            changed = {k: v for k, v in settings.items() if v is not None and written.get(k) != v}
        written |= {k: v for k, v in settings.items() if v is not None}
        sequence.append(_control_point_item(delivery, point, offset, changed))
    return sequence


def _leaf_jaw_positions(positions: Sequence[float]) -> RawDataElement:
    """Leaf/Jaw Positions (300A,011C), DS, kept encoded (Explicit VR Little Endian).

    An 80-pair MLC over 100 control points is 16,000 values per beam, and pydicom turns each
    value of a list into a DSfloat (about 10 us each, measured: most of a record's time).
    Encoded once here, the element is written as is and decoded only if read, as pydicom
    does with the elements of a file it reads.
    """
    text = "\\".join(map(_ds_text, positions))
    value = text.encode("ascii") + b" " * (len(text) % 2)  # PS3.5 7.1: even length
    return RawDataElement(_LEAF_JAW_POSITIONS, "DS", len(value), value, 0, False, True)


def _control_point_item(
    delivery: Delivery, point: ControlPoint, offset: float, changed: dict[str, object]
) -> Dataset:
    specified, delivered = control_point_metersets(
        point.cumulative_weight,
        delivery.field.planned_meterset,
        delivery.delivered_meterset,
        offset,
    )
    item = _item(
        ReferencedControlPointIndex=point.index,
        TreatmentControlPointDate=_da(delivery.treated_at.date()),
        TreatmentControlPointTime=_tm(delivery.treated_at.time()),
        SpecifiedMeterset=_ds(specified),
        DeliveredMeterset=_ds(delivered),
        # Mosaiq's TxFieldPoint columns read here hold no dose rate: Type 2, empty.
        DoseRateSet=None,
        DoseRateDelivered=None,
    )
    positions = []
    for key, value in changed.items():
        if key == _ENERGY:
            if isinstance(value, tuple):
                item.NominalBeamEnergy = _ds(value[0])
                item.NominalBeamEnergyUnit = value[1]
        elif key in _DEVICE_TYPES and isinstance(value, tuple):
            device = _item(RTBeamLimitingDeviceType=key)
            device[_LEAF_JAW_POSITIONS] = _leaf_jaw_positions(value)
            positions.append(device)
        else:
            # At the first point an unknown table top position (Type 2C) is written empty.
            setattr(item, key, _ds(value) if isinstance(value, float) else value)
    if positions:
        item.BeamLimitingDevicePositionSequence = positions
    return item


def _treatment_summary(ds: Dataset, session: Session) -> None:
    """RT Treatment Summary Record (C.8.8.23), when the fractions planned and given are known.

    As of this session, so that it never changes: the most recent treatment is this date,
    the first is the earliest ``TxField.Start_DtTm`` of the session's fields.
    """
    planned = session.deliveries[0].field.site.fractions_planned
    current = _current_fraction(session)
    if planned is None or current is None:
        return
    starts = [d.field.first_treatment for d in session.deliveries if d.field.first_treatment]
    ds.CurrentTreatmentStatus = "COMPLETED" if current >= planned else "ON_TREATMENT"
    ds.FirstTreatmentDate = _da(min(starts).date()) if starts else None
    ds.MostRecentTreatmentDate = _da(session.date)
    ds.FractionGroupSummarySequence = [
        _item(
            FractionGroupType="EXTERNAL_BEAM",
            NumberOfFractionsPlanned=planned,
            NumberOfFractionsDelivered=current,
        )
    ]


def _session_private_block(ds: Dataset, session: Session, creator: str) -> None:
    """Plan label and activity (no standard attribute holds them) in the private block."""
    appointment = session.appointment
    values = (
        (PRIVATE_PLAN_LABEL, session.plan.label),
        (PRIVATE_ACTIVITY, appointment.activity if appointment else ""),
        (PRIVATE_ACTIVITY_DESCRIPTION, appointment.description if appointment else ""),
    )
    present = [(offset, value) for offset, value in values if value]
    if not present:
        return
    block = ds.private_block(PRIVATE_GROUP, creator, create=True)
    for offset, value in present:
        block.add_new(offset, "LO", _string(value, _LO))


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
