"""Presentation contexts for storage SOP classes, and the classes a retrieve will bring.

A C-GET receives its instances over the association that requested them, so the
requestor must propose, with the SCP role, a context for every SOP class it will
receive: Orthanc 1.10 fails each sub-operation it has no context for ("No
presentation context for: (US) ..."). pynetdicom proposes at most 128 contexts
per association, the C-GET context included. Image classes get one context per
compressed transfer syntax beside the uncompressed one, so that a source can send
each instance in the transfer syntax it is stored in instead of transcoding it.

Which classes to propose comes from the IMAGE-level C-FIND answers (their
SOPClassUID); a source that does not return it (DCMTK dcmqrscp) leaves only the
series Modality, which :data:`MODALITY_STORAGE` maps to the classes its
instances may have (:func:`storage_classes` chooses).
"""

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence

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
from pynetdicom.service_class import StorageServiceClass

LOGGER = logging.getLogger(__name__)

# pynetdicom's limit of requested presentation contexts per association.
MAX_CONTEXTS = 128
# What a C-GET association has left for storage contexts besides its own.
MAX_GET_STORAGE_CONTEXTS = MAX_CONTEXTS - 1

UNCOMPRESSED_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
# In the order a class gets them when not all fit (see storage_contexts).
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

# The classes RT work needs: proposed when the caller names none.
RT_STORAGE: tuple[UID, ...] = (
    sc.CTImageStorage,
    sc.EnhancedCTImageStorage,
    sc.MRImageStorage,
    sc.PositronEmissionTomographyImageStorage,
    sc.RTImageStorage,
    sc.RTDoseStorage,
    sc.SecondaryCaptureImageStorage,
    sc.DigitalXRayImageStorageForPresentation,
    sc.SegmentationStorage,
    sc.RTStructureSetStorage,
    sc.RTPlanStorage,
    sc.RTIonPlanStorage,
    sc.RTBeamsTreatmentRecordStorage,
    sc.RTIonBeamsTreatmentRecordStorage,
    sc.RTBrachyTreatmentRecordStorage,
    sc.RTTreatmentSummaryRecordStorage,
    sc.SpatialRegistrationStorage,
    sc.DeformableSpatialRegistrationStorage,
    sc.EncapsulatedPDFStorage,
    sc.ComprehensiveSRStorage,
    sc.EnhancedSRStorage,
    sc.KeyObjectSelectionDocumentStorage,
    sc.RawDataStorage,
)

# Storage classes whose IOD has a Pixel Data module although their keyword does not
# say "ImageStorage" (PS3.3 Annex A).
PIXEL_DATA_STORAGE: frozenset[str] = frozenset(
    {
        sc.RTDoseStorage,
        sc.SegmentationStorage,
        sc.LabelMapSegmentationStorage,
        sc.HeightMapSegmentationStorage,
        sc.ParametricMapStorage,
        sc.EnhancedUSVolumeStorage,
        sc.OphthalmicThicknessMapStorage,
        sc.CornealTopographyMapStorage,
        sc.OphthlamicOpticalCoherenceTomographyBscanVolumeAnalysisStorage,
    }
)

_SECONDARY_CAPTURE = (sc.SecondaryCaptureImageStorage,)
_SR = (
    sc.BasicTextSRStorage,
    sc.EnhancedSRStorage,
    sc.ComprehensiveSRStorage,
    sc.Comprehensive3DSRStorage,
    sc.ExtensibleSRStorage,
    sc.KeyObjectSelectionDocumentStorage,
    sc.XRayRadiationDoseSRStorage,
    sc.EnhancedXRayRadiationDoseSRStorage,
    sc.RadiopharmaceuticalRadiationDoseSRStorage,
    sc.PatientRadiationDoseSRStorage,
)
_ECG = (
    sc.TwelveLeadECGWaveformStorage,
    sc.GeneralECGWaveformStorage,
    sc.AmbulatoryECGWaveformStorage,
    sc.General32bitECGWaveformStorage,
)
_OTHER = (
    *_SECONDARY_CAPTURE,
    sc.MultiFrameSingleBitSecondaryCaptureImageStorage,
    sc.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    sc.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    sc.MultiFrameTrueColorSecondaryCaptureImageStorage,
    sc.EncapsulatedPDFStorage,
    sc.RawDataStorage,
)

# The storage classes each Modality (0008,0060) defined term (PS3.3 C.7.3.1.1.1) may
# come with. Image modalities include Secondary Capture: its SC Equipment Module
# (PS3.3 C.8.6.1) lets a screenshot (a dose screen, a report) keep the modality of
# the series it belongs to.
MODALITY_STORAGE: Mapping[str, tuple[UID, ...]] = {
    "CT": (
        sc.CTImageStorage,
        sc.EnhancedCTImageStorage,
        sc.LegacyConvertedEnhancedCTImageStorage,
        *_SECONDARY_CAPTURE,
    ),
    "MR": (
        sc.MRImageStorage,
        sc.EnhancedMRImageStorage,
        sc.EnhancedMRColorImageStorage,
        sc.LegacyConvertedEnhancedMRImageStorage,
        sc.MRSpectroscopyStorage,
        *_SECONDARY_CAPTURE,
    ),
    "PT": (
        sc.PositronEmissionTomographyImageStorage,
        sc.EnhancedPETImageStorage,
        sc.LegacyConvertedEnhancedPETImageStorage,
        *_SECONDARY_CAPTURE,
    ),
    "NM": (sc.NuclearMedicineImageStorage, *_SECONDARY_CAPTURE),
    "US": (
        sc.UltrasoundImageStorage,
        sc.UltrasoundMultiFrameImageStorage,
        sc.EnhancedUSVolumeStorage,
        *_SECONDARY_CAPTURE,
    ),
    "XA": (
        sc.XRayAngiographicImageStorage,
        sc.EnhancedXAImageStorage,
        sc.XRay3DAngiographicImageStorage,
        *_SECONDARY_CAPTURE,
    ),
    "RF": (
        sc.XRayRadiofluoroscopicImageStorage,
        sc.EnhancedXRFImageStorage,
        *_SECONDARY_CAPTURE,
    ),
    "MG": (
        sc.DigitalMammographyXRayImageStorageForPresentation,
        sc.DigitalMammographyXRayImageStorageForProcessing,
        sc.BreastTomosynthesisImageStorage,
        sc.BreastProjectionXRayImageStorageForPresentation,
        sc.BreastProjectionXRayImageStorageForProcessing,
        *_SECONDARY_CAPTURE,
    ),
    "DX": (
        sc.DigitalXRayImageStorageForPresentation,
        sc.DigitalXRayImageStorageForProcessing,
        *_SECONDARY_CAPTURE,
    ),
    "CR": (sc.ComputedRadiographyImageStorage, *_SECONDARY_CAPTURE),
    "IO": (
        sc.DigitalIntraOralXRayImageStorageForPresentation,
        sc.DigitalIntraOralXRayImageStorageForProcessing,
        *_SECONDARY_CAPTURE,
    ),
    "XC": (sc.VLPhotographicImageStorage, sc.VideoPhotographicImageStorage, *_SECONDARY_CAPTURE),
    "RTIMAGE": (sc.RTImageStorage, sc.EnhancedRTImageStorage, sc.EnhancedContinuousRTImageStorage),
    "RTDOSE": (sc.RTDoseStorage,),
    "RTSTRUCT": (sc.RTStructureSetStorage,),
    "RTPLAN": (sc.RTPlanStorage, sc.RTIonPlanStorage),
    "RTRECORD": (
        sc.RTBeamsTreatmentRecordStorage,
        sc.RTIonBeamsTreatmentRecordStorage,
        sc.RTBrachyTreatmentRecordStorage,
        sc.RTTreatmentSummaryRecordStorage,
    ),
    "RTINTENT": (sc.RTPhysicianIntentStorage,),
    "RTSEGANN": (sc.RTSegmentAnnotationStorage,),
    "RTRAD": (sc.RTRadiationSetStorage, sc.RTRadiationRecordSetStorage),
    "REG": (sc.SpatialRegistrationStorage, sc.DeformableSpatialRegistrationStorage),
    "FID": (sc.SpatialFiducialsStorage,),
    "SEG": (
        sc.SegmentationStorage,
        sc.SurfaceSegmentationStorage,
        sc.LabelMapSegmentationStorage,
        sc.HeightMapSegmentationStorage,
    ),
    "RWV": (sc.RealWorldValueMappingStorage,),
    "SR": _SR,
    "KO": (sc.KeyObjectSelectionDocumentStorage,),
    "PR": (
        sc.GrayscaleSoftcopyPresentationStateStorage,
        sc.ColorSoftcopyPresentationStateStorage,
        sc.PseudoColorSoftcopyPresentationStageStorage,
        sc.BlendingSoftcopyPresentationStateStorage,
    ),
    "DOC": (sc.EncapsulatedPDFStorage, sc.EncapsulatedCDAStorage),
    "ECG": _ECG,
    "HD": (sc.HemodynamicWaveformStorage,),
    "EPS": (sc.CardiacElectrophysiologyWaveformStorage,),
    "AU": (sc.BasicVoiceAudioWaveformStorage, sc.GeneralAudioWaveformStorage),
    "OT": _OTHER,
    # Not a defined term, but written by some capture software.
    "SC": _OTHER,
}


def is_image_storage(sop_class_uid: str) -> bool:
    """Whether instances of a storage class carry pixel data (and may be compressed).

    The rule, from what pydicom and pynetdicom know of each UID:

    | class | image |
    | --- | --- |
    | a storage class (pynetdicom's ``uid_to_service_class``) whose keyword has ``ImageStorage`` (``CTImageStorage``, ``DigitalXRayImageStorageForPresentation``) | yes |
    | a class of :data:`PIXEL_DATA_STORAGE` (RT Dose, Segmentation, Parametric Map, ...) | yes |
    | any other storage class: RT Plan, RT Structure Set, RT records, registrations, SR and KOS, waveforms (ECG...), presentation states, encapsulated PDF/CDA/STL, raw data, measurements | no |
    | a UID pynetdicom does not list as storage (private or newer classes) | yes |

    An unknown class counts as an image: proposing its compressed contexts costs a
    few contexts, failing to receive a compressed instance costs the instance.

    Args:
        sop_class_uid: A SOP Class UID.

    Returns:
        True for image classes.
    """
    uid = UID(sop_class_uid)
    if uid in PIXEL_DATA_STORAGE or sc.uid_to_service_class(uid) is not StorageServiceClass:
        return True
    return "ImageStorage" in uid.keyword


def context_count(sop_classes: Iterable[str]) -> int:
    """How many contexts :func:`storage_contexts` needs for every class at full choice."""
    classes = set(map(str, sop_classes))
    images = sum(map(is_image_storage, classes))
    return len(classes) + images * len(COMPRESSED_SYNTAXES)


def storage_contexts(
    sop_classes: Iterable[str] = RT_STORAGE, *, limit: int = MAX_CONTEXTS
) -> list[PresentationContext]:
    """Contexts to receive (or send) instances of the given storage classes.

    Each class gets a context offering the uncompressed syntaxes; image classes
    (:func:`is_image_storage`) also get one context per compressed syntax. When
    that is more than `limit`, every class keeps its uncompressed context and the
    compressed ones are handed out syntax by syntax in the order of
    :data:`COMPRESSED_SYNTAXES` (every image class gets JPEG Lossless before any
    gets deflate) until `limit` is reached. An instance stored in a syntax left out
    is then decompressed by the source or fails there: Orthanc 1.10 sends it as
    Explicit VR Little Endian (measured with RLE and JPEG Extended).

    Args:
        sop_classes: SOP Class UIDs, in any order: the same classes always give the
            same contexts, in UID order.
        limit: At most this many contexts.

    Returns:
        The contexts, uncompressed ones first.

    Raises:
        ValueError: More classes than `limit`.
    """
    classes = sorted(set(map(str, sop_classes)))
    if len(classes) > limit:
        raise ValueError(f"{len(classes)} SOP classes need more than {limit} contexts")
    contexts = [build_context(uid, list(UNCOMPRESSED_SYNTAXES)) for uid in classes]
    images = [uid for uid in classes if is_image_storage(uid)]
    compressed = [(uid, syntax) for syntax in COMPRESSED_SYNTAXES for uid in images]
    room = limit - len(contexts)
    if len(compressed) > room:
        LOGGER.warning(
            "%d image classes: only %d of their %d compressed contexts fit in %d",
            len(images),
            room,
            len(compressed),
            limit,
        )
    return contexts + [build_context(uid, syntax) for uid, syntax in compressed[:room]]


def plan_associations(
    class_sets: Sequence[Collection[str]], limit: int = MAX_GET_STORAGE_CONTEXTS
) -> list[tuple[list[int], frozenset[str]]]:
    """Share retrieves among as few associations as their storage contexts allow.

    Retrieves expecting the same classes always share an association; each
    distinct set of classes joins the first association whose classes it fits
    with (first fit, in the order of first appearance), else opens one. A set
    that needs more than `limit` contexts alone gets an association of its own
    (with fewer compressed contexts, see :func:`storage_contexts`).

    Args:
        class_sets: The SOP classes each retrieve will bring, one collection each.
        limit: Storage contexts per association.

    Returns:
        Per association: the indexes of its retrieves (ascending) and its classes.
    """
    groups: dict[frozenset[str], list[int]] = {}
    for index, classes in enumerate(class_sets):
        groups.setdefault(frozenset(map(str, classes)), []).append(index)
    plans: list[tuple[list[int], set[str]]] = []
    for classes, indexes in groups.items():
        for members, union in plans:
            if context_count(union | classes) <= limit:
                members += indexes
                union |= classes
                break
        else:
            plans.append((list(indexes), set(classes)))
    return [(sorted(members), frozenset(union)) for members, union in plans]


def modality_storage_classes(modality: str) -> tuple[UID, ...]:
    """The storage classes instances of a series with this Modality may have.

    Args:
        modality: A Modality (0008,0060) value, in any case (CT, US, RTPLAN, SEG,
            SR, DOC, OT, ECG...).

    Returns:
        The classes of :data:`MODALITY_STORAGE`, or the RT default set
        (:data:`RT_STORAGE`) for an unknown or empty modality.
    """
    return MODALITY_STORAGE.get(modality.strip().upper(), RT_STORAGE)


def storage_classes(sop_classes: Iterable[str], modalities: Iterable[str]) -> set[str]:
    """The storage classes a retrieve of some instances will bring.

    Args:
        sop_classes: The SOPClassUID of each instance, ``""`` where the source's
            C-FIND answer had none.
        modalities: The Modality of their series.

    Returns:
        The exact classes when every instance has one; otherwise the known ones
        plus those of each modality (:func:`modality_storage_classes`), the RT
        default set when no modality is known either.
    """
    uids = [str(uid) for uid in sop_classes]
    known = {uid for uid in uids if uid}
    if uids and all(uids):
        return known
    codes = {str(code).strip() for code in modalities} - {""}
    for code in codes or {""}:
        known.update(modality_storage_classes(code))
    return known


def scp_roles(sop_classes: Iterable[str]) -> list[SCP_SCU_RoleSelectionNegotiation]:
    """SCP/SCU role selection items asking to act as storage SCP for each class."""
    return [build_role(uid, scp_role=True) for uid in dict.fromkeys(sop_classes)]


def exact_contexts(pairs: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """One context per distinct (SOP class, transfer syntax) pair, for sending files as they are."""
    return [build_context(uid, ts) for uid, ts in dict.fromkeys(pairs)]
