"""The synthetic RT Beams Treatment Records: one per treatment session, delivering the plan.

Each patient is treated at the same daily slot (:func:`_session_time`, from 08:00, 15 minutes
apart by patient) on the session days of its :class:`.patient.Patient`; every record delivers all
beams of the RT Plan exactly as planned, two minutes apart, on the plan's machine.
"""

import datetime

from pydicom import Dataset
from pydicom.dataset import FileDataset
from pydicom.uid import RTBeamsTreatmentRecordStorage, RTPlanStorage

from radonc_assets.devtools.synthetic.patient import (
    INSTITUTION,
    MANUFACTURER,
    Patient,
    da,
    instance,
    item,
    reference,
    tm,
)
from radonc_assets.devtools.synthetic.rtplan import DOSE_RATE, ENERGY_MV, MACHINE, gantry_angle

_SESSION_SLOT_MINUTES = 15
_BEAM_SLOT_MINUTES = 2

_FIRST_SESSION_TIME = datetime.time(8, 0)


def _session_beam(patient: Patient, beam_number: int, session: int) -> Dataset:
    """Return the delivery record of one beam in treatment session `session` (0-based)."""
    meterset = patient.metersets[beam_number - 1]
    start = datetime.datetime.combine(
        patient.sessions[session], _session_time(patient)
    ) + datetime.timedelta(minutes=_BEAM_SLOT_MINUTES * (beam_number - 1))
    end = start + datetime.timedelta(minutes=1)
    control_points = [
        item(
            ReferencedControlPointIndex=index,
            TreatmentControlPointDate=da(moment.date()),
            TreatmentControlPointTime=tm(moment.time()),
            SpecifiedMeterset=weight * meterset,
            DeliveredMeterset=weight * meterset,
            DoseRateDelivered=DOSE_RATE,
        )
        for index, (moment, weight) in enumerate([(start, 0), (end, 1)])
    ]
    control_points[0].NominalBeamEnergy = ENERGY_MV
    control_points[0].GantryAngle = gantry_angle(patient, beam_number)
    return item(
        ReferencedBeamNumber=beam_number,
        BeamName=f"G{gantry_angle(patient, beam_number):03.0f}",
        BeamType="STATIC",
        RadiationType="PHOTON",
        NumberOfWedges=0,
        NumberOfCompensators=0,
        NumberOfBoli=0,
        NumberOfBlocks=0,
        CurrentFractionNumber=session + 1,
        TreatmentDeliveryType="TREATMENT",
        TreatmentTerminationStatus="NORMAL",
        TreatmentVerificationStatus="VERIFIED",
        SpecifiedPrimaryMeterset=meterset,
        DeliveredPrimaryMeterset=meterset,
        NumberOfControlPoints=2,
        ControlPointDeliverySequence=control_points,
    )


def _session_time(patient: Patient) -> datetime.time:
    """Return the patient's daily treatment slot (from 08:00, 15 minutes apart)."""
    minutes = _FIRST_SESSION_TIME.hour * 60 + _SESSION_SLOT_MINUTES * (patient.index % 36)
    return datetime.time(minutes // 60, minutes % 60)


def treatment_record(patient: Patient, session: int) -> FileDataset:
    """Return the RT Beams Treatment Record of treatment session `session` (0-based)."""
    date = patient.sessions[session]
    time = _session_time(patient)
    ds = instance(
        patient,
        sop_class=RTBeamsTreatmentRecordStorage,
        sop_instance=patient.uid("rtrecord", session),
        modality="RTRECORD",
        series=patient.uid("rtrecord-series", session),
        series_number=101 + session,
        instance_number=session + 1,
        date=date,
        time=time,
        description=f"SYNTHETIC treatment fraction {session + 1}",
        frame_of_reference=False,
    )
    ds.TreatmentDate = da(date)
    ds.TreatmentTime = tm(time)
    ds.ReferencedRTPlanSequence = [reference(RTPlanStorage, patient.uid("rtplan"))]
    ds.TreatmentMachineSequence = [
        item(
            TreatmentMachineName=MACHINE,
            Manufacturer=MANUFACTURER,
            InstitutionName=INSTITUTION,
            ManufacturerModelName="SYNTHETIC LINAC",
            DeviceSerialNumber="SYN-0001",
        )
    ]
    ds.ReferencedFractionGroupNumber = 1
    ds.NumberOfFractionsPlanned = patient.spec.fractions
    ds.PrimaryDosimeterUnit = "MU"
    ds.TreatmentSessionBeamSequence = [
        _session_beam(patient, number, session) for number in range(1, len(patient.metersets) + 1)
    ]
    return ds
