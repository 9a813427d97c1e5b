"""DICOM network client (pynetdicom): C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE.

:class:`DicomClient` is plain Python and works without Dagster; the site's Dagster
resources (:mod:`radonc_assets.site.resources`) build one from typed configuration.

Every operation runs over as few associations as possible (one per call, never
one per instance), with connect, ACSE, DIMSE and network timeouts, TCP_NODELAY on
the socket (pynetdicom leaves Nagle's algorithm on, which costs ~95 ms per small
C-STORE), and failures raised as the typed exceptions of :mod:`resources.errors`.
"""

import functools
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification
from pynetdicom.status import STATUS_PENDING, STATUS_SUCCESS, STATUS_WARNING, code_to_category

from resources.dicom.contexts import MAX_CONTEXTS, exact_contexts, scp_roles, storage_contexts
from resources.dicom.queries import (
    InstanceRecord,
    QueryLevel,
    QueryModel,
    identifier,
    instance_record,
)
from resources.dicom.workarounds import (
    NoDelayAE,
    RejectionRecorder,
    keep_responses_from_the_reactor,
)
from resources.errors import (
    AssociationAbortedError,
    AssociationRejectedError,
    DicomError,
    DicomTimeoutError,
    DimseStatusError,
    NoPresentationContextError,
    PeerUnreachableError,
)

LOGGER = logging.getLogger(__name__)

# Network defaults of every DICOM client, unless a site's settings say otherwise.
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_PDU = 262144

_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def is_pending(status: int) -> bool:
    """Whether a DIMSE status says more responses follow."""
    return code_to_category(status) == STATUS_PENDING


def is_success_or_warning(status: int) -> bool:
    """Whether a DIMSE status says the operation was done (possibly with a warning)."""
    return code_to_category(status) in (STATUS_SUCCESS, STATUS_WARNING)


@dataclass(frozen=True)
class DicomNode:
    """A remote application entity."""

    aet: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SubOperations:
    """The outcome of one C-MOVE or C-GET request (its final response)."""

    status: int
    completed: int
    failed: int
    warning: int
    failed_uids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every sub-operation completed without failure."""
        return self.status == 0x0000 and self.failed == 0


@dataclass(frozen=True)
class StoreOutcome:
    """The outcome of one C-STORE."""

    sop_instance_uid: str
    status: int
    source: str = ""

    @property
    def ok(self) -> bool:
        """True for success and the warning statuses (stored, possibly coerced)."""
        return is_success_or_warning(self.status)


@dataclass
class _StoreItem:
    payload: Path | Dataset
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    source: str = field(default="")


InstanceCallback = Callable[[bytes], None]
P = ParamSpec("P")
R = TypeVar("R")


def _retry_transient(
    operation: "Callable[Concatenate[DicomClient, P], R]",
) -> "Callable[Concatenate[DicomClient, P], R]":
    """Retry an operation on transient failures, with exponential backoff.

    This is the one retry layer of the DICOM network: refused, aborted and
    timed-out associations are tried again `client.retries` times, waiting
    `client.backoff`, then twice as long, and so on. Operations are idempotent
    (a duplicate C-STORE changes nothing in the archive).
    """

    @functools.wraps(operation)
    def retrying(client: "DicomClient", *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(client.retries):
            try:
                return operation(client, *args, **kwargs)
            except DicomError as exc:
                if not exc.transient:
                    raise
                delay = client.backoff * 2**attempt
                LOGGER.warning(
                    "%s: %s; retrying in %.1f s (%d of %d)",
                    operation.__name__,
                    exc,
                    delay,
                    attempt + 1,
                    client.retries,
                )
                time.sleep(delay)
        return operation(client, *args, **kwargs)

    return retrying


ProgressCallback = Callable[[int, int], None]


class DicomClient:
    """A DICOM service user talking to one peer.

    Args:
        peer: The remote AE.
        calling_aet: Our AE title.
        connect_timeout: Seconds to wait for the TCP connection.
        timeout: Seconds to wait for any association or DIMSE answer and for
            network reads.
        max_pdu: Maximum PDU size we accept (0 = unlimited).
        retries: How often an operation is tried again after a transient failure.
        backoff: Seconds before the first retry; doubled for each further one.
    """

    def __init__(
        self,
        peer: DicomNode,
        calling_aet: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
        max_pdu: int = DEFAULT_MAX_PDU,
        retries: int = 2,
        backoff: float = 1.0,
    ) -> None:
        self.peer = peer
        self.calling_aet = calling_aet
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_pdu = max_pdu
        self.retries = retries
        self.backoff = backoff

    @contextmanager
    def associate(
        self,
        contexts: Sequence[PresentationContext],
        *,
        roles: Sequence[Any] = (),
        handlers: Sequence[tuple[Any, Callable[..., Any]]] = (),
    ) -> Iterator[Association]:
        """Open an association, yield it, and release it.

        Raises:
            PeerUnreachableError: No TCP connection.
            AssociationRejectedError: A-ASSOCIATE-RJ, with the reason.
            DicomTimeoutError: No answer within `timeout`.
            NoPresentationContextError: None of `contexts` was accepted.
            AssociationAbortedError: Anything else that ended the negotiation.
        """
        ae = NoDelayAE(ae_title=self.calling_aet)
        ae.connection_timeout = self.connect_timeout
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.network_timeout = self.timeout
        ae.maximum_pdu_size = self.max_pdu
        connected: list[bool] = []
        rejection = RejectionRecorder()
        started = time.monotonic()
        assoc = ae.associate(
            self.peer.host,
            self.peer.port,
            contexts=list(contexts),
            ae_title=self.peer.aet,
            max_pdu=self.max_pdu,
            ext_neg=list(roles),
            evt_handlers=[
                (evt.EVT_CONN_OPEN, lambda _: connected.append(True)),
                (evt.EVT_PDU_RECV, rejection),
                *handlers,
            ],
        )
        if not assoc.is_established:
            raise self._association_failure(
                assoc, bool(connected), rejection.rejection, time.monotonic() - started
            )
        LOGGER.debug("Association with %s established", self.peer)
        keep_responses_from_the_reactor(assoc)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    @_retry_transient
    def echo(self) -> float:
        """C-ECHO; returns the round trip in seconds."""
        started = time.monotonic()
        with self.associate([build_context(Verification)]) as assoc:
            status = assoc.send_c_echo()
            self._check(assoc, "C-ECHO", status, started)
        return time.monotonic() - started

    @_retry_transient
    def find(self, query: Dataset, model: QueryModel = QueryModel.STUDY) -> list[Dataset]:
        """C-FIND; returns every matching identifier."""
        with self.associate([build_context(model.find_uid)]) as assoc:
            return self._find(assoc, query, model)

    @_retry_transient
    def find_all(
        self, queries: Sequence[Dataset], model: QueryModel = QueryModel.STUDY
    ) -> list[Dataset]:
        """C-FIND every query over one association; returns all matches in order."""
        with self.associate([build_context(model.find_uid)]) as assoc:
            return [match for query in queries for match in self._find(assoc, query, model)]

    @_retry_transient
    def enumerate_instances(
        self,
        study_keys: Mapping[str, str],
        *,
        series_keys: Mapping[str, str] | None = None,
    ) -> list[InstanceRecord]:
        """Every instance of the matching studies, found study -> series -> image.

        One association carries all queries. Works against strictly hierarchical
        servers: each level's query carries the unique keys of its parents.

        Args:
            study_keys: STUDY-level matching keys, e.g. ``{"StudyDate": "20260105"}``.
            series_keys: Optional SERIES-level matching keys, e.g. ``{"Modality": "RTRECORD"}``.
        """
        model = QueryModel.STUDY
        records: list[InstanceRecord] = []
        with self.associate([build_context(model.find_uid)]) as assoc:
            for study in self._find(assoc, identifier(QueryLevel.STUDY, study_keys), model):
                study_uid = str(study.StudyInstanceUID)
                series_query = identifier(
                    QueryLevel.SERIES, {**(series_keys or {}), "StudyInstanceUID": study_uid}
                )
                for series in self._find(assoc, series_query, model):
                    image_query = identifier(
                        QueryLevel.IMAGE,
                        {
                            "StudyInstanceUID": study_uid,
                            "SeriesInstanceUID": str(series.SeriesInstanceUID),
                        },
                    )
                    records += [
                        instance_record(study, series, image)
                        for image in self._find(assoc, image_query, model)
                    ]
        return records

    @_retry_transient
    def move(
        self,
        queries: Sequence[Dataset],
        destination_aet: str,
        model: QueryModel = QueryModel.STUDY,
    ) -> list[SubOperations]:
        """C-MOVE each identifier to `destination_aet`, all over one association."""
        with self.associate([build_context(model.move_uid)]) as assoc:
            return [
                self._retrieve(
                    assoc, "C-MOVE", assoc.send_c_move(q, destination_aet, model.move_uid)
                )
                for q in queries
            ]

    @_retry_transient
    def get(
        self,
        queries: Sequence[Dataset],
        on_instance: InstanceCallback,
        model: QueryModel = QueryModel.STUDY,
        storage: Sequence[PresentationContext] | None = None,
    ) -> list[SubOperations]:
        """C-GET each identifier over one association, handing over each instance.

        Args:
            queries: C-GET identifiers (STUDY, SERIES or IMAGE level).
            on_instance: Called with each received instance as encoded DICOM Part 10
                bytes, while the C-GET runs; an exception fails that sub-operation.
            model: The Query/Retrieve model.
            storage: Storage contexts to propose with the SCP role (default: the RT
                storage classes with their compressed transfer syntaxes).
        """
        contexts = [build_context(model.get_uid), *(storage or storage_contexts())]
        if len(contexts) > MAX_CONTEXTS:
            raise ValueError(f"{len(contexts)} presentation contexts; at most {MAX_CONTEXTS}")
        roles = scp_roles(str(cx.abstract_syntax) for cx in contexts[1:])
        errors: list[str] = []

        def handle_store(event: Event) -> int:
            try:
                on_instance(event.encoded_dataset())
            except Exception as exc:
                LOGGER.exception("Handling a received instance failed")
                errors.append(f"{type(exc).__name__}: {exc}")
                return 0xA700
            return 0x0000

        with self.associate(
            contexts, roles=roles, handlers=[(evt.EVT_C_STORE, handle_store)]
        ) as assoc:
            results = []
            for query in queries:
                errors.clear()
                result = self._retrieve(assoc, "C-GET", assoc.send_c_get(query, model.get_uid))
                results.append(
                    SubOperations(
                        result.status,
                        result.completed,
                        result.failed,
                        result.warning,
                        result.failed_uids,
                        tuple(errors),
                    )
                )
            return results

    @_retry_transient
    def store(
        self,
        items: Iterable[Path | bytes],
        on_progress: ProgressCallback | None = None,
    ) -> list[StoreOutcome]:
        """C-STORE files (sent as encoded) or encoded byte buffers.

        Files that are not DICOM Part 10 (and DICOMDIRs) are skipped with a warning.
        Instances go over one association per 128 distinct (SOP class, transfer
        syntax) pairs, normally exactly one.

        Returns:
            One outcome per instance, in the order sent; failures are outcomes,
            not exceptions, so one bad instance does not stop the rest.
        """
        prepared = [item for item in map(_prepare, items) if item is not None]
        keys = list(dict.fromkeys((i.sop_class_uid, i.transfer_syntax) for i in prepared))
        outcomes: list[StoreOutcome] = []
        for first in range(0, len(keys), MAX_CONTEXTS):
            chunk = set(keys[first : first + MAX_CONTEXTS])
            batch = [i for i in prepared if (i.sop_class_uid, i.transfer_syntax) in chunk]
            with self.associate(exact_contexts(keys[first : first + MAX_CONTEXTS])) as assoc:
                for item in batch:
                    outcomes.append(self._store(assoc, item))
                    if on_progress:
                        on_progress(len(outcomes), len(prepared))
        return outcomes

    @contextmanager
    def store_session(
        self, contexts: Sequence[PresentationContext] | None = None
    ) -> Iterator[Callable[[bytes], StoreOutcome]]:
        """One association for C-STOREs of encoded instances not known in advance.

        Yields a function sending one encoded instance and returning its outcome;
        the contexts default to the RT storage classes (see :func:`storage_contexts`).
        """
        with self.associate(contexts or storage_contexts()) as assoc:

            def send(encoded: bytes) -> StoreOutcome:
                return self._store(assoc, _prepare_bytes(encoded))

            yield send

    def _store(self, assoc: Association, item: _StoreItem) -> StoreOutcome:
        """C-STORE one instance; a failure status is an outcome, logged, not raised."""
        started = time.monotonic()
        status = assoc.send_c_store(item.payload)
        code = self._check(assoc, "C-STORE", status, started, raise_failure=False)
        if not is_success_or_warning(code):
            LOGGER.warning("C-STORE of %s to %s: status 0x%04X", item.source, self.peer, code)
        return StoreOutcome(item.sop_instance_uid, code, item.source)

    def _find(self, assoc: Association, query: Dataset, model: QueryModel) -> list[Dataset]:
        started = time.monotonic()
        matches: list[Dataset] = []
        for status, match in assoc.send_c_find(query, model.find_uid):
            code = self._check(assoc, "C-FIND", status, started)
            if is_pending(code) and match is not None:
                matches.append(match)
        return matches

    def _retrieve(
        self,
        assoc: Association,
        service: str,
        responses: Iterator[tuple[Dataset, Dataset | None]],
    ) -> SubOperations:
        started = time.monotonic()
        final = Dataset()
        failed_uids: tuple[str, ...] = ()
        for status, answer in responses:
            code = self._check(assoc, service, status, started, raise_failure=False)
            if is_pending(code):
                continue
            final = status
            if answer is not None and "FailedSOPInstanceUIDList" in answer:
                failed = answer.FailedSOPInstanceUIDList
                failed_uids = tuple(failed) if isinstance(failed, list | tuple) else (failed,)
        result = SubOperations(
            status=int(final.Status),
            completed=int(final.get("NumberOfCompletedSuboperations", 0) or 0),
            failed=int(final.get("NumberOfFailedSuboperations", 0) or 0),
            warning=int(final.get("NumberOfWarningSuboperations", 0) or 0),
            failed_uids=failed_uids,
        )
        attempted = result.completed + result.failed + result.warning
        if not is_success_or_warning(result.status) and not attempted:
            # A failure with sub-operation counts (0xA702...) is an outcome to report;
            # one without (unknown destination, unable to process) is an error.
            raise DimseStatusError(
                service,
                result.status,
                f"{self.peer}: {result.completed} completed, {result.failed} failed"
                + (f"; {final.ErrorComment}" if "ErrorComment" in final else ""),
            )
        return result

    def _check(
        self,
        assoc: Association,
        service: str,
        status: Dataset,
        started: float,
        *,
        raise_failure: bool = True,
    ) -> int:
        """The status code of a response; raises when the response is missing."""
        if not status or "Status" not in status:
            elapsed = time.monotonic() - started
            if elapsed >= self.timeout * 0.95:
                raise DicomTimeoutError(
                    f"{self.peer} did not answer {service} within {self.timeout:g} s"
                )
            raise AssociationAbortedError(f"{self.peer} aborted the association during {service}")
        code = int(status.Status)
        if raise_failure and not (is_pending(code) or is_success_or_warning(code)):
            comment = str(status.get("ErrorComment", ""))
            raise DimseStatusError(
                service, code, f"{self.peer}" + (f": {comment}" if comment else "")
            )
        return code

    def _association_failure(
        self,
        assoc: Association,
        connected: bool,
        rejected: A_ASSOCIATE_RJ | None,
        elapsed: float,
    ) -> DicomError:
        who = f"{self.peer} (calling AE {self.calling_aet})"
        if not connected:
            return PeerUnreachableError(
                f"cannot connect to {self.peer.host}:{self.peer.port} for {self.peer.aet} "
                "(connection refused, no route, or no answer within "
                f"{self.connect_timeout:g} s)"
            )
        answer = assoc.acceptor.primitive
        rejection: A_ASSOCIATE | A_ASSOCIATE_RJ | None = answer if assoc.is_rejected else rejected
        if rejection is not None:
            return AssociationRejectedError(
                f"{who} rejected the association: {rejection.reason_str} "
                f"({rejection.result_str}, {rejection.source_str})",
                permanent=rejection.result == 0x01,
            )
        if answer is not None and answer.result == 0x00:
            return NoPresentationContextError(
                f"{who} accepted none of the proposed presentation contexts"
            )
        if elapsed >= self.timeout * 0.95:
            return DicomTimeoutError(
                f"{who} did not answer the association request within {self.timeout:g} s"
            )
        return AssociationAbortedError(f"{who} aborted the association request")


def _prepare_bytes(encoded: bytes) -> _StoreItem:
    """Read what a C-STORE needs to know about an encoded instance."""
    ds = dcmread(io.BytesIO(encoded))
    return _StoreItem(
        payload=ds,
        sop_class_uid=str(ds.SOPClassUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        source="<bytes>",
    )


def _prepare(item: Path | bytes) -> _StoreItem | None:
    """Read what a C-STORE needs to know about a file or buffer (not its pixels)."""
    if isinstance(item, bytes):
        return _prepare_bytes(item)
    try:
        meta = read_file_meta_info(item)
        sop_class = str(meta.MediaStorageSOPClassUID)
        sop_instance = str(meta.MediaStorageSOPInstanceUID)
        transfer_syntax = str(meta.TransferSyntaxUID)
    except (OSError, AttributeError, ValueError, InvalidDicomError) as exc:
        LOGGER.warning("Skipping %s: not a DICOM Part 10 file (%s)", item, exc)
        return None
    if sop_class == _MEDIA_STORAGE_DIRECTORY:
        LOGGER.info("Skipping DICOMDIR %s", item)
        return None
    return _StoreItem(item, sop_class, sop_instance, transfer_syntax, str(item))
