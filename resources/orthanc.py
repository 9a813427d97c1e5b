"""The Orthanc archive: REST API when configured, plain DICOM otherwise.

Orthanc's REST API (`/tools/lookup`, `/tools/find`, `/statistics`, upload and
download of encoded instances) is the fast path (:class:`RestOrthanc`); when a site
configures no ``rest_url`` the same questions are answered with C-FIND, C-GET and
C-STORE over DICOM (:class:`DicomOrthanc`). Both implement :class:`OrthancClient`,
which callers type against; :func:`orthanc_client` picks one.
"""

import hashlib
import io
import logging
import os
import ssl
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Self

import requests
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from resources.dicom.client import DicomClient
from resources.dicom.contexts import RT_STORAGE
from resources.dicom.queries import (
    LEVEL_UID,
    InstanceRecord,
    QueryLevel,
    QueryModel,
    identifier,
    instance_record,
    retrieve_identifier,
)
from resources.errors import OrthancError
from resources.tls import describe_tls_error, trusted

LOGGER = logging.getLogger(__name__)

# Instances whose files are checked (verify-md5) at once by default: measured in
# docs/benchmarks.md ("Archive integrity").
VERIFY_WORKERS = 4
# Identities handed to the pool at a time.
_VERIFY_BATCH = 1000
# What Orthanc answers of a file it cannot read (OrthancStatus of its HTTP 500): inexistent
# file, corrupted file, not a regular file (a file deleted from its storage, in 1.10.1).
_UNREADABLE_FILE = frozenset({13, 20, 2006})
_GONE = "not in the archive any more (deleted since it was listed)"

_REST_LEVELS = {
    QueryLevel.PATIENT: "Patient",
    QueryLevel.STUDY: "Study",
    QueryLevel.SERIES: "Series",
    QueryLevel.IMAGE: "Instance",
}


@dataclass(frozen=True)
class UploadResult:
    """What Orthanc answered to one uploaded instance."""

    orthanc_id: str
    status: str

    @property
    def already_stored(self) -> bool:
        """True when Orthanc had the instance before."""
        return self.status == "AlreadyStored"


class OrthancClient(ABC):
    """An Orthanc archive, over its REST API or over DICOM alone.

    What the backup asks of the archive, whichever way it is reached: callers type
    against this class and :func:`orthanc_client` picks the implementation,
    :class:`RestOrthanc` when a ``rest_url`` is configured, :class:`DicomOrthanc`
    otherwise. What only the REST API can do (statistics, lookups, deletions, MD5
    checks) raises :class:`~resources.errors.OrthancError` over DICOM alone.

    Attributes:
        dicom: A DICOM client whose peer is this Orthanc.
        has_rest: Whether the REST API is configured.
    """

    has_rest: ClassVar[bool]

    def __init__(self, dicom: DicomClient) -> None:
        self.dicom = dicom

    @abstractmethod
    def close(self) -> None:
        """Close the connections this client keeps alive."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @abstractmethod
    def system(self) -> dict[str, Any]:
        """`GET /system` (name, version, AE title, ports)."""

    @abstractmethod
    def statistics(self) -> dict[str, Any]:
        """`GET /statistics`: counts and disk usage of the whole archive."""

    @abstractmethod
    def lookup(self, uid: str) -> list[dict[str, str]]:
        """`POST /tools/lookup`: the resources (Type, ID, Path) carrying a DICOM UID."""

    @abstractmethod
    def find(self, level: QueryLevel, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Matching resources with their main DICOM tags.

        Uses `POST /tools/find` (expanded) over REST; over DICOM, a C-FIND whose
        answers are returned as ``{"MainDicomTags": {keyword: value}}`` dicts, so
        callers read both the same way.
        """

    def held_uids(self, level: QueryLevel, uids: Collection[str]) -> set[str]:
        """Which of these Series or SOP Instance UIDs (`level`) the archive holds.

        One query with List of UID Matching (PS3.4 C.2.2.2.2): `POST /tools/find`
        over REST, else a C-FIND at `level` without the parents' UIDs, which Orthanc
        accepts; REST answers several times faster (docs/benchmarks.md, "Figures behind
        design choices"). No UIDs, no query: an empty UID would match everything.
        """
        wanted = set(uids)
        if not wanted:
            return set()
        key = LEVEL_UID[level]
        answers = self.find(level, {key: "\\".join(sorted(wanted))})
        return {str(a["MainDicomTags"].get(key, "")) for a in answers} & wanted

    @abstractmethod
    def instance_header(
        self, sop_instance_uid: str, sop_classes: Collection[str] = RT_STORAGE
    ) -> Dataset | None:
        """An instance's data set without its pixel data, or None when it is not archived.

        Over REST, `POST /tools/lookup` then `GET /instances/{id}/file`, read with
        ``stop_before_pixels`` (faster than `/instances/{id}/tags`, for which Orthanc
        parses the file and writes JSON). Without REST, an IMAGE-level C-GET naming the
        SOPInstanceUID alone, which Orthanc resolves, most of its time the association;
        it proposes the instance's own class, as proposing every RT class more than
        doubles it (docs/benchmarks.md, "Figures behind design choices"). Orthanc
        answers an unknown UID with 0xC000 and no sub-operation (measured): that is None.

        Args:
            sop_instance_uid: The instance.
            sop_classes: The SOP classes it may have, proposed for the C-GET
                (ignored over REST).

        Raises:
            OrthancError: The archive holds it but failed to send it (for one, in
                none of `sop_classes`).
        """

    def upload(self, encoded: bytes) -> UploadResult:
        """Store one encoded DICOM instance (`POST /instances`, or C-STORE without REST)."""
        with self.uploader() as store:
            return store(encoded)

    def archived_uids(self, study_uids: Iterable[str]) -> set[str]:
        """The SOPInstanceUIDs the archive holds of these studies (:meth:`archived_files`)."""
        return set(self.archived_files(study_uids))

    @abstractmethod
    def archived_files(self, study_uids: Iterable[str]) -> dict[str, int]:
        """Each SOPInstanceUID the archive holds of these studies, with its file's size.

        Over REST from the studies' instances alone (two requests per study, sizes from
        ``FileSize``); without REST by C-FIND, sizes 0: DICOM cannot tell them.
        """

    @abstractmethod
    def archived_instances(self, expected: Iterable[Sequence[str]]) -> list[InstanceRecord]:
        """Every instance the archive holds of the studies of the `expected` instances.

        Over REST, one request per study: the study's series with their instances'
        Orthanc identifiers (:func:`orthanc_id`), which name the expected instances
        the archive holds in the series they are expected in; one more request per
        series holding any other instance, to name those (docs/benchmarks.md, "Figures
        behind design choices": far faster than the study's instances with their tags).
        A study the archive does not hold under the expected PatientID is looked up
        by its UID (``/tools/lookup``) and listed whole. Orthanc's REST API lists no
        SOP class per instance, so `sop_class_uid` is empty then, as are the patient
        and study fields the comparison does not use. Without REST, one IMAGE-level
        C-FIND per study over one association (Orthanc accepts non-hierarchical
        queries), SOP class included.

        Args:
            expected: PatientID, StudyInstanceUID, SeriesInstanceUID and
                SOPInstanceUID of each instance the archive should hold.
        """

    @abstractmethod
    def instance_sizes(self, study_uids: Iterable[str]) -> dict[str, int]:
        """The size in the archive (its DICOM file, bytes) of each instance of these studies.

        By SOPInstanceUID over REST (:meth:`archived_files`); empty without REST, where
        DICOM has no way to tell.
        """

    @abstractmethod
    def altered_files(
        self, expected: Iterable[Sequence[str]], *, workers: int = VERIFY_WORKERS
    ) -> dict[str, str]:
        """The instances whose stored file is no longer the one the archive stored, and why.

        `POST /instances/{id}/attachments/dicom/verify-md5` for each instance (REST only),
        `workers` requests in flight: Orthanc reads the file from its storage again and
        compares its MD5 with the one it recorded when it stored it
        (``StoreMD5ForAttachments``, on by default). Orthanc 1.10.1 answers 200 when they
        agree, 400 when they differ or when it recorded none (``/attachments/dicom/info``
        tells which), 500 when it cannot read the file (gone from its storage). An
        instance is named by its Orthanc identifier (:func:`orthanc_id`); one the archive
        holds under another PatientID, by its SOPInstanceUID (``/tools/lookup``).

        Orthanc serves the files it stored or read lately from its storage cache
        (``MaximumStorageCacheSize``, 128 MB by default): a change on disk is seen once
        the cached copy is evicted or Orthanc restarted, at once with a cache size of 0.

        Args:
            expected: PatientID, StudyInstanceUID, SeriesInstanceUID and SOPInstanceUID
                of each instance to check.
            workers: Requests in flight at once.

        Returns:
            By SOPInstanceUID, what is wrong with each instance whose file is not the one
            stored (an instance deleted since it was listed included).

        Raises:
            OrthancError: No REST API, or Orthanc failed otherwise.
        """

    @abstractmethod
    def uploader(self) -> AbstractContextManager[Callable[[bytes], UploadResult]]:
        """A function storing encoded instances one by one, as they arrive.

        Over REST each instance is one POST on a kept-alive connection; without
        REST all go over one C-STORE association.
        """

    @abstractmethod
    def delete_instances(self, sop_instance_uids: Iterable[str]) -> int:
        """Delete instances by SOPInstanceUID (REST only); returns how many were found."""


class RestOrthanc(OrthancClient):
    """An Orthanc server reached over its REST API (and over DICOM for C-MOVE).

    Args:
        dicom: A DICOM client whose peer is this Orthanc.
        rest_url: Base URL of the REST API, e.g. ``http://127.0.0.1:8042``; an
            ``https://`` URL's certificate and host name are always verified.
        username: Basic-auth user for the REST API.
        password: Basic-auth password (from the environment, never from a file).
        timeout: Seconds for connecting and for each answer.
        ca_file: PEM file of the CAs trusted for an ``https://`` URL; None: the
            system's (and ``REQUESTS_CA_BUNDLE``, if set).
    """

    has_rest = True

    def __init__(
        self,
        dicom: DicomClient,
        rest_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        ca_file: Path | None = None,
    ) -> None:
        super().__init__(dicom)
        self.rest_url = rest_url.rstrip("/")
        self.timeout = timeout
        self.ca_file = ca_file
        self._session = requests.Session()
        # The environment's proxies and CA bundle are read once, here: requests reads
        # them again for every request otherwise (docs/benchmarks.md).
        self._session.trust_env = False
        self._session.proxies = requests.utils.get_environ_proxies(self.rest_url)
        self._verify: str | bool = (
            str(ca_file)
            if ca_file
            else os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        if username is not None:
            self._session.auth = (username, password or "")

    def close(self) -> None:
        """Close the REST connections this client keeps alive."""
        self._session.close()

    def system(self) -> dict[str, Any]:
        """`GET /system` (name, version, AE title, ports)."""
        return dict(self._rest("GET", "/system"))

    def statistics(self) -> dict[str, Any]:
        """`GET /statistics`: counts and disk usage of the whole archive."""
        return dict(self._rest("GET", "/statistics"))

    def lookup(self, uid: str) -> list[dict[str, str]]:
        """`POST /tools/lookup`: the resources (Type, ID, Path) carrying a DICOM UID."""
        return list(self._rest("POST", "/tools/lookup", data=uid.encode("ascii")))

    def find(self, level: QueryLevel, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Matching resources with their main DICOM tags (`POST /tools/find`, expanded)."""
        body = {"Level": _REST_LEVELS[level], "Query": dict(query), "Expand": True}
        return list(self._rest("POST", "/tools/find", json=body))

    def instance_header(
        self, sop_instance_uid: str, sop_classes: Collection[str] = RT_STORAGE
    ) -> Dataset | None:
        """An instance's data set without its pixel data, or None when it is not archived.

        `POST /tools/lookup` then `GET /instances/{id}/file`
        (:meth:`OrthancClient.instance_header`).
        """
        for resource in self.lookup(sop_instance_uid):
            if resource["Type"] == "Instance":
                path = f"/instances/{resource['ID']}/file"
                return _header(self._request("GET", path).content)
        return None

    def archived_files(self, study_uids: Iterable[str]) -> dict[str, int]:
        """Each SOPInstanceUID the archive holds of these studies, with its file's size.

        From the studies' instances alone (two requests per study, sizes from ``FileSize``).
        """
        files = {}
        for uid in study_uids:
            for resource in self.lookup(uid):
                if resource["Type"] != "Study":
                    continue
                for instance in self._rest("GET", f"/studies/{resource['ID']}/instances"):
                    sop_uid = instance["MainDicomTags"]["SOPInstanceUID"]
                    files[sop_uid] = int(instance.get("FileSize", 0))
        return files

    def archived_instances(self, expected: Iterable[Sequence[str]]) -> list[InstanceRecord]:
        """Every instance the archive holds of the studies of the `expected` instances.

        One request per study, one more per series holding an instance not expected
        (:meth:`OrthancClient.archived_instances`).
        """
        known: dict[str, str] = {}
        patient_studies: set[tuple[str, str]] = set()
        for patient_id, study_uid, series_uid, sop_uid in expected:
            known[orthanc_id(patient_id, study_uid, series_uid, sop_uid)] = sop_uid
            patient_studies.add((patient_id, study_uid))
        studies = {orthanc_id(*pair): pair[1] for pair in sorted(patient_studies)}
        listed: set[str] = set()
        records: list[InstanceRecord] = []
        # Two requests in flight: Orthanc answers one while this process reads the other.
        with ThreadPoolExecutor(2, "archive-listing") as pool:
            answers = pool.map(lambda item: self._study_series(*item), studies.items())
            for study_uid, answer in zip(studies.values(), answers, strict=True):
                for study, study_series in answer.items():
                    if study not in listed:
                        listed.add(study)
                        for series in study_series:
                            records.extend(self._series_instances(study_uid, series, known))
        return records

    def _study_series(self, study_id: str, study_uid: str) -> dict[str, list[dict[str, Any]]]:
        """The series of a study (`GET /studies/{id}/series`), by Orthanc identifier.

        Of `study_id`; when the archive does not hold it, of every study carrying
        `study_uid` (``/tools/lookup``): under another PatientID, for one.
        """
        response = self._request("GET", f"/studies/{study_id}/series", answers=(404,))
        if response.ok:
            return {study_id: response.json()}
        found = (r["ID"] for r in self.lookup(study_uid) if r["Type"] == "Study")
        return {i: self._rest("GET", f"/studies/{i}/series") for i in found}

    def _series_instances(
        self, study_uid: str, series: Mapping[str, Any], known: Mapping[str, str]
    ) -> Iterator[InstanceRecord]:
        """The instances of one series of `GET /studies/{id}/series`.

        Those whose Orthanc identifier is in `known` by it; the others by listing the
        series' instances, only when there are any.
        """
        tags = series["MainDicomTags"]
        unknown = {i for i in series["Instances"] if i not in known}
        sop_uids = [known[i] for i in series["Instances"] if i not in unknown]
        if unknown:
            sop_uids += [
                instance["MainDicomTags"]["SOPInstanceUID"]
                for instance in self._rest("GET", f"/series/{series['ID']}/instances")
                if instance["ID"] in unknown
            ]
        for sop_uid in sop_uids:
            yield InstanceRecord(
                patient_id="",
                study_instance_uid=study_uid,
                series_instance_uid=tags["SeriesInstanceUID"],
                sop_instance_uid=sop_uid,
                sop_class_uid="",
                modality=tags.get("Modality", ""),
                study_date="",
                series_date=tags.get("SeriesDate", ""),
            )

    def instance_sizes(self, study_uids: Iterable[str]) -> dict[str, int]:
        """The size of each instance of these studies by SOPInstanceUID (:meth:`archived_files`)."""
        return self.archived_files(study_uids)

    def altered_files(
        self, expected: Iterable[Sequence[str]], *, workers: int = VERIFY_WORKERS
    ) -> dict[str, str]:
        """The instances whose stored file is no longer the one the archive stored, and why.

        Orthanc's MD5 check of each file, `workers` requests in flight
        (:meth:`OrthancClient.altered_files`).
        """
        altered: dict[str, str] = {}
        remaining = iter(expected)
        with ThreadPoolExecutor(workers, "verify-md5") as pool:
            # In batches: a future per instance of a large day would hold memory for nothing.
            while batch := list(islice(remaining, _VERIFY_BATCH)):
                for identity, problem in zip(
                    batch, pool.map(self._file_problem, batch), strict=True
                ):
                    if problem:
                        altered[identity[-1]] = problem
        return altered

    def _file_problem(self, identity: Sequence[str]) -> str | None:
        """What is wrong with the stored file of the instance `identity` names; None: intact."""
        problem = self._verified(orthanc_id(*identity))
        if problem != _GONE:
            return problem
        held = [r["ID"] for r in self.lookup(identity[-1]) if r["Type"] == "Instance"]
        return next((p for p in map(self._verified, held) if p), None) if held else _GONE

    def _verified(self, instance_id: str) -> str | None:
        """Orthanc's MD5 check of the file of `instance_id`: what is wrong, or None."""
        path = f"/instances/{instance_id}/attachments/dicom"
        response = self._request("POST", f"{path}/verify-md5", answers=(400, 404, 500))
        if response.ok:
            return None
        if response.status_code == 404:
            return _GONE
        if response.status_code == 500:
            try:
                error = dict(response.json())
            except ValueError:
                error = {}
            if error.get("OrthancStatus") not in _UNREADABLE_FILE:
                raise OrthancError(f"POST {path}/verify-md5 -> HTTP 500: {response.text[:200]}")
            return f"the archive cannot read its stored file: {error.get('Details', '')}"
        info = self._rest("GET", f"{path}/info")
        if not info.get("UncompressedMD5"):
            return (
                "the archive recorded no MD5 of its file (StoreMD5ForAttachments is off): "
                "it cannot tell whether the file is the one it stored"
            )
        return (
            f"the archive's file {info['Uuid']} changed after it was stored (its MD5 is no "
            "longer the one the archive recorded then)"
        )

    @contextmanager
    def uploader(self) -> Iterator[Callable[[bytes], UploadResult]]:
        """A function storing encoded instances, each one POST on a kept-alive connection."""
        yield self._rest_upload

    def _rest_upload(self, encoded: bytes) -> UploadResult:
        answer = self._rest("POST", "/instances", data=encoded)
        return UploadResult(orthanc_id=answer["ID"], status=answer["Status"])

    def delete_instances(self, sop_instance_uids: Iterable[str]) -> int:
        """Delete instances by SOPInstanceUID (REST only); returns how many were found."""
        deleted = 0
        for uid in sop_instance_uids:
            for resource in self.lookup(uid):
                if resource["Type"] == "Instance":
                    self._rest("DELETE", f"/instances/{resource['ID']}")
                    deleted += 1
        return deleted

    def _rest(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else None

    def _request(
        self, method: str, path: str, *, answers: Collection[int] = (), **kwargs: Any
    ) -> requests.Response:
        """One REST request; an error status not in `answers` raises OrthancError."""
        url = f"{self.rest_url}{path}"
        try:
            response = self._session.request(
                method, url, timeout=self.timeout, verify=self._verify, **kwargs
            )
        except requests.exceptions.SSLError as exc:
            raise OrthancError(
                f"TLS handshake with {self.rest_url} failed: {self._tls(exc)}"
            ) from exc
        except requests.RequestException as exc:
            raise OrthancError(f"cannot reach Orthanc at {self.rest_url}: {exc}") from exc
        if response.status_code == 401:
            raise OrthancError(f"Orthanc at {self.rest_url} refused the credentials (401)")
        if not response.ok and response.status_code not in answers:
            raise OrthancError(
                f"{method} {path} -> HTTP {response.status_code}: {response.text[:200]}"
            )
        return response

    def _tls(self, exc: requests.exceptions.SSLError) -> str:
        """What failed in the TLS handshake `exc` reports, and the CAs trusted."""
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        return f"{describe_tls_error(cause) if cause else exc} ({trusted(self.ca_file)})"


class DicomOrthanc(OrthancClient):
    """An Orthanc server reached over DICOM alone (no ``rest_url`` configured).

    It is asked with C-FIND, read with C-GET and stored into with C-STORE; what only
    the REST API can do raises :class:`~resources.errors.OrthancError`.

    Args:
        dicom: A DICOM client whose peer is this Orthanc.
    """

    has_rest = False

    def close(self) -> None:
        """Nothing to close: each exchange opens and releases its own association."""

    def system(self) -> dict[str, Any]:
        """Raises OrthancError: `GET /system` needs the REST API."""
        raise self._needs_rest("/system")

    def statistics(self) -> dict[str, Any]:
        """Raises OrthancError: `GET /statistics` needs the REST API."""
        raise self._needs_rest("/statistics")

    def lookup(self, uid: str) -> list[dict[str, str]]:
        """Raises OrthancError: `POST /tools/lookup` needs the REST API."""
        raise self._needs_rest("/tools/lookup")

    def find(self, level: QueryLevel, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """Matching resources, by C-FIND, as ``{"MainDicomTags": {keyword: value}}`` dicts."""
        answers = self.dicom.find(identifier(level, query), QueryModel.STUDY)
        return [
            {"MainDicomTags": {e.keyword: str(e.value) for e in ds if e.keyword and e.value}}
            for ds in answers
        ]

    def instance_header(
        self, sop_instance_uid: str, sop_classes: Collection[str] = RT_STORAGE
    ) -> Dataset | None:
        """An instance's data set without its pixel data, or None when it is not archived.

        An IMAGE-level C-GET naming the SOPInstanceUID alone, proposing `sop_classes`
        (:meth:`OrthancClient.instance_header`).
        """
        received: list[Dataset] = []
        query = retrieve_identifier(QueryLevel.IMAGE, {"SOPInstanceUID": sop_instance_uid})
        (result,) = self.dicom.get(
            [query],
            lambda encoded: received.append(_header(encoded)),
            sop_classes=[sop_classes],
            isolate_failures=True,
        )
        if not received and result.failed:
            raise OrthancError(
                f"C-GET of {sop_instance_uid} from {self.dicom.peer}: status "
                f"0x{result.status:04X}, {result.failed} failed "
                f"({'; '.join(result.errors) or 'no error comment'})"
            )
        return received[0] if received else None

    def archived_files(self, study_uids: Iterable[str]) -> dict[str, int]:
        """Each SOPInstanceUID the archive holds of these studies, by C-FIND, sizes 0."""
        return dict.fromkeys((r.sop_instance_uid for r in self._found_instances(study_uids)), 0)

    def archived_instances(self, expected: Iterable[Sequence[str]]) -> list[InstanceRecord]:
        """Every instance the archive holds of the studies of the `expected` instances.

        One IMAGE-level C-FIND per study over one association, SOP class included.
        """
        studies = sorted({(identity[0], identity[1]) for identity in expected})
        return self._found_instances(dict.fromkeys(study_uid for _, study_uid in studies))

    def _found_instances(self, study_uids: Iterable[str]) -> list[InstanceRecord]:
        """Every instance of these studies, by IMAGE-level C-FIND over one association."""
        keys = {"PatientID": "", "Modality": "", "StudyDate": "", "SeriesDate": ""}
        queries = [
            identifier(QueryLevel.IMAGE, {**keys, "StudyInstanceUID": uid}) for uid in study_uids
        ]
        return (
            [instance_record(ds, ds, ds) for ds in self.dicom.find_all(queries)] if queries else []
        )

    def instance_sizes(self, study_uids: Iterable[str]) -> dict[str, int]:
        """Empty: DICOM has no way to tell the size of an archived file."""
        return {}

    def altered_files(
        self, expected: Iterable[Sequence[str]], *, workers: int = VERIFY_WORKERS
    ) -> dict[str, str]:
        """Raises OrthancError: Orthanc's MD5 check needs the REST API."""
        raise self._needs_rest("/instances/{id}/attachments/dicom/verify-md5")

    @contextmanager
    def uploader(self) -> Iterator[Callable[[bytes], UploadResult]]:
        """A function storing encoded instances one by one over one C-STORE association."""
        with self.dicom.store_session() as send:

            def store(encoded: bytes) -> UploadResult:
                outcome = send(encoded)
                if not outcome.ok:
                    raise OrthancError(
                        f"C-STORE to {self.dicom.peer} failed with status 0x{outcome.status:04X}"
                    )
                return UploadResult(orthanc_id="", status="Success")

            yield store

    def delete_instances(self, sop_instance_uids: Iterable[str]) -> int:
        """Raises OrthancError: deleting needs the REST API."""
        raise self._needs_rest("DELETE /instances/{id}")

    def _needs_rest(self, path: str) -> OrthancError:
        """The error of asking `path` of an archive reached over DICOM alone."""
        return OrthancError(
            f"{path} needs the REST API, and no rest_url is configured for {self.dicom.peer}"
        )


def orthanc_client(
    dicom: DicomClient,
    rest_url: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 60.0,
    ca_file: Path | None = None,
) -> OrthancClient:
    """The client of an Orthanc archive: over its REST API when `rest_url` is given.

    The one place that chooses between :class:`RestOrthanc` and :class:`DicomOrthanc`;
    the arguments are :class:`RestOrthanc`'s, the REST ones unused without `rest_url`.
    """
    if rest_url is None:
        return DicomOrthanc(dicom)
    return RestOrthanc(
        dicom, rest_url, username=username, password=password, timeout=timeout, ca_file=ca_file
    )


def orthanc_id(*uids: str) -> str:
    """Orthanc's identifier of a patient's study, series or instance.

    The SHA-1 of the PatientID and the UIDs down to the resource, joined by ``|``, in
    five dash-separated groups of eight hex digits: how Orthanc names what it stores
    (Orthanc Book, "Orthanc identifiers"), so the identifier of what a manifest lists
    is known without asking.

    Args:
        uids: PatientID, then StudyInstanceUID, SeriesInstanceUID and
            SOPInstanceUID, as far down as the resource.
    """
    d = hashlib.sha1("|".join(uids).encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{d[:8]}-{d[8:16]}-{d[16:24]}-{d[24:32]}-{d[32:]}"


# What pydicom raises on a file it cannot parse (a damaged file in the archive).
_UNREADABLE = (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, struct.error)


def _header(encoded: bytes) -> Dataset:
    """An encoded instance's data set, read up to its pixel data and decoded now.

    pydicom decodes elements when first used: decoding them here makes a damaged file
    fail here, once, rather than wherever its elements are read.

    Raises:
        OrthancError: The file is not readable DICOM.
    """
    try:
        dataset = dcmread(io.BytesIO(encoded), stop_before_pixels=True)
        for _ in dataset.iterall():
            pass
    except _UNREADABLE as exc:
        raise OrthancError(f"the archive's file is not readable DICOM: {exc}") from exc
    return dataset
