"""A Mosaiq source's staging node: does it relay the records to the archive, or only store?

With ``staging_target_alias`` the generated records are C-STOREd to a staging node. A
node that answers C-MOVE and knows the archive relays them (``relay``: C-MOVE from it
to the archive); a node that is a C-STORE destination only (``store-only``, as the
earlier system's was) cannot, and the records are then also stored directly to the
archive. Either way the archive is asked afterwards whether it holds each record.

A node cannot relay when it accepts no Query/Retrieve presentation context for a
C-MOVE (DCMTK ``storescp``), rejects the association that proposes one, or answers a
C-MOVE of what it holds with a failure and no sub-operation (measured here: dcmqrscp
0xA801 "move destination unknown", Orthanc 1.10 0xC000 for a destination it does not
know). A C-MOVE of nothing tells less: dcmqrscp answers success and Orthanc 0xC000
whether or not they know the destination, as both look the destination up only when
something matches; a node that checks it first answers 0xA801.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydicom.uid import generate_uid

from resources.dicom.client import DicomClient, SubOperations, is_success_or_warning
from resources.dicom.queries import QueryLevel, retrieve_identifier
from resources.dicom.statuses import status_meaning
from resources.errors import AssociationRejectedError, DicomError, NoPresentationContextError

LOGGER = logging.getLogger(__name__)

# PS3.4 C.4.2.1.5: "Refused: Move Destination unknown".
MOVE_DESTINATION_UNKNOWN = 0xA801


class StagingMode(StrEnum):
    """How records reach the archive through a staging node."""

    RELAY = "relay"
    STORE_ONLY = "store-only"


@dataclass(frozen=True)
class StagingProbe:
    """What a probe of a staging node found (:func:`probe_staging`).

    Attributes:
        mode: The node's mode, None when it could not be reached.
        detail: Why store-only, why unreachable, or what leaves relay unconfirmed.
    """

    mode: StagingMode | None
    detail: str = ""


def refuses_move(exc: DicomError) -> bool:
    """Whether `exc`, raised opening a C-MOVE association, says the node has no C-MOVE.

    No Query/Retrieve presentation context accepted, or the association rejected for
    good (a transient rejection, "temporary congestion", says nothing of the node).
    """
    return isinstance(exc, NoPresentationContextError) or (
        isinstance(exc, AssociationRejectedError) and not exc.transient
    )


def moved_nothing(results: Sequence[SubOperations]) -> bool:
    """Whether every C-MOVE request failed without a single sub-operation."""
    return bool(results) and all(
        not is_success_or_warning(r.status) and r.completed + r.failed + r.warning == 0
        for r in results
    )


def describe_answer(result: SubOperations, destination: str) -> str:
    """One C-MOVE answer in words: ``C-MOVE to AET answered 0xA801 (...)``."""
    return (
        f"C-MOVE to {destination} answered 0x{result.status:04X} "
        f"({status_meaning(result.status, 'C-MOVE')}) with no sub-operation"
    )


def probe_staging(staging: DicomClient, destination: str) -> StagingProbe:
    """C-ECHO the staging node, then C-MOVE to `destination` an instance that matches nothing.

    Moves nothing (a new SOPInstanceUID), so it is safe on a clinical node; as a C-MOVE of
    nothing does not show whether every node knows `destination` (see the module), a
    failure status other than 0xA801 leaves ``relay`` unconfirmed, said in the detail.

    Args:
        staging: A client of the staging node.
        destination: The archive's AE title.

    Returns:
        The node's mode, or no mode with the cause when it could not be reached.
    """
    try:
        staging.echo()
    except DicomError as exc:
        return StagingProbe(None, str(exc))
    nothing = retrieve_identifier(
        QueryLevel.IMAGE,
        {
            "StudyInstanceUID": generate_uid(),
            "SeriesInstanceUID": generate_uid(),
            "SOPInstanceUID": generate_uid(),
        },
    )
    try:
        (result,) = staging.move([nothing], destination, isolate_failures=True)
    except DicomError as exc:
        if refuses_move(exc):
            return StagingProbe(StagingMode.STORE_ONLY, str(exc))
        return StagingProbe(None, f"C-MOVE: {exc}")
    LOGGER.debug("C-MOVE of nothing to %s from %s: %s", destination, staging.peer, result)
    if result.status == MOVE_DESTINATION_UNKNOWN:
        return StagingProbe(StagingMode.STORE_ONLY, describe_answer(result, destination))
    if is_success_or_warning(result.status):
        return StagingProbe(StagingMode.RELAY)
    return StagingProbe(
        StagingMode.RELAY,
        f"unconfirmed: a C-MOVE of nothing to {destination} answered 0x{result.status:04X} "
        f"({status_meaning(result.status, 'C-MOVE')}), which does not say whether it knows "
        f"{destination}; records it cannot move are stored directly to the archive",
    )
