"""Presentation contexts for the storage SOP classes radiation-oncology work needs.

A C-GET receives its instances over the association that requested them, so the
requestor must propose, with the SCP role, a context for every SOP class it may
receive (a missing one makes Orthanc abort the whole C-GET), within pynetdicom's
limit of 128 requested contexts. Image classes get one context per compressed
transfer syntax beside the uncompressed one, so that an SCP can send each
instance in the transfer syntax it is stored in instead of transcoding it.
"""

from collections.abc import Iterable, Sequence

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import build_context, build_role
from pynetdicom import sop_class as sc
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext

MAX_CONTEXTS = 128

UNCOMPRESSED_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
COMPRESSED_SYNTAXES: tuple[UID, ...] = (
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    RLELossless,
    DeflatedExplicitVRLittleEndian,
)

IMAGE_STORAGE: tuple[UID, ...] = (
    sc.CTImageStorage,
    sc.EnhancedCTImageStorage,
    sc.MRImageStorage,
    sc.PositronEmissionTomographyImageStorage,
    sc.RTImageStorage,
    sc.RTDoseStorage,
    sc.SecondaryCaptureImageStorage,
    sc.DigitalXRayImageStorageForPresentation,
)
NON_IMAGE_STORAGE: tuple[UID, ...] = (
    sc.RTStructureSetStorage,
    sc.RTPlanStorage,
    sc.RTIonPlanStorage,
    sc.RTBeamsTreatmentRecordStorage,
    sc.RTIonBeamsTreatmentRecordStorage,
    sc.RTBrachyTreatmentRecordStorage,
    sc.RTTreatmentSummaryRecordStorage,
    sc.SpatialRegistrationStorage,
    sc.DeformableSpatialRegistrationStorage,
    sc.SegmentationStorage,
    sc.EncapsulatedPDFStorage,
    sc.ComprehensiveSRStorage,
    sc.EnhancedSRStorage,
    sc.KeyObjectSelectionDocumentStorage,
    sc.RawDataStorage,
)
RT_STORAGE: tuple[UID, ...] = IMAGE_STORAGE + NON_IMAGE_STORAGE


def storage_contexts(
    image_classes: Sequence[UID] = IMAGE_STORAGE,
    non_image_classes: Sequence[UID] = NON_IMAGE_STORAGE,
    *,
    compressed: bool = True,
) -> list[PresentationContext]:
    """Contexts to receive (or send) the given storage classes.

    Each class gets a context offering the uncompressed syntaxes; image classes
    also get one context per compressed syntax when `compressed` is set.
    """
    contexts = [
        build_context(uid, list(UNCOMPRESSED_SYNTAXES))
        for uid in (*image_classes, *non_image_classes)
    ]
    if compressed:
        contexts += [build_context(uid, ts) for uid in image_classes for ts in COMPRESSED_SYNTAXES]
    return contexts


def scp_roles(sop_classes: Iterable[str]) -> list[SCP_SCU_RoleSelectionNegotiation]:
    """SCP/SCU role selection items asking to act as storage SCP for each class."""
    return [build_role(uid, scp_role=True) for uid in dict.fromkeys(sop_classes)]


def exact_contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """One context per distinct (SOP class, transfer syntax) pair, for sending files as they are."""
    return [build_context(uid, ts) for uid, ts in dict.fromkeys(pairs)]
