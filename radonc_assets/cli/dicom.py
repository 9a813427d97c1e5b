"""`radonc dicom echo|find|move|get|store`: ad-hoc DICOM network operations.

The options are those of the earlier `dicom_utils` (`--aet`, `--aec`, `--host`,
`--port`, ...). ``--site SITE --node ALIAS`` takes the called AE, host and port of
a source or target (and the calling AE title) from the site files instead.
"""

import argparse
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from pydicom import dcmread

from radonc_assets.cli.commands import add_command
from radonc_assets.cli.output import Progress, print_table, warn
from radonc_assets.site.access_log import Access, logged
from radonc_assets.site.loading import load_site
from radonc_assets.site.private_files import private_dir, write_private
from resources.dicom.client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_PDU,
    DEFAULT_TIMEOUT,
    DicomClient,
    DicomNode,
    StoreOutcome,
    SubOperations,
)
from resources.dicom.queries import (
    RETURN_KEYS,
    UNIQUE_KEYS,
    QueryLevel,
    QueryModel,
    identifier,
    retrieve_identifier,
)
from resources.dicom.statuses import status_meaning

DEFAULT_CALLING_AET = "RADONC_SCU"


def add_parsers(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `radonc dicom` and its sub-commands."""
    dicom = add_command(subparsers, "dicom")
    commands = dicom.add_subparsers(dest="dicom_command", required=True, metavar="COMMAND")

    echo = commands.add_parser("echo", help="C-ECHO: check that a peer answers")
    _node_options(echo)
    echo.set_defaults(func=_echo)

    find = commands.add_parser("find", help="C-FIND: query a peer")
    _node_options(find)
    _query_options(find)
    find.add_argument("--study-date", help="StudyDate, YYYYMMDD or YYYYMMDD-YYYYMMDD")
    find.set_defaults(func=_find)

    move = commands.add_parser("move", help="C-MOVE: make a peer send data to an AE")
    _node_options(move)
    _query_options(move)
    move.add_argument("--move-dest-aet", required=True, help="AE title to move the data to")
    move.set_defaults(func=_move)

    get = commands.add_parser("get", help="C-GET: retrieve data into a folder")
    _node_options(get)
    _query_options(get)
    get.add_argument("--out-dir", type=Path, required=True, help="folder for received files")
    get.add_argument(
        "--sop-class",
        action="append",
        metavar="UID",
        help="SOP Class UID the data will bring (repeatable; default: the RT storage classes)",
    )
    get.set_defaults(func=_get)

    store = commands.add_parser("store", help="C-STORE: send a file or every file of a folder")
    _node_options(store)
    store.add_argument("--filepath", type=Path, required=True, help="DICOM file or folder")
    store.set_defaults(func=_store)


def _node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aet", help=f"calling AE title (default {DEFAULT_CALLING_AET})")
    parser.add_argument("--aec", help="called AE title")
    parser.add_argument("--host", help="peer host")
    parser.add_argument("--port", type=int, help="peer port")
    parser.add_argument("--site", help="take the peer from this site's configuration")
    parser.add_argument("--node", help="source or backup target alias within --site")
    parser.add_argument("--timeout", type=float, help="seconds to wait for answers")
    parser.add_argument(
        "--retries", type=int, default=0, help="tries again after a transient failure (default 0)"
    )


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--query-level", type=QueryLevel, choices=list(QueryLevel), default=QueryLevel.STUDY
    )
    parser.add_argument(
        "--query-model",
        choices=[m.value for m in QueryModel],
        help="P (Patient Root) or S (Study Root); default S, P at PATIENT level",
    )
    parser.add_argument("--patient-id")
    parser.add_argument("--study-uid")
    parser.add_argument("--series-uid")
    parser.add_argument("--sop-instance-uid")
    parser.add_argument(
        "--modality",
        help="Modality (SERIES) or ModalitiesInStudy (STUDY); find only (a retrieve ignores it)",
    )


def client_from_args(args: argparse.Namespace) -> DicomClient:
    """The client described by the node options (explicit options win over --site).

    A node of the site with ``tls = true`` is reached over DICOM TLS, with its files.
    """
    calling, aec, host, port = args.aet, args.aec, args.host, args.port
    connect_timeout, timeout, max_pdu = DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_MAX_PDU
    tls = None
    if args.node and not args.site:
        warn(f"--node {args.node} is ignored without --site (the site whose node it is)")
    if args.site:
        site = load_site(args.site)
        node = site.node(args.node or site.default_source)
        tls = node.tls_settings
        calling = calling or site.script_ae.aet
        aec, host, port = aec or node.aet, host or node.ip, port or node.port
        connect_timeout = site.settings.connect_timeout
        timeout, max_pdu = site.settings.network_timeout, site.settings.max_pdu
    missing = [
        name for name, value in (("--aec", aec), ("--host", host), ("--port", port)) if not value
    ]
    if missing:
        raise SystemExit(f"radonc: give {', '.join(missing)} (or --site and --node)")
    return DicomClient(
        DicomNode(aec, host, port, tls),
        calling or DEFAULT_CALLING_AET,
        connect_timeout=min(connect_timeout, args.timeout or connect_timeout),
        timeout=args.timeout or timeout,
        max_pdu=max_pdu,
        retries=args.retries,
    )


def _query_from_args(args: argparse.Namespace) -> tuple[QueryLevel, QueryModel, dict[str, str]]:
    level: QueryLevel = args.query_level
    if args.query_model:
        model = QueryModel(args.query_model)
    else:
        model = QueryModel.PATIENT if level is QueryLevel.PATIENT else QueryModel.STUDY
    keys = {
        "PatientID": args.patient_id,
        "StudyInstanceUID": args.study_uid,
        "SeriesInstanceUID": args.series_uid,
        "SOPInstanceUID": args.sop_instance_uid,
        "StudyDate": getattr(args, "study_date", None),
        "ModalitiesInStudy" if level is QueryLevel.STUDY else "Modality": args.modality,
    }
    return level, model, {k: v for k, v in keys.items() if v}


def _access(command: str, args: argparse.Namespace, client: DicomClient) -> Access:
    """The access of `command` to the peer of `client`: what the query options asked.

    It goes to the log of ``--site``, or to the log of commands without a site.
    """
    asked = {
        "level": str(getattr(args, "query_level", "") or ""),
        "mrn": getattr(args, "patient_id", None) or "",
        "study_uid": getattr(args, "study_uid", None) or "",
        "series_uid": getattr(args, "series_uid", None) or "",
        "sop_instance_uid": getattr(args, "sop_instance_uid", None) or "",
        "date": getattr(args, "study_date", None) or "",
    }
    site = load_site(args.site).name if args.site else None
    return Access(f"dicom {command}", site, str(client.peer), asked)


def _echo(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    seconds = client.echo()
    print(f"C-ECHO {client.peer}: success ({seconds * 1000:.0f} ms)")
    return 0


def _find(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    level, model, keys = _query_from_args(args)
    with logged(_access("find", args, client)) as access:
        answers = client.find(identifier(level, keys), model)
        patients = {str(ds.PatientID) for ds in answers if "PatientID" in ds}
        # None: the answers do not say (PatientID is not a key of the level asked).
        access.patients = len(patients) if patients or not answers else None
        access.rows = len(answers)
    columns = list(dict.fromkeys([*RETURN_KEYS[level], *keys]))
    rows = [{c: str(ds.get(c, "")) for c in columns} for ds in answers]
    print_table(rows, columns)
    print(f"{len(rows)} match(es) at {level} level from {client.peer}")
    return 0


def _retrieve_report(
    client: DicomClient,
    args: argparse.Namespace,
    run: Callable[..., list[SubOperations]],
    access: Access,
) -> int:
    level, model, keys = _query_from_args(args)
    unique = {k: v for k, v in keys.items() if k in UNIQUE_KEYS}
    if args.modality:
        service = f"C-{args.dicom_command.upper()}"
        warn(
            f"--modality is ignored: a {service} selects by unique keys only "
            f"({', '.join(UNIQUE_KEYS)}); list the series with `radonc dicom find "
            f"--query-level SERIES --modality {args.modality}`, then give their --series-uid"
        )
    with logged(access):
        (result,) = run([retrieve_identifier(level, unique)], model=model)
        access.instances = result.completed
        if not result.ok:
            access.outcome = f"failed: status 0x{result.status:04X}, {result.failed} failed"
    print_table(
        [
            {
                "status": f"0x{result.status:04X}",
                "completed": result.completed,
                "failed": result.failed,
                "warning": result.warning,
            }
        ]
    )
    for problem in result.errors:
        print(f"  {problem}")
    for uid in result.failed_uids:
        print(f"  failed: {uid}")
    if result.failed and result.proposed and not (result.errors or result.failed_uids):
        print(
            f"  the source gave no reason; {len(result.proposed)} SOP classes were proposed: "
            "an instance of another class cannot be received (see --sop-class)"
        )
    return 0 if result.ok else 1


def _move(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    access = _access("move", args, client)
    access.written = f"AE {args.move_dest_aet}"
    return _retrieve_report(
        client,
        args,
        lambda queries, model: client.move(queries, args.move_dest_aet, model),
        access,
    )


def _get(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    out_dir: Path = args.out_dir
    private_dir(out_dir)
    progress = Progress("received")
    received: list[Path] = []
    access = _access("get", args, client)
    access.written, access.patients = str(out_dir.resolve()), 0
    patients: set[str] = set()

    def save(encoded: bytes) -> None:
        ds = dcmread(io.BytesIO(encoded), stop_before_pixels=True)
        path = out_dir / f"{ds.SOPInstanceUID}.dcm"
        write_private(path, encoded)
        received.append(path)
        patients.add(str(ds.get("PatientID", "")))
        access.patients = len(patients)
        progress(len(received), None)

    classes = [set(args.sop_class)] if args.sop_class else None
    status = _retrieve_report(
        client, args, lambda queries, model: client.get(queries, save, model, classes), access
    )
    progress.finish()
    print(f"{len(received)} file(s) written to {out_dir}")
    return status


def _store(args: argparse.Namespace) -> int:
    client = client_from_args(args)
    root: Path = args.filepath
    if not root.exists():
        raise SystemExit(f"radonc: {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    progress = Progress("stored")

    def report(outcomes: Sequence[StoreOutcome], total: int) -> None:
        failures = sum(not o.ok for o in outcomes)
        progress(len(outcomes) - failures, total, failures)

    access = _access("store", args, client)
    access.asked["files"] = str(root.resolve())
    access.written = str(client.peer)
    with logged(access):
        outcomes = client.store(files, on_progress=report)
        access.instances = sum(o.ok for o in outcomes)
        if access.instances < len(outcomes):
            access.outcome = f"failed: {len(outcomes) - access.instances} not stored"
    failed = [o for o in outcomes if not o.ok]
    if failed:
        print_table(
            [
                {
                    "file": o.source,
                    "status": f"0x{o.status:04X}",
                    "meaning": o.detail or status_meaning(o.status, "C-STORE"),
                }
                for o in failed
            ]
        )
    print(
        f"C-STORE to {client.peer}: {len(outcomes) - len(failed)} stored, {len(failed)} failed, "
        f"{len(files) - len(outcomes)} skipped (not DICOM)"
    )
    return 1 if failed or not outcomes else 0
