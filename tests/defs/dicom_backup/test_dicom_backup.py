"""Backups end to end: real sources (ARIA as Orthanc via C-MOVE, MIM as dcmqrscp via
C-GET) into a real Orthanc archive, materialized through Dagster."""

import datetime as dt
import getpass
import io
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import requests
from pydicom import dcmread
from pydicom.uid import generate_uid

from radonc_assets.backup.audit_files import CHAINS, audit_path, read_frame
from radonc_assets.backup.coverage import DayStatus, day_coverage
from radonc_assets.backup.manifest import IDENTITY
from radonc_assets.backup.source_queries import day_instances
from radonc_assets.cli.main import main
from radonc_assets.defs.dicom_backup.assets import site_assets
from radonc_assets.devtools.demo import DemoServers
from radonc_assets.devtools.local_servers import OrthancServer
from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.site.asset_keys import asset_key
from radonc_assets.site.clients import archive_client, dicom_client
from radonc_assets.site.config import SiteConfig
from radonc_assets.site.dagster_resources import site_resources
from radonc_assets.site.loading import load_sites
from radonc_assets.site.naming import (
    CHAIN_CHECK,
    ORTHANC_COPIES,
    SOURCE_STUDIES,
    VALIDATION_REPORT,
    backup_job_name,
    check_name,
)
from radonc_assets.site.partitions import partition_date, site_partitions
from radonc_assets.site.paths import SHIPPED_SETTINGS
from resources.dicom.client import DicomClient, DicomNode
from resources.orthanc import RestOrthanc, orthanc_id
from tests.support.runs import assert_clear_names
from tests.support.sites import SiteFileWriter, variant
from tests.support.sources import SyntheticInstance

DAY = "2026-01-08"  # a planning study (ARIA and MIM) and treatment records (ARIA)
pytestmark = pytest.mark.usefixtures("lab_courses_planned")
COMPLETE = {check_name("ARIA"): True, check_name("MIM"): True, CHAIN_CHECK: True}


def backup(
    site: SiteConfig,
    day: str = DAY,
    *,
    selection: list[str] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        site_assets(site),
        partition_key=day,
        resources=site_resources(site),
        selection=selection,
        raise_on_error=False,
        instance=instance,
    )


def report_status(site: SiteConfig, instance: dg.DagsterInstance) -> dg.AssetPartitionStatus:
    """The status of the validation report's date in the UI's partitions view."""
    statuses = instance.get_status_by_partition(
        asset_key(site, VALIDATION_REPORT), [DAY], site_partitions(site)
    )
    assert statuses is not None
    status = statuses[DAY]
    assert status is not None
    return status


def metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_backup_copies_verifies_and_reruns_incrementally(lab: DemoServers, data_dir: Path) -> None:
    site = lab.site
    # The lab is shared: another test may have backed up DAY. Its own studies leave the
    # archive, so that this backup copies them (the records of earlier courses stay).
    own = {
        record.sop_instance_uid
        for alias in ("ARIA", "MIM")
        for record in day_instances(
            dicom_client(site, alias), site.dicom_sources[alias], dt.date.fromisoformat(DAY)
        )
        if record.study_date == DAY.replace("-", "")
    }
    archive_client(site).delete_instances(own)
    first = backup(site)
    assert first.success
    aria = metadata(first, asset_key(site, "ARIA", ORTHANC_COPIES))
    mim = metadata(first, asset_key(site, "MIM", ORTHANC_COPIES))
    report = metadata(first, asset_key(site, VALIDATION_REPORT))
    aria_manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    mim_manifest = read_frame(audit_path("LAB", partition_date(DAY), f"MIM_{SOURCE_STUDIES}"))

    assert set(aria_manifest["modality"]) == {"CT", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD"}
    assert set(mim_manifest["modality"]) == {"CT", "RTSTRUCT", "MR", "REG"}
    records = aria_manifest[aria_manifest["modality"] == "RTRECORD"]
    # the day's sessions of courses planned earlier, found by the treatment_records query
    from_earlier = records[records["study_date"] != "20260108"]
    assert set(from_earlier["study_date"]) == {"20260105", "20260106"}
    assert set(from_earlier["treatment_date"]) == {"20260108"}
    # the lab is shared: a backup of an earlier day may have copied its studies' records
    assert aria["copied"] + aria["already_present"] == len(aria_manifest)
    assert aria["copied"] >= len(aria_manifest) - len(from_earlier)
    assert aria["failed"] == aria["deferred"] == 0
    # MIM's CT and structures were already moved from ARIA: the same instances
    assert mim["already_present"] + mim["copied"] == len(mim_manifest)
    # The date is safe for each source: it holds N instances, the archive all of them.
    sources = {row.data["source"]: row.data for row in report["sources"].records}
    for alias, manifest in (("ARIA", aria_manifest), ("MIM", mim_manifest)):
        assert sources[alias]["verdict"] == "complete"
        held = sources[alias]["held_by_source"]
        assert held == sources[alias]["in_archive"] == sources[alias]["verified"] == len(manifest)
    # An instance ARIA and MIM both hold (the planning CT) is one instance of the day.
    shared = set(aria_manifest["sop_instance_uid"]) & set(mim_manifest["sop_instance_uid"])
    assert shared
    distinct = len(set(aria_manifest["sop_instance_uid"]) | set(mim_manifest["sop_instance_uid"]))
    assert report["distinct_instances"] == report["distinct_verified"] == distinct
    assert report["distinct_in_archive"] == distinct < len(aria_manifest) + len(mim_manifest)
    assert report["distinct_missing"] == report["distinct_deferred"] == 0
    assert report["distinct_mismatched"] == 0
    assert checks(first) == COMPLETE
    assert report["treatment_records_checked"] == report["treatment_records_chain_complete"]
    assert report["treatment_records_checked"] == len(records)
    # The studies table names the sources of each study.
    studies = {row.data["study"]: row.data for row in report["studies_table"].records}
    planning = aria_manifest[aria_manifest["study_date"] == "20260108"]
    (planning_study,) = set(planning["study_instance_uid"])
    assert studies[f"…{planning_study[-12:]}"]["source"] == "ARIA, MIM"
    assert_clear_names(first)
    assert str(report["report"]).startswith(str(data_dir))

    again = backup(site)
    assert again.success
    rerun = metadata(again, asset_key(site, "ARIA", ORTHANC_COPIES))
    assert (rerun["copied"], rerun["already_present"], rerun["retrieve_requests"]) == (
        0,
        len(aria_manifest),
        0,
    )
    assert metadata(again, asset_key(site, "MIM", ORTHANC_COPIES))["copied"] == 0


def test_a_series_the_archive_lacks_is_moved_while_the_day_is_enumerated(
    lab: DemoServers, site_file: SiteFileWriter
) -> None:
    # Unbounded: a run bounded by max_uids_per_run copies in manifest order, after.
    site = load_sites(variant(lab, site_file, settings={"max_uids_per_run": None}))["LAB"]
    assert backup(site).success
    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    plan = manifest[manifest["modality"] == "RTPLAN"].iloc[0]
    ct = manifest[manifest["modality"] == "CT"]
    assert (manifest["series_instance_uid"] == plan["series_instance_uid"]).sum() == 1
    assert ct["series_instance_uid"].value_counts().iloc[0] > 1
    # The plan's whole series and one slice of a CT series are gone from the archive.
    lost = [str(plan["sop_instance_uid"]), str(ct["sop_instance_uid"].iloc[0])]
    assert archive_client(site).delete_instances(lost) == 2

    again = backup(site)
    assert again.success
    copies = metadata(again, asset_key(site, "ARIA", ORTHANC_COPIES))
    # The plan's series moved during the enumeration, the slice by its own request after.
    assert copies["series_moved_while_enumerating"] == 1
    assert copies["retrieve_requests"] == 2
    assert (copies["copied"], copies["already_present"]) == (2, len(manifest) - 2)
    assert checks(again) == COMPLETE
    copied = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{ORTHANC_COPIES}"))
    assert set(copied[copied["outcome"] == "copied"]["sop_instance_uid"]) == set(lost)
    sizes = archive_client(site).instance_sizes(set(manifest["study_instance_uid"]))
    assert copies["bytes_copied"] == sizes[lost[0]] + sizes[lost[1]] > 0
    assert copies["bytes_of_day"] == sum(sizes[uid] for uid in manifest["sop_instance_uid"])


def test_an_instance_deleted_from_the_archive_is_detected_and_restored(lab: DemoServers) -> None:
    site = lab.site
    instance = dg.DagsterInstance.ephemeral()
    assert backup(site, instance=instance).success
    assert report_status(site, instance) == dg.AssetPartitionStatus.MATERIALIZED
    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"MIM_{SOURCE_STUDIES}"))
    lost = str(manifest[manifest["modality"] == "RTSTRUCT"]["sop_instance_uid"].iloc[0])
    assert archive_client(site).delete_instances([lost]) == 1

    validation = backup(
        site,
        selection=[
            f"lab/aria/{SOURCE_STUDIES}",
            f"lab/mim/{SOURCE_STUDIES}",
            f"lab/{VALIDATION_REPORT}",
        ],
        instance=instance,
    )
    # The date fails in the partitions view: no materialization, the step failed.
    assert not validation.success
    assert report_status(site, instance) == dg.AssetPartitionStatus.FAILED
    assert asset_key(site, VALIDATION_REPORT) not in {
        e.asset_key for e in validation.get_asset_materialization_events()
    }
    (observed,) = [
        e for e in validation.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
    # ARIA and MIM both hold the structure set: one instance of the day is missing
    observation = observed.asset_observation_data.asset_observation.metadata
    assert observation["distinct_missing"].value == 1
    assert observation["verdict"].value == "incomplete"
    # the day's study holds its new course's records too: their chain lacks it now
    assert checks(validation) == {
        check_name("ARIA"): False,
        check_name("MIM"): False,
        CHAIN_CHECK: False,
    }
    chains = read_frame(audit_path("LAB", partition_date(DAY), CHAINS))
    broken = chains[chains["complete"] == "False"]
    assert set(broken["structure_set_uid"]) == {lost}
    assert set(broken["structure_set_status"]) == {"missing"}
    (evaluation,) = [
        e for e in validation.get_asset_check_evaluations() if e.check_name == check_name("MIM")
    ]
    assert evaluation.metadata["offending_uids"].value == [lost]
    assert evaluation.metadata["missing"].value == 1
    report = read_frame(audit_path("LAB", partition_date(DAY), VALIDATION_REPORT))
    assert report[report["sop_instance_uid"] == lost]["status"].tolist() == ["missing", "missing"]

    restored = backup(site, instance=instance)
    assert checks(restored) == COMPLETE
    assert report_status(site, instance) == dg.AssetPartitionStatus.MATERIALIZED
    assert metadata(restored, asset_key(site, "ARIA", ORTHANC_COPIES))["copied"] == 1
    assert archive_client(site).lookup(lost)


def test_extra_instances_are_listed_below_the_failure_counts_and_fail_nothing(
    lab: DemoServers, synthetic_files: list[SyntheticInstance], tmp_path: Path
) -> None:
    site = lab.site
    assert backup(site).success
    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    study = manifest[manifest["study_date"] == DAY.replace("-", "")].iloc[0]
    # An instance of the day's study that no source lists: stored in the archive directly.
    ds = dcmread(next(i.path for i in synthetic_files if i.modality == "CT"))
    ds.PatientID, ds.StudyInstanceUID = study["patient_id"], study["study_instance_uid"]
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "extra.dcm")
    (stored,) = dicom_client(site, site.default_backup).store([tmp_path / "extra.dcm"])
    assert stored.ok
    try:
        validation = backup(
            site,
            selection=[
                f"lab/aria/{SOURCE_STUDIES}",
                f"lab/mim/{SOURCE_STUDIES}",
                f"lab/{VALIDATION_REPORT}",
            ],
        )
    finally:
        archive_client(site).delete_instances([str(ds.SOPInstanceUID)])

    assert validation.success
    assert checks(validation) == COMPLETE
    report = metadata(validation, asset_key(site, VALIDATION_REPORT))
    assert report["verdict"] == "complete"
    assert report["extra_in_archive"] >= 1
    assert str(report["extra_in_archive_means"]).startswith("not a failure: ")
    # First whether the date is safe (verdict, sources, distinct counts), then the extra.
    keys = list(report)
    assert keys[:3] == ["verdict", "sources", "distinct_instances"]
    assert keys.index("extra_in_archive") > max(
        k for k, key in enumerate(keys) if key.startswith("distinct_")
    )
    assert "extra" not in keys
    assert all("extra" not in column.name for column in report["sources"].schema.columns)
    studies = {row.data["study"]: row.data for row in report["studies_table"].records}
    row = studies[f"…{str(ds.StudyInstanceUID)[-12:]}"]
    assert "1 extra" in row["status"]
    assert row["source"] == "ARIA, MIM"
    assert_clear_names(validation)


ARIA_ONLY = [f"lab/aria/{SOURCE_STUDIES}", f"lab/aria/{ORTHANC_COPIES}"]


def test_max_uids_per_run_leaves_the_rest_for_the_next_run(
    lab: DemoServers, site_file: SiteFileWriter
) -> None:
    capped = load_sites(variant(lab, site_file, settings={"max_uids_per_run": 4}))["LAB"]
    day = "2026-01-06"
    assert backup(capped, day, selection=[f"lab/aria/{SOURCE_STUDIES}"]).success
    manifest = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{SOURCE_STUDIES}"))
    assert len(manifest) > 8
    archive_client(capped).delete_instances(manifest["sop_instance_uid"])
    validate = [*ARIA_ONLY, f"lab/mim/{SOURCE_STUDIES}", f"lab/{VALIDATION_REPORT}"]

    first = backup(capped, day, selection=validate)
    copies = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{ORTHANC_COPIES}"))
    assert (copies["outcome"] == "copied").sum() == 4
    deferred = copies[copies["outcome"] == "deferred"]
    assert len(deferred) == len(manifest) - 4
    assert (deferred["reason"] == "max_uids_per_run (4) reached; the next run continues").all()
    (evaluation,) = [
        e for e in first.get_asset_check_evaluations() if e.check_name == check_name("ARIA")
    ]
    assert not evaluation.passed
    assert evaluation.metadata["deferred"].value == len(manifest) - 4
    assert evaluation.metadata["missing"].value == 0
    assert "deferred: max_uids_per_run was reached" in str(evaluation.description)
    report = read_frame(audit_path("LAB", partition_date(day), VALIDATION_REPORT))
    aria_report = report[report["source"] == "ARIA"]
    assert (aria_report["status"] == "deferred").sum() == len(manifest) - 4

    backup(capped, day, selection=validate)
    copies = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{ORTHANC_COPIES}"))
    assert (copies["outcome"] == "already_present").sum() == 4
    assert (copies["outcome"] == "copied").sum() == 4  # the next four, in manifest order
    assert list(copies["outcome"][:8]) == ["already_present"] * 4 + ["copied"] * 4
    assert backup(lab.site, day).success  # the rest, for the tests after this one


def test_a_move_reported_successful_but_not_delivered_is_a_failure(
    lab: DemoServers, tmp_path: Path, site_file: SiteFileWriter
) -> None:
    """An ARIA whose AE table sends the archive's AE title to another server: its
    C-MOVE reports success, and nothing reaches the archive."""
    archive = lab.site.archive()
    decoy = OrthancServer(tmp_path, archive.aet, name="decoy")
    with (
        decoy,
        OrthancServer(
            tmp_path,
            "LYING_ARIA",
            peers=[DicomNode(archive.aet, "127.0.0.1", decoy.dicom_port)],
            name="lying-aria",
        ) as lying,
    ):
        path = variant(
            lab, site_file, ports={"aria": lying.dicom_port}, aets={"aria": "LYING_ARIA"}
        )
        liar = load_sites(path)["LAB"]
        spec = SyntheticSpec(
            start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 2), seed=99, patients=1, ct_slices=1
        )
        plan = next(p for p in write(spec, tmp_path / "plan") if p.name.startswith("RTPLAN_"))
        lying_client = DicomClient(
            DicomNode("LYING_ARIA", "127.0.0.1", lying.dicom_port), "LAB_SCU"
        )
        assert all(o.ok for o in lying_client.store([plan]))

        day = "2026-03-02"
        assert backup(liar, day, selection=ARIA_ONLY).success
        copies = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{ORTHANC_COPIES}"))
        assert copies["outcome"].tolist() == ["failed"]
        # the instance's own move "completed" (at the decoy)
        assert copies["reason"].iloc[0] == (
            f"C-MOVE from LYING_ARIA@127.0.0.1:{lying.dicom_port}: status 0x0000 (Success), "
            "1 completed, 0 failed; the source reported success but the instance is not in "
            "the archive"
        )


def test_an_instance_replaced_inside_a_series_is_copied_by_the_next_run(
    lab: DemoServers, tmp_path: Path, site_file: SiteFileWriter
) -> None:
    """On the source, one instance of a series is deleted and another stored into the same
    series: the study's and the series' counts are unchanged. The next run lists the day in
    full, copies the new instance and verifies it; nothing is decided on the last listing."""
    archive = lab.site.archive()
    day = "2026-04-07"
    selection = [*ARIA_ONLY, f"lab/{VALIDATION_REPORT}"]
    with OrthancServer(
        tmp_path, "SWAP_ARIA", peers=[archive.dicom_node], name="swap-aria"
    ) as server:
        site = load_sites(
            variant(lab, site_file, ports={"aria": server.dicom_port}, aets={"aria": "SWAP_ARIA"})
        )["LAB"]
        source = DicomClient(DicomNode("SWAP_ARIA", "127.0.0.1", server.dicom_port), "LAB_SCU")
        spec = SyntheticSpec(
            start=dt.date(2026, 4, 7), end=dt.date(2026, 4, 7), seed=301, patients=1
        )
        files = write(spec, tmp_path / "swap")
        assert all(o.ok for o in source.store(files))
        instance = dg.DagsterInstance.ephemeral()
        first = backup(site, day, selection=selection, instance=instance)
        assert checks(first)[check_name("ARIA")]
        last = read_frame(audit_path("LAB", partition_date(day), f"ARIA_{SOURCE_STUDIES}"))
        ct = last[last["modality"] == "CT"]
        gone = str(ct["sop_instance_uid"].iloc[0])

        (replaced,) = [
            f for f in files if dcmread(f, stop_before_pixels=True).SOPInstanceUID == gone
        ]
        swap = dcmread(replaced)
        swap.SOPInstanceUID = swap.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        swap.save_as(tmp_path / "swap.dcm")
        assert RestOrthanc(source, server.url).delete_instances([gone]) == 1
        assert all(o.ok for o in source.store([tmp_path / "swap.dcm"]))

        second = backup(site, day, selection=selection, instance=instance)
        listed = metadata(second, asset_key(site, "ARIA", SOURCE_STUDIES))
        assert (listed["listing"], listed["instances"]) == ("full", len(last))
        copies = metadata(second, asset_key(site, "ARIA", ORTHANC_COPIES))
        assert (copies["copied"], copies["already_present"]) == (1, len(last) - 1)
        assert archive_client(site).lookup(str(swap.SOPInstanceUID))
        report = read_frame(audit_path("LAB", partition_date(day), VALIDATION_REPORT))
        aria = report[report["source"] == "ARIA"]
        assert str(swap.SOPInstanceUID) in set(
            aria[aria["status"] == "verified"]["sop_instance_uid"]
        )
        assert gone not in set(aria["sop_instance_uid"])
        # ARIA's verdict stands; MIM was never listed for the day: not run, and the date fails.
        assert checks(second)[check_name("ARIA")]
        assert not checks(second)[check_name("MIM")]
        assert not second.success


def test_cli_backup_validate_and_query(
    lab: DemoServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(lab.site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    assert main(["backup", "LAB", "--from", "2026-01-07", "--to", "2026-01-08"]) == 0
    out = capsys.readouterr().out.splitlines()
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    assert [(r.job_name, r.tags["dagster/partition"]) for r in runs] == [
        (backup_job_name(lab.site), "2026-01-08"),
        (backup_job_name(lab.site), "2026-01-07"),
    ]
    assert [line.split(":")[0] for line in out[-9:-1]] == [
        "2026-01-07 LAB ARIA",
        "2026-01-07 LAB MIM",
        "2026-01-07 LAB treatment chains",
        "2026-01-07 LAB",
        "2026-01-08 LAB ARIA",
        "2026-01-08 LAB MIM",
        "2026-01-08 LAB treatment chains",
        "2026-01-08 LAB",
    ]
    sources = [line for line in out[-9:-1] if "chains" not in line and "run" not in line]
    assert all(
        line.endswith(
            "complete (0 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)"
        )
        for line in sources
    )
    assert out[-3].startswith("2026-01-08 LAB treatment chains: complete (")
    # Each date names its run, which names who ran it and how.
    assert out[-6] == f"2026-01-07 LAB: run {runs[1].run_id}"
    assert out[-2] == f"2026-01-08 LAB: run {runs[0].run_id}"
    assert out[-1] == "2 date(s) backed up; 0 incomplete"
    assert runs[0].tags["radonc/launched_by"] == "cli"
    assert runs[0].tags["radonc/started_by"] == getpass.getuser()
    assert (tmp_path / "dagster_home" / "dagster.yaml").read_text() == SHIPPED_SETTINGS.read_text()

    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    lost = str(manifest[manifest["modality"] == "RTPLAN"]["sop_instance_uid"].iloc[0])
    archive_client(lab.site).delete_instances([lost])
    assert main(["validate", "LAB", "ARIA", "ARCHIVE", "--date", DAY]) == 1
    captured = capsys.readouterr()
    report = audit_path("LAB", partition_date(DAY), VALIDATION_REPORT)
    assert captured.out.splitlines() == [
        f"{DAY} LAB ARIA: INCOMPLETE (1 missing, 0 deferred, 0 mismatched, 0 altered_in_archive, 0 not_converted)",
        f"{DAY} LAB treatment chains: INCOMPLETE (1 of 3 treatment records lack part of "
        f"their chain, e.g. RT Plan {lost} is not in the archive)",
        f"  ARIA missing: {lost} (RTPLAN, series {manifest[manifest['sop_instance_uid'] == lost]['series_instance_uid'].iloc[0]}): not in the archive",
        f"  report: {report}",
        f"{DAY} LAB: run {instance.get_runs()[0].run_id}",
    ]
    assert "Traceback" not in captured.err
    assert main(["backup", "LAB", "ARIA", "--date", DAY]) == 0
    assert "1 copied" in capsys.readouterr().out

    assert main(["query", "LAB", "--treatment-date", DAY]) == 0
    records = manifest[manifest["treatment_date"] == "20260108"]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{len(records)} treatment record(s) on {DAY} in ARIA"
    )
    assert main(["query", "LAB", "MIM", "--study-date", DAY]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 stud(ies) in MIM"


def test_deep_validation_finds_changed_content(lab: DemoServers, site_file: SiteFileWriter) -> None:
    """A plan edited in its file on the archive's disk fails every validation; one replaced
    through the archive's API (which then records the new file's MD5) fails the deep one."""
    deep = load_sites(variant(lab, site_file, settings={"deep_validation": True}))["LAB"]
    assert backup(deep).success
    assert checks(backup(deep)) == COMPLETE

    manifest = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    plan = str(manifest[manifest["modality"] == "RTPLAN"]["sop_instance_uid"].iloc[0])
    archive = archive_client(deep)
    (resource,) = archive.lookup(plan)
    validation = [
        f"lab/aria/{SOURCE_STUDIES}",
        f"lab/mim/{SOURCE_STUDIES}",
        f"lab/{VALIDATION_REPORT}",
    ]
    # The lab's archive keeps no storage cache: its MD5 check reads the disk at once.
    path = archive_server(lab).stored_file(resource["ID"])
    original = path.read_bytes()
    label = str(dcmread(io.BytesIO(original)).RTPlanLabel).encode()
    path.write_bytes(original.replace(label, b"X" * len(label)))
    try:
        for site in (lab.site, deep):
            assert checks(backup(site, selection=validation))[check_name("ARIA")] is False
            report = read_frame(audit_path("LAB", partition_date(DAY), VALIDATION_REPORT))
            row = report[(report["sop_instance_uid"] == plan) & (report["source"] == "ARIA")]
            assert row["status"].tolist() == ["altered_in_archive"]
    finally:
        path.write_bytes(original)

    assert archive.rest_url
    stored = requests.get(f"{archive.rest_url}/instances/{resource['ID']}/file", timeout=10)
    tampered = dcmread(io.BytesIO(stored.content))
    tampered.RTPlanLabel = "TAMPERED"
    buffer = io.BytesIO()
    tampered.save_as(buffer)
    archive.delete_instances([plan])
    archive.upload(buffer.getvalue())

    deep_result = backup(deep, selection=validation)
    assert checks(deep_result)[check_name("ARIA")] is False
    report = read_frame(audit_path("LAB", partition_date(DAY), VALIDATION_REPORT))
    row = report[(report["sop_instance_uid"] == plan) & (report["source"] == "ARIA")]
    assert row[["status", "detail"]].values.tolist() == [
        ["mismatched", "deep check: content differs from the source"]
    ]

    archive.delete_instances([plan])
    assert checks(backup(deep)) == COMPLETE


def archive_server(lab: DemoServers) -> OrthancServer:
    """The lab's archive server."""
    server = lab.servers["ARCHIVE"]
    assert isinstance(server, OrthancServer)
    return server


def flip_last_byte(path: Path) -> bytes:
    """Change the last byte of the file at `path` (a CT's pixel data); its former content."""
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0x01]))
    return original


def test_a_file_altered_on_the_archive_disk_fails_validation_and_is_copied_again(
    lab: DemoServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bit rot: one byte of an archived CT slice (ARIA's and MIM's) changed on the archive's
    disk, the archive restarted (a storage cache would hide the change until then)."""
    site = lab.site
    instance = dg.DagsterInstance.ephemeral()
    assert backup(site, instance=instance).success
    aria = read_frame(audit_path("LAB", partition_date(DAY), f"ARIA_{SOURCE_STUDIES}"))
    mim = read_frame(audit_path("LAB", partition_date(DAY), f"MIM_{SOURCE_STUDIES}"))
    ct = aria[(aria["modality"] == "CT") & aria["sop_instance_uid"].isin(mim["sop_instance_uid"])]
    identity = tuple(str(ct[column].iloc[0]) for column in IDENTITY)
    uid = identity[-1]
    server = archive_server(lab)
    path = server.stored_file(orthanc_id(*identity))
    flip_last_byte(path)
    server.restart()
    detail = (
        f"the archive's file {path.name} changed after it was stored (its MD5 is no longer "
        "the one the archive recorded then)"
    )

    validation = backup(
        site,
        selection=[
            f"lab/aria/{SOURCE_STUDIES}",
            f"lab/mim/{SOURCE_STUDIES}",
            f"lab/{VALIDATION_REPORT}",
        ],
        instance=instance,
    )
    assert not validation.success
    assert report_status(site, instance) == dg.AssetPartitionStatus.FAILED
    assert checks(validation) == {
        check_name("ARIA"): False,
        check_name("MIM"): False,
        CHAIN_CHECK: True,
    }
    report = read_frame(audit_path("LAB", partition_date(DAY), VALIDATION_REPORT))
    bad = report[~report["status"].isin(["verified", "extra"])]
    assert bad[["source", "sop_instance_uid", "status", "detail"]].values.tolist() == [
        ["ARIA", uid, "altered_in_archive", detail],
        ["MIM", uid, "altered_in_archive", detail],
    ]
    (observed,) = [
        e for e in validation.all_events if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
    observation = observed.asset_observation_data.asset_observation.metadata
    # one instance of the day (ARIA's and MIM's), altered for each source
    assert observation["distinct_altered_in_archive"].value == 1
    sources = {row.data["source"]: row.data for row in observation["sources"].value.records}
    assert sources["ARIA"]["altered_in_archive"] == sources["MIM"]["altered_in_archive"] == 1
    assert sources["ARIA"]["in_archive"] == sources["ARIA"]["held_by_source"]
    assert observation["archive_integrity"].value == "orthanc_md5"
    assert day_coverage("LAB", dt.date.fromisoformat(DAY)).status == DayStatus.INCOMPLETE

    monkeypatch.setenv("RADONC_ENVIRONMENTS", str(site.source_file.parent))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert main(["validate", "LAB", "ARIA", "--date", DAY]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{DAY} LAB ARIA: INCOMPLETE (0 missing, 0 deferred, 0 mismatched, 1 altered_in_archive, 0 not_converted)"
    )
    assert f"  ARIA altered_in_archive: {uid} (CT, series {identity[2]}): {detail}" in out

    repaired = backup(site, instance=instance)
    assert checks(repaired) == COMPLETE
    assert report_status(site, instance) == dg.AssetPartitionStatus.MATERIALIZED
    copies = [
        metadata(repaired, asset_key(site, alias, ORTHANC_COPIES)) for alias in ("ARIA", "MIM")
    ]
    # Whichever source's copy ran first stored it again; the other's found it intact.
    assert sorted((c["replaced"], c["copied"]) for c in copies) == [(0, 0), (1, 1)]
    copied = pd.concat(
        read_frame(audit_path("LAB", partition_date(DAY), f"{alias}_{ORTHANC_COPIES}"))
        for alias in ("ARIA", "MIM")
    )
    assert copied[copied["outcome"] == "copied"][
        ["sop_instance_uid", "reason"]
    ].values.tolist() == [[uid, f"copied again, as {detail}"]]
    assert archive_client(site).altered_files([identity]) == {}


def test_archive_without_rest_is_reached_over_dicom(
    lab: DemoServers, site_file: SiteFileWriter
) -> None:
    """No rest_url: the archive is listed by C-FIND and the relay stores by C-STORE."""
    path = variant(lab, site_file)
    path.write_text(path.read_text().replace(f', rest_url = "{lab.site.archive().rest_url}"', ""))
    dicom_only = load_sites(path)["LAB"]
    assert dicom_only.archive().rest_url is None
    day = DAY  # MIM holds a planning study and an MR study
    assert backup(dicom_only, day, selection=[f"lab/mim/{SOURCE_STUDIES}"]).success
    manifest = read_frame(audit_path("LAB", partition_date(day), f"MIM_{SOURCE_STUDIES}"))
    archive_client(lab.site).delete_instances(manifest["sop_instance_uid"])

    relayed = backup(
        dicom_only, day, selection=[f"lab/mim/{SOURCE_STUDIES}", f"lab/mim/{ORTHANC_COPIES}"]
    )
    copies = metadata(relayed, asset_key(dicom_only, "MIM", ORTHANC_COPIES))
    assert (copies["copied"], copies["failed"]) == (len(manifest), 0) != (0, 0)
    complete = backup(dicom_only, day)
    assert checks(complete) == COMPLETE
    assert metadata(complete, asset_key(dicom_only, VALIDATION_REPORT))["archive_integrity"] == (
        "content_hash"
    )

    # Its files are checked by their content against the sources'; nothing is deleted.
    image = manifest[manifest["modality"] == "MR"].iloc[0]
    path = archive_server(lab).stored_file(orthanc_id(*(str(image[c]) for c in IDENTITY)))
    original = flip_last_byte(path)
    try:
        for _ in range(2):  # validated, then backed up again
            assert checks(backup(dicom_only, day))[check_name("MIM")] is False
            report = read_frame(audit_path("LAB", partition_date(day), VALIDATION_REPORT))
            bad = report[~report["status"].isin(["verified", "extra"])]
            assert bad[["source", "sop_instance_uid", "status", "detail"]].values.tolist() == [
                [
                    "MIM",
                    image["sop_instance_uid"],
                    "mismatched",
                    "content check (the archive has no REST API to verify its files): "
                    "content differs from the source",
                ]
            ]
    finally:
        path.write_bytes(original)
