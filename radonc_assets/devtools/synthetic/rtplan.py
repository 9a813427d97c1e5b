"""The synthetic RT Plan: an approved 3D-CRT plan of 2-4 static 6 MV photon beams on the PTV.

The beams are spread evenly around the patient (:func:`gantry_angle`) on the isocentre of
:mod:`.geometry`, with one patient-specific meterset each. Each beam is collimated by X and Y jaws
and an MLCX (:func:`mlc_positions`) opened to the same square field. The machine, energy, dose
rate and fraction dose defined here are the ones the dose and the treatment records also report.
"""

import datetime
import itertools

from pydicom import Dataset
from pydicom.dataset import FileDataset
from pydicom.uid import RTPlanStorage, RTStructureSetStorage

from radonc_assets.devtools.synthetic.geometry import PATIENT_POSITION, isocenter
from radonc_assets.devtools.synthetic.patient import Patient, da, instance, item, reference, tm

MACHINE = "SYN_LINAC1"
MACHINE_MODEL = "SYNTHETIC LINAC"
ENERGY_MV = 6
DOSE_RATE = 600
FRACTION_DOSE_GY = 2.0
_JAW_HALF_WIDTH_MM = 40.0
# 40 leaf pairs 10 mm wide at the isocentre, the geometry of the Elekta MLCi.
MLC_LEAF_PAIRS = 40
_LEAF_WIDTH_MM = 10.0
LEAF_POSITION_BOUNDARIES = tuple(
    _LEAF_WIDTH_MM * (leaf - MLC_LEAF_PAIRS / 2) for leaf in range(MLC_LEAF_PAIRS + 1)
)

_PLAN_TIME = datetime.time(11, 0)


def gantry_angle(patient: Patient, beam_number: int) -> float:
    """Return the gantry angle of a beam: the beams are spread evenly around the patient."""
    return 360.0 * (beam_number - 1) / len(patient.metersets)


def mlc_positions() -> list[float]:
    """Return the MLCX LeafJawPositions (mm): an open field matching the jaws.

    PS3.3 C.8.8.14 (RT Beams Module): 2N values in IEC leaf subscript order 101..1N (the X1
    bank), then 201..2N (the X2 bank), leaf 1 at the first of :data:`LEAF_POSITION_BOUNDARIES`.
    Leaf pairs inside the Y jaws open to the X jaws; the pairs below the Y1 jaw close at the X1
    jaw and those above the Y2 jaw at the X2 jaw, so the pattern is symmetric neither in Y nor
    between the banks (a reader that reverses the leaves or swaps the banks gets other positions).
    """
    edge = _JAW_HALF_WIDTH_MM
    pairs = [
        (-edge, -edge) if upper <= -edge else (edge, edge) if lower >= edge else (-edge, edge)
        for lower, upper in itertools.pairwise(LEAF_POSITION_BOUNDARIES)
    ]
    return [x1 for x1, _ in pairs] + [x2 for _, x2 in pairs]


def _beam(patient: Patient, beam_number: int) -> Dataset:
    """Return a static 6 MV photon beam with two control points."""
    jaws = [-_JAW_HALF_WIDTH_MM, _JAW_HALF_WIDTH_MM]
    gantry = gantry_angle(patient, beam_number)
    first = item(
        ControlPointIndex=0,
        NominalBeamEnergy=ENERGY_MV,
        DoseRateSet=DOSE_RATE,
        BeamLimitingDevicePositionSequence=[
            *(
                item(RTBeamLimitingDeviceType=device, LeafJawPositions=jaws)
                for device in ("ASYMX", "ASYMY")
            ),
            item(RTBeamLimitingDeviceType="MLCX", LeafJawPositions=mlc_positions()),
        ],
        GantryAngle=gantry,
        GantryRotationDirection="NONE",
        BeamLimitingDeviceAngle=0,
        BeamLimitingDeviceRotationDirection="NONE",
        PatientSupportAngle=0,
        PatientSupportRotationDirection="NONE",
        TableTopEccentricAngle=0,
        TableTopEccentricRotationDirection="NONE",
        TableTopVerticalPosition=None,
        TableTopLongitudinalPosition=None,
        TableTopLateralPosition=None,
        IsocenterPosition=isocenter(patient.spec),
        CumulativeMetersetWeight=0,
    )
    last = item(ControlPointIndex=1, CumulativeMetersetWeight=1)
    return item(
        BeamNumber=beam_number,
        BeamName=f"G{gantry:03.0f}",
        BeamType="STATIC",
        RadiationType="PHOTON",
        TreatmentMachineName=MACHINE,
        PrimaryDosimeterUnit="MU",
        SourceAxisDistance=1000,
        BeamLimitingDeviceSequence=[
            *(
                item(RTBeamLimitingDeviceType=device, NumberOfLeafJawPairs=1)
                for device in ("ASYMX", "ASYMY")
            ),
            # PS3.3 C.8.8.14: Leaf Position Boundaries (N+1 values) is required for an MLCX.
            item(
                RTBeamLimitingDeviceType="MLCX",
                NumberOfLeafJawPairs=MLC_LEAF_PAIRS,
                LeafPositionBoundaries=list(LEAF_POSITION_BOUNDARIES),
            ),
        ],
        TreatmentDeliveryType="TREATMENT",
        NumberOfWedges=0,
        NumberOfCompensators=0,
        NumberOfBoli=0,
        NumberOfBlocks=0,
        FinalCumulativeMetersetWeight=1,
        NumberOfControlPoints=2,
        ControlPointSequence=[first, last],
        ReferencedPatientSetupNumber=1,
    )


def plan(patient: Patient) -> FileDataset:
    """Return the approved RT Plan: one fraction group of 2-4 static beams on the PTV."""
    spec = patient.spec
    ds = instance(
        patient,
        sop_class=RTPlanStorage,
        sop_instance=patient.uid("rtplan"),
        modality="RTPLAN",
        series=patient.uid("rtplan-series"),
        series_number=3,
        instance_number=1,
        date=patient.sim_date,
        time=_PLAN_TIME,
        description="SYNTHETIC plan",
        frame_of_reference=patient.frame_of_reference,
    )
    beam_numbers = range(1, len(patient.metersets) + 1)
    ds.RTPlanLabel = "SYN PLAN"
    ds.RTPlanName = "SYNTHETIC 3D-CRT"
    ds.RTPlanDate = da(patient.sim_date)
    ds.RTPlanTime = tm(_PLAN_TIME)
    ds.RTPlanGeometry = "PATIENT"
    ds.ReferencedStructureSetSequence = [reference(RTStructureSetStorage, patient.uid("rtstruct"))]
    ds.DoseReferenceSequence = [
        item(
            DoseReferenceNumber=1,
            DoseReferenceUID=patient.uid("dose-reference"),
            DoseReferenceStructureType="SITE",
            DoseReferenceDescription="PTV",
            DoseReferenceType="TARGET",
            TargetPrescriptionDose=FRACTION_DOSE_GY * spec.fractions,
        )
    ]
    ds.PatientSetupSequence = [
        item(PatientSetupNumber=1, PatientPosition=PATIENT_POSITION, SetupTechnique="ISOCENTRIC")
    ]
    ds.FractionGroupSequence = [
        item(
            FractionGroupNumber=1,
            NumberOfFractionsPlanned=spec.fractions,
            NumberOfBeams=len(beam_numbers),
            NumberOfBrachyApplicationSetups=0,
            ReferencedBeamSequence=[
                item(
                    ReferencedBeamNumber=number,
                    BeamMeterset=meterset,
                    BeamDose=round(FRACTION_DOSE_GY / len(beam_numbers), 4),
                )
                for number, meterset in zip(beam_numbers, patient.metersets, strict=True)
            ],
        )
    ]
    ds.BeamSequence = [_beam(patient, number) for number in beam_numbers]
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = da(patient.sim_date)
    ds.ReviewTime = tm(_PLAN_TIME)
    ds.ReviewerName = "SYNTHETIC^PHYSICIST"
    return ds
