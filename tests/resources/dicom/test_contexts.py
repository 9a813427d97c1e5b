"""Which presentation contexts a C-GET proposes, and how retrieves share associations."""

from collections import Counter

import pytest
from pynetdicom import sop_class as sc

from resources.dicom.contexts import (
    COMPRESSED_SYNTAXES,
    MAX_GET_STORAGE_CONTEXTS,
    MODALITY_STORAGE,
    RT_STORAGE,
    UNCOMPRESSED_SYNTAXES,
    context_count,
    is_image_storage,
    modality_storage_classes,
    plan_associations,
    storage_classes,
    storage_contexts,
)

# Twelve image classes: 132 contexts, more than a C-GET association has room for.
IMAGES = (
    sc.CTImageStorage,
    sc.EnhancedCTImageStorage,
    sc.MRImageStorage,
    sc.EnhancedMRImageStorage,
    sc.PositronEmissionTomographyImageStorage,
    sc.NuclearMedicineImageStorage,
    sc.UltrasoundImageStorage,
    sc.UltrasoundMultiFrameImageStorage,
    sc.XRayAngiographicImageStorage,
    sc.DigitalMammographyXRayImageStorageForPresentation,
    sc.ComputedRadiographyImageStorage,
    sc.RTImageStorage,
)


@pytest.mark.parametrize(
    "uid",
    [
        sc.CTImageStorage,
        sc.UltrasoundMultiFrameImageStorage,
        sc.DigitalXRayImageStorageForPresentation,
        sc.DigitalMammographyXRayImageStorageForPresentation,
        sc.RTDoseStorage,
        sc.SegmentationStorage,
        sc.EnhancedUSVolumeStorage,
        "1.2.826.0.1.3680043.9.9999.1",  # a private class: counted as an image
    ],
)
def test_image_classes(uid: str) -> None:
    assert is_image_storage(uid)


@pytest.mark.parametrize(
    "uid",
    [
        sc.RTPlanStorage,
        sc.RTStructureSetStorage,
        sc.RTBeamsTreatmentRecordStorage,
        sc.SpatialRegistrationStorage,
        sc.ComprehensiveSRStorage,
        sc.KeyObjectSelectionDocumentStorage,
        sc.EncapsulatedPDFStorage,
        sc.TwelveLeadECGWaveformStorage,
        sc.GrayscaleSoftcopyPresentationStateStorage,
        sc.RawDataStorage,
    ],
)
def test_non_image_classes(uid: str) -> None:
    assert not is_image_storage(uid)


def test_each_class_gets_uncompressed_and_image_classes_compressed_contexts() -> None:
    contexts = storage_contexts([sc.UltrasoundImageStorage, sc.RTPlanStorage])
    by_class = Counter(str(cx.abstract_syntax) for cx in contexts)
    assert by_class == {
        sc.UltrasoundImageStorage: 1 + len(COMPRESSED_SYNTAXES),
        sc.RTPlanStorage: 1,
    }
    syntaxes = {tuple(cx.transfer_syntax) for cx in contexts}
    assert tuple(UNCOMPRESSED_SYNTAXES) in syntaxes
    assert {(ts,) for ts in COMPRESSED_SYNTAXES} <= syntaxes


def test_the_default_set_fits_one_c_get_association() -> None:
    assert len(storage_contexts()) == context_count(RT_STORAGE) <= MAX_GET_STORAGE_CONTEXTS


def test_too_many_image_classes_get_fewer_compressed_contexts_syntax_by_syntax() -> None:
    assert context_count(IMAGES) > MAX_GET_STORAGE_CONTEXTS
    contexts = storage_contexts(IMAGES, limit=MAX_GET_STORAGE_CONTEXTS)
    assert len(contexts) == MAX_GET_STORAGE_CONTEXTS
    assert Counter(len(cx.transfer_syntax) for cx in contexts)[len(UNCOMPRESSED_SYNTAXES)] == 12
    per_syntax = Counter(cx.transfer_syntax[0] for cx in contexts if len(cx.transfer_syntax) == 1)
    # Each syntax reaches every class before the next reaches any: only deflate is short.
    assert [per_syntax[ts] for ts in COMPRESSED_SYNTAXES] == [12] * 9 + [7]
    # The same classes in another order give the same contexts.
    again = storage_contexts(reversed(IMAGES), limit=MAX_GET_STORAGE_CONTEXTS)
    assert [(cx.abstract_syntax, cx.transfer_syntax) for cx in again] == [
        (cx.abstract_syntax, cx.transfer_syntax) for cx in contexts
    ]


def test_retrieves_with_the_same_classes_share_an_association() -> None:
    ct, plan, us = {sc.CTImageStorage}, {sc.RTPlanStorage}, {sc.UltrasoundImageStorage}
    assert plan_associations([ct, plan, ct, us, plan]) == [
        ([0, 1, 2, 3, 4], frozenset(ct | plan | us))
    ]


def test_retrieves_are_split_when_their_classes_exceed_the_limit() -> None:
    sets = [{uid} for uid in IMAGES] + [{sc.RTPlanStorage}, {sc.CTImageStorage}]
    plans = plan_associations(sets)
    # First fit: eleven image classes and the plan fill the first association.
    assert plans == [
        ([*range(11), 12, 13], frozenset({*IMAGES[:11], sc.RTPlanStorage})),
        ([11], frozenset({IMAGES[11]})),
    ]
    assert all(context_count(classes) <= MAX_GET_STORAGE_CONTEXTS for _, classes in plans)


def test_one_retrieve_with_too_many_classes_gets_its_own_association() -> None:
    plans = plan_associations([{sc.RTPlanStorage}, set(IMAGES), {sc.RTPlanStorage}])
    assert plans == [([0, 2], frozenset({sc.RTPlanStorage})), ([1], frozenset(IMAGES))]


def test_storage_classes_are_exact_when_every_instance_has_one() -> None:
    assert storage_classes([sc.CTImageStorage, sc.CTImageStorage], ["CT", "CT"]) == {
        sc.CTImageStorage
    }


def test_storage_classes_fall_back_to_the_modality() -> None:
    # dcmqrscp returns no SOPClassUID at IMAGE level: the series Modality decides.
    assert storage_classes(["", ""], ["US", "US"]) == set(MODALITY_STORAGE["US"])
    assert sc.UltrasoundMultiFrameImageStorage in storage_classes([""], ["us"])
    assert storage_classes(["", sc.RTPlanStorage], ["RTPLAN"]) == set(MODALITY_STORAGE["RTPLAN"])
    assert storage_classes([""], ["ECG"]) == set(MODALITY_STORAGE["ECG"])


def test_modality_storage_classes() -> None:
    assert modality_storage_classes(" rtdose ") == (sc.RTDoseStorage,)
    assert sc.SecondaryCaptureImageStorage in modality_storage_classes("CT")
    assert sc.EncapsulatedPDFStorage in modality_storage_classes("DOC")
    assert modality_storage_classes("NOPE") == RT_STORAGE


def test_an_unknown_or_missing_modality_gives_the_rt_default_set() -> None:
    assert storage_classes([""], ["XYZ"]) == set(RT_STORAGE)
    assert storage_classes([""], [""]) == set(RT_STORAGE)
    assert storage_classes([], []) == set(RT_STORAGE)


def test_every_modality_fits_one_association() -> None:
    for modality, classes in MODALITY_STORAGE.items():
        assert context_count(classes) <= MAX_GET_STORAGE_CONTEXTS, modality
