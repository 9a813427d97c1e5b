"""DICOM network client (pynetdicom): C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE.

:class:`DicomClient` is plain Python and works without Dagster; the site's Dagster
resources (:mod:`radonc_assets.site.resources`) build one from typed configuration.

Every operation runs over as few associations as possible (one per call, never
one per instance), with connect, ACSE, DIMSE and network timeouts, TCP_NODELAY on
the socket (pynetdicom leaves Nagle's algorithm on, which delays every small
C-STORE), and failures raised as the typed exceptions of :mod:`resources.errors`.
"""

import functools
import io
import logging
import ssl
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification
from pynetdicom.status import STATUS_PENDING, STATUS_SUCCESS, STATUS_WARNING, code_to_category

from resources.dicom.contexts import (
    MAX_CONTEXTS,
    MAX_GET_STORAGE_CONTEXTS,
    RT_STORAGE,
    exact_contexts,
    plan_associations,
    scp_roles,
    storage_contexts,
)
from resources.dicom.node import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_PDU,
    DEFAULT_TIMEOUT,
    DicomNode,
)
from resources.dicom.part10 import file_header
from resources.dicom.queries import (
    InstanceRecord,
    QueryLevel,
    QueryModel,
    answer_problem,
    describe,
    identifier,
    instance_record,
)
from resources.dicom.statuses import DimseStatusError
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
    NoPresentationContextError,
    PeerUnreachableError,
    TlsError,
)
from resources.tls import TlsWatch, describe_tls_error

LOGGER = logging.getLogger(__name__)

_MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
# PS3.7 C.5: "Refused: SOP Class not supported", for an instance no context can carry.
_SOP_CLASS_NOT_SUPPORTED = 0x0122


def is_pending(status: int) -> bool:
    """Whether a DIMSE status says more responses follow."""
    return code_to_category(status) == STATUS_PENDING


def is_success_or_warning(status: int) -> bool:
    """Whether a DIMSE status says the operation was done (possibly with a warning)."""
    return code_to_category(status) in (STATUS_SUCCESS, STATUS_WARNING)


@dataclass(frozen=True)
class SubOperations:
    """The outcome of one C-MOVE or C-GET request (its final response).

    Attributes:
        status: The final status.
        completed: Sub-operations that succeeded.
        failed: Sub-operations that failed.
        warning: Sub-operations that succeeded with a warning.
        failed_uids: The source's Failed SOP Instance UID List.
        errors: The source's Error Comment, if it sent one, then why this client
            failed instances it received (C-GET).
        proposed: The storage SOP classes the C-GET proposed (empty for C-MOVE). A
            source without a context for an instance's class fails that
            sub-operation and may not say why: Orthanc 1.10 answers 0xC000 with the
            failure counted but neither Error Comment nor Failed SOP Instance UID
            List, and only its log says "No presentation context for: (US) ..."
            (measured); an instance whose class is not in `proposed` is then the one.
        accepted: The proposed classes the source accepted with our SCP role: one
            it did not accept cannot be sent over this C-GET (Orthanc 1.10 accepts
            no private class, and logs "Refused: SOPClassNotSupported").
    """

    status: int
    completed: int
    failed: int
    warning: int
    failed_uids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    proposed: frozenset[str] = field(default=frozenset(), repr=False)
    accepted: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def ok(self) -> bool:
        """True when every sub-operation completed without failure."""
        return self.status == 0x0000 and self.failed == 0


@dataclass(frozen=True)
class StoreOutcome:
    """The outcome of one C-STORE.

    Attributes:
        sop_instance_uid: The instance.
        status: The peer's status, or 0x0122 (SOP class not supported) when the peer
            accepted no presentation context for its SOP class and transfer syntax.
        source: The file it came from (``<bytes>`` for a buffer).
        detail: Why it was not sent, when it was not.
    """

    sop_instance_uid: str
    status: int
    source: str = ""
    detail: str = ""

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
# Called with the instances of one series, as soon as a C-FIND enumeration knows them.
SeriesCallback = Callable[[list[InstanceRecord]], None]
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def in_parallel(items: Sequence[T], lanes: int, work: Callable[[Sequence[T]], list[R]]) -> list[R]:
    """`work` over `items` split into `lanes` interleaved parts, one thread each, in order.

    Each part is handed to `work` whole (one association each); the results come back
    in the order of `items`. The first exception of any part is raised, after every
    part has ended. No items, no work (no association opened for nothing).
    """
    if not items:
        return []
    lanes = max(1, min(lanes, len(items)))
    if lanes == 1:
        return work(items)
    parts = [items[lane::lanes] for lane in range(lanes)]
    with ThreadPoolExecutor(lanes, "dicom") as pool:
        answers = [future.result() for future in [pool.submit(work, part) for part in parts]]
    return [answers[index % lanes][index // lanes] for index in range(len(items))]


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


# Called after each C-STORE with the outcomes so far and the number of instances to send.
StoreProgress = Callable[[Sequence[StoreOutcome], int], None]


class DicomClient:
    """A DICOM service user talking to one peer.

    Associations are made over TLS when the peer has TLS settings: its certificate
    is verified against their CA file and its host (the address connected to), and a
    certificate either side refuses raises :class:`~resources.errors.TlsError`.

    Args:
        peer: The remote AE.
        calling_aet: Our AE title.
        connect_timeout: Seconds to wait for the TCP connection.
        timeout: Seconds to wait for any association or DIMSE answer and for
            network reads.
        max_pdu: Maximum PDU size we accept (0 = unlimited).
        retries: How often an operation is tried again after a transient failure.
        backoff: Seconds before the first retry; doubled for each further one.
        associations: Simultaneous associations a C-MOVE of several requests or an
            enumeration of several series opens, each carrying its share of them
            (1: everything over one association).
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
        associations: int = 1,
    ) -> None:
        self.peer = peer
        self.calling_aet = calling_aet
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.max_pdu = max_pdu
        self.retries = retries
        self.backoff = backoff
        self.associations = associations

    @functools.cached_property
    def _tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of every association with the peer (None: plain TCP)."""
        if self.peer.tls is None:
            return None
        try:
            return self.peer.tls.context()
        except TlsError as exc:
            raise TlsError(f"{self.peer}: {exc}") from exc

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
            TlsError: The TLS handshake failed, or the peer refused our certificate.
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
        watch = TlsWatch(self._tls_context) if self._tls_context else None
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
            tls_args=watch.tls_args(self.peer.host) if watch else None,
        )
        if not assoc.is_established:
            raise self._association_failure(
                assoc,
                bool(connected),
                rejection.rejection,
                time.monotonic() - started,
                watch.error if watch else None,
            )
        LOGGER.debug("Association with %s established", self.peer)
        keep_responses_from_the_reactor(assoc)
        try:
            yield assoc
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM, a failure): abort at once; a release would
            # wait up to the timeout for a peer that may be what hangs.
            if assoc.is_established:
                assoc.abort()
            raise
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
        on_series: SeriesCallback | None = None,
    ) -> list[InstanceRecord]:
        """Every instance of the matching studies, found study -> series -> image.

        The study and series queries go over one association; the image queries, one
        per series, are shared among `associations` associations, since a source
        answers each instance in turn, most of the time being the source's own
        (docs/benchmarks.md, "Figures behind design choices"). Works against strictly
        hierarchical servers: each level's query carries the unique keys of its parents.
        Instances come in the order of the studies and series answered.

        An answer that cannot be filed (:func:`~resources.dicom.queries.answer_problem`:
        no UID of its level, or a parent UID other than the queried one) is skipped
        with a warning naming the peer, the query and the fault, not raised. Such an
        instance could not be retrieved or verified anyway (a retrieve needs its UID,
        and filing it under the queried series would corrupt the manifest); raising
        would hold back every well-formed instance of the day for a fault that only
        the source's vendor can fix, and no retry would help. The warning is what
        the PACS administrator reports to that vendor.

        Args:
            study_keys: STUDY-level matching keys, e.g. ``{"StudyDate": "20260105"}``.
            series_keys: Optional SERIES-level matching keys, e.g. ``{"Modality": "RTRECORD"}``.
            on_series: Called with the instances of each series listed at IMAGE level
                as soon as they are known, from the thread of its association (so that
                the series can be retrieved while the others are enumerated).
        """
        model = QueryModel.STUDY
        found: list[tuple[Dataset, Dataset]] = []
        with self.associate([build_context(model.find_uid)]) as assoc:
            study_query = identifier(QueryLevel.STUDY, study_keys)
            for study in self._usable(assoc, study_query, QueryLevel.STUDY, {}):
                parents = {"StudyInstanceUID": str(study.StudyInstanceUID)}
                series_query = identifier(QueryLevel.SERIES, {**(series_keys or {}), **parents})
                found += [
                    (study, series)
                    for series in self._usable(assoc, series_query, QueryLevel.SERIES, parents)
                ]

        def instances(share: Sequence[tuple[Dataset, Dataset]]) -> list[list[InstanceRecord]]:
            return self._series_instances(share, on_series)

        return [
            record
            for records in in_parallel(found, self.associations, instances)
            for record in records
        ]

    def _series_instances(
        self, found: Sequence[tuple[Dataset, Dataset]], on_series: SeriesCallback | None
    ) -> list[list[InstanceRecord]]:
        """The instances of each (study, series) answer, by IMAGE queries over one association."""
        model = QueryModel.STUDY
        with self.associate([build_context(model.find_uid)]) as assoc:
            instances = []
            for study, series in found:
                keys = {
                    "StudyInstanceUID": str(study.StudyInstanceUID),
                    "SeriesInstanceUID": str(series.SeriesInstanceUID),
                }
                image_query = identifier(QueryLevel.IMAGE, keys)
                records = [
                    instance_record(study, series, image)
                    for image in self._usable(assoc, image_query, QueryLevel.IMAGE, keys)
                ]
                if on_series is not None and records:
                    on_series(records)
                instances.append(records)
            return instances

    def _usable(
        self,
        assoc: Association,
        query: Dataset,
        level: QueryLevel,
        parents: Mapping[str, str],
    ) -> list[Dataset]:
        """Study Root C-FIND answers to `query` that can be filed; warns about the rest."""
        usable = []
        for answer in self._find(assoc, query, QueryModel.STUDY):
            problem = answer_problem(level, answer, parents)
            if problem:
                LOGGER.warning(
                    "%s: skipping an answer to the %s: %s", self.peer, describe(query), problem
                )
            else:
                usable.append(answer)
        return usable

    def move(
        self,
        queries: Sequence[Dataset],
        destination_aet: str,
        model: QueryModel = QueryModel.STUDY,
        *,
        isolate_failures: bool = False,
    ) -> list[SubOperations]:
        """C-MOVE each identifier to `destination_aet`, over `associations` associations.

        The requests are shared among the associations (each sends its share in turn),
        so the source sends to the destination over as many associations at once.

        Args:
            queries: C-MOVE identifiers.
            destination_aet: The AE title the source sends to.
            model: The Query/Retrieve model.
            isolate_failures: Return a request that fails without sub-operations
                (Orthanc answers 0xC000 when one instance cannot be sent) as its
                outcome instead of raising, so that the next requests still run.

        Returns:
            One outcome per query, in the order of `queries`.
        """

        def move_share(share: Sequence[Dataset]) -> list[SubOperations]:
            return self._move(share, destination_aet, model, isolate_failures)

        return in_parallel(queries, self.associations, move_share)

    @_retry_transient
    def _move(
        self,
        queries: Sequence[Dataset],
        destination_aet: str,
        model: QueryModel,
        isolate_failures: bool,
    ) -> list[SubOperations]:
        """C-MOVE each identifier to `destination_aet`, all over one association."""
        with self.move_session(destination_aet, model, isolate_failures=isolate_failures) as move:
            return [move(query) for query in queries]

    @contextmanager
    def move_session(
        self,
        destination_aet: str,
        model: QueryModel = QueryModel.STUDY,
        *,
        isolate_failures: bool = False,
    ) -> Iterator[Callable[[Dataset], SubOperations]]:
        """One association for C-MOVEs to `destination_aet` of identifiers not known in advance.

        Yields a function that C-MOVEs one identifier and returns its outcome (with
        `isolate_failures`, a request that fails without sub-operations is an outcome,
        not an exception). Not retried: the association is the caller's.
        """
        with self.associate([build_context(model.move_uid)]) as assoc:

            def move(query: Dataset) -> SubOperations:
                return self._retrieve(
                    assoc,
                    "C-MOVE",
                    assoc.send_c_move(query, destination_aet, model.move_uid),
                    raise_failure=not isolate_failures,
                )

            yield move

    def get(
        self,
        queries: Sequence[Dataset],
        on_instance: InstanceCallback,
        model: QueryModel = QueryModel.STUDY,
        sop_classes: Sequence[Collection[str]] | None = None,
        *,
        isolate_failures: bool = False,
    ) -> list[SubOperations]:
        """C-GET each identifier, handing over each instance as it arrives.

        Every class a query will bring is proposed with the SCP role, with one
        context for the uncompressed transfer syntaxes and, for image classes, one
        per compressed syntax, so the source sends what it stores as it stores it
        (:func:`~resources.dicom.contexts.storage_contexts`). Queries expecting the
        same classes share an association; the others are spread over as few
        associations as pynetdicom's 128 contexts allow
        (:func:`~resources.dicom.contexts.plan_associations`).

        Args:
            queries: C-GET identifiers (STUDY, SERIES or IMAGE level).
            on_instance: Called with each received instance as encoded DICOM Part 10
                bytes, while the C-GET runs; an exception fails that sub-operation.
            model: The Query/Retrieve model.
            sop_classes: The SOP Class UIDs each query will bring, one collection
                per query (:func:`~resources.dicom.contexts.storage_classes` makes
                them from C-FIND answers). Default, and for an empty collection: the
                RT storage classes (:data:`~resources.dicom.contexts.RT_STORAGE`).
            isolate_failures: Return a request that fails without sub-operations as
                its outcome instead of raising, so that the next requests still run.

        Returns:
            One outcome per query, in the order of `queries`.

        Raises:
            ValueError: `sop_classes` does not have one collection per query.
        """
        if sop_classes is None:
            sop_classes = [RT_STORAGE] * len(queries)
        if len(sop_classes) != len(queries):
            raise ValueError(f"{len(sop_classes)} sets of SOP classes for {len(queries)} queries")
        plans = plan_associations([classes or RT_STORAGE for classes in sop_classes])
        if len(plans) > 1:
            LOGGER.info(
                "C-GET of %d queries from %s over %d associations (%d SOP classes)",
                len(queries),
                self.peer,
                len(plans),
                len(set().union(*(classes for _, classes in plans))),
            )
        results: dict[int, SubOperations] = {}
        for indexes, classes in plans:
            batch = [queries[index] for index in indexes]
            outcomes = self._get(batch, on_instance, model, classes, isolate_failures)
            results.update(zip(indexes, outcomes, strict=True))
        return [results[index] for index in range(len(queries))]

    @_retry_transient
    def _get(
        self,
        queries: Sequence[Dataset],
        on_instance: InstanceCallback,
        model: QueryModel,
        sop_classes: Collection[str],
        isolate_failures: bool,
    ) -> list[SubOperations]:
        """C-GET each identifier over one association proposing `sop_classes`."""
        storage = storage_contexts(sop_classes, limit=MAX_GET_STORAGE_CONTEXTS)
        proposed = frozenset(str(cx.abstract_syntax) for cx in storage)
        roles = scp_roles(sorted(proposed))
        errors: list[str] = []

        def handle_store(event: Event) -> int:
            try:
                request = cast(C_STORE, event.request)
                header = file_header(
                    str(request.AffectedSOPClassUID),
                    str(request.AffectedSOPInstanceUID),
                    event.context.transfer_syntax,
                )
                on_instance(header + cast(io.BytesIO, request.DataSet).getvalue())
            except Exception as exc:
                LOGGER.exception("Handling a received instance failed")
                errors.append(f"{type(exc).__name__}: {exc}")
                return 0xA700
            return 0x0000

        with self.associate(
            [build_context(model.get_uid), *storage],
            roles=roles,
            handlers=[(evt.EVT_C_STORE, handle_store)],
        ) as assoc:
            accepted = frozenset(
                str(cx.abstract_syntax) for cx in assoc.accepted_contexts if cx.as_scp
            )
            results = []
            for query in queries:
                errors.clear()
                result = self._retrieve(
                    assoc,
                    "C-GET",
                    assoc.send_c_get(query, model.get_uid),
                    raise_failure=not isolate_failures,
                )
                results.append(
                    replace(
                        result,
                        errors=(*result.errors, *errors),
                        proposed=proposed,
                        accepted=accepted,
                    )
                )
            return results

    @_retry_transient
    def store(
        self,
        items: Iterable[Path | bytes],
        on_progress: StoreProgress | None = None,
    ) -> list[StoreOutcome]:
        """C-STORE files (sent as encoded) or encoded byte buffers, as DCMTK storescu does.

        Files that are not DICOM Part 10 (and DICOMDIRs) are skipped with a warning.
        Each instance is sent with its data set's own SOP Class and Instance UIDs
        (see :func:`_prepare`). Instances go over one association per 128 distinct
        (SOP class, transfer syntax) pairs, normally exactly one.

        Args:
            items: Files or encoded instances.
            on_progress: Called after each instance with the outcomes so far and
                the number of instances to send.

        Returns:
            One outcome per instance, in the order sent; failures are outcomes,
            not exceptions, so one bad instance does not stop the rest. An instance
            whose SOP class and transfer syntax the peer accepts in no context is
            refused with 0x0122 without being sent.
        """
        prepared = [item for item in map(_prepare, items) if item is not None]
        keys = list(dict.fromkeys((i.sop_class_uid, i.transfer_syntax) for i in prepared))
        outcomes: list[StoreOutcome] = []
        for first in range(0, len(keys), MAX_CONTEXTS):
            chunk = set(keys[first : first + MAX_CONTEXTS])
            batch = [i for i in prepared if (i.sop_class_uid, i.transfer_syntax) in chunk]
            try:
                with self.associate(exact_contexts(keys[first : first + MAX_CONTEXTS])) as assoc:
                    for item in batch:
                        outcomes.append(self._store(assoc, item))
                        if on_progress:
                            on_progress(outcomes, len(prepared))
            except NoPresentationContextError:
                for item in batch:
                    outcomes.append(self._refused(item))
                    if on_progress:
                        on_progress(outcomes, len(prepared))
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
        accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        if (item.sop_class_uid, item.transfer_syntax) not in accepted:
            return self._refused(item)
        started = time.monotonic()
        status = assoc.send_c_store(item.payload)
        code = self._check(assoc, "C-STORE", status, started, raise_failure=False)
        if not is_success_or_warning(code):
            LOGGER.warning("C-STORE of %s to %s: status 0x%04X", item.source, self.peer, code)
        return StoreOutcome(item.sop_instance_uid, code, item.source)

    def _refused(self, item: _StoreItem) -> StoreOutcome:
        """The outcome of an instance the peer accepted no presentation context for."""
        detail = (
            f"{self.peer} accepted no presentation context for "
            f"{UID(item.sop_class_uid).name} in {UID(item.transfer_syntax).name}"
        )
        LOGGER.warning("C-STORE of %s: %s", item.source, detail)
        return StoreOutcome(item.sop_instance_uid, _SOP_CLASS_NOT_SUPPORTED, item.source, detail)

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
        *,
        raise_failure: bool = True,
    ) -> SubOperations:
        started = time.monotonic()
        final = Dataset()
        failed_uids: tuple[str, ...] = ()
        for status, answer in responses:
            code = self._check(assoc, service, status, started, raise_failure=False)
            if is_pending(code):
                continue
            final = status
            failed = answer.get("FailedSOPInstanceUIDList") if answer is not None else None
            if failed:
                # One UID is a str, several a pydicom MultiValue.
                failed_uids = (failed,) if isinstance(failed, str) else tuple(map(str, failed))
        result = SubOperations(
            status=int(final.Status),
            completed=int(final.get("NumberOfCompletedSuboperations", 0) or 0),
            failed=int(final.get("NumberOfFailedSuboperations", 0) or 0),
            warning=int(final.get("NumberOfWarningSuboperations", 0) or 0),
            failed_uids=failed_uids,
            errors=(str(final.ErrorComment),) if final.get("ErrorComment") else (),
        )
        attempted = result.completed + result.failed + result.warning
        if raise_failure and not is_success_or_warning(result.status) and not attempted:
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
        tls_error: ssl.SSLError | ConnectionError | None = None,
    ) -> DicomError:
        who = f"{self.peer} (calling AE {self.calling_aet})"
        if tls_error is not None and rejected is None and not assoc.is_rejected:
            # pynetdicom reported it as "cannot connect" or as an abort.
            return TlsError(
                f"TLS handshake with {self.peer} failed: "
                f"{describe_tls_error(tls_error, self.peer.tls)}"
            )
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
    """Read what a C-STORE needs to know about a file or buffer (not its pixels).

    The Affected SOP Class and Instance UIDs of the C-STORE name the instance to
    be stored (PS3.7 9.3.1.1), its data set's own, as DCMTK storescu sends them. A file is sent as encoded, in
    PDU-sized chunks, when its file meta agrees with its data set; some files in
    the wild carry other UIDs in their file meta (pydicom's ``rtplan.dcm``), and
    Orthanc refuses a C-STORE naming those with 0xA900, so such a file is decoded
    and sent as a data set, which carries its own UIDs.
    """
    if isinstance(item, bytes):
        return _prepare_bytes(item)
    try:
        header = dcmread(
            item, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"]
        )
        meta = header.file_meta
        transfer_syntax = str(meta.TransferSyntaxUID)
        in_meta = (str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID))
    except (OSError, AttributeError, ValueError, InvalidDicomError) as exc:
        LOGGER.warning("Skipping %s: not a DICOM Part 10 file (%s)", item, exc)
        return None
    sop_class = str(header.get("SOPClassUID") or in_meta[0])
    sop_instance = str(header.get("SOPInstanceUID") or in_meta[1])
    if sop_class == _MEDIA_STORAGE_DIRECTORY:
        LOGGER.info("Skipping DICOMDIR %s", item)
        return None
    payload: Path | Dataset = item
    if (sop_class, sop_instance) != in_meta:
        LOGGER.warning(
            "%s: its file meta names instance %s of class %s, its data set %s of %s; "
            "sending the data set's",
            item,
            in_meta[1],
            in_meta[0],
            sop_instance,
            sop_class,
        )
        payload = dcmread(item)
    return _StoreItem(payload, sop_class, sop_instance, transfer_syntax, str(item))
