"""The benchmark's synthetic days: generated on every core, loaded by DCMTK storescu.

A day is `studies` synthetic patients, each one planning study of CT slices with its
RT Structure Set, RT Plan and RT Dose, all dated that day (the synthetic patients'
simulation day; no treatment record, as the range is one day). Each patient has a seed
of its own, so patients are generated in parallel and days never share a UID; each is
stored into its server as soon as it is written.
"""

import datetime as dt
import os
import queue
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from radonc_assets.devtools.synthetic import SyntheticSpec, write
from radonc_assets.devtools.synthetic.patient import patients
from resources.dicom.client import DicomNode

# RT Structure Set, RT Plan and RT Dose besides each patient's CT slices.
RT_OBJECTS = 3
# The calling AE title of every DCMTK tool the benchmark runs.
CALLING_AET = "BENCH_SCU"


@dataclass(frozen=True)
class Day:
    """One source's synthetic day.

    Attributes:
        date: The day (a weekday): StudyDate of everything.
        target_instances: The instances asked for; :attr:`instances` is what it holds.
        studies: Patients, one planning study each.
        first_seed: The first patient's seed; the others follow.
        image_size: CT Rows = Columns.
        folder: Where its files are written, one folder per patient.
    """

    date: dt.date
    target_instances: int
    studies: int
    first_seed: int
    image_size: int
    folder: Path

    @property
    def key(self) -> str:
        """The partition key of the day."""
        return self.date.isoformat()

    @property
    def ct_slices(self) -> int:
        """CT slices per patient, so that the day holds about `target_instances`."""
        return max(1, round(self.target_instances / self.studies) - RT_OBJECTS)

    @property
    def instances(self) -> int:
        """The instances the day holds."""
        return self.studies * (self.ct_slices + RT_OBJECTS)

    @property
    def seeds(self) -> range:
        """One seed per patient."""
        return range(self.first_seed, self.first_seed + self.studies)

    def spec(self, seed: int) -> SyntheticSpec:
        """The spec of the patient of `seed`."""
        return SyntheticSpec(
            start=self.date,
            end=self.date,
            patients=1,
            seed=seed,
            ct_slices=self.ct_slices,
            image_size=self.image_size,
            fractions=1,
        )

    @cached_property
    def patient_ids(self) -> list[str]:
        """The PatientID of every patient of the day."""
        return [p.patient_id for seed in self.seeds for p in patients(self.spec(seed))]

    @cached_property
    def study_uids(self) -> list[str]:
        """The StudyInstanceUID of every study of the day."""
        return [str(p.planning_study.uid) for seed in self.seeds for p in patients(self.spec(seed))]


def _write_patient(day: Day, seed: int) -> tuple[Path, int]:
    """Write one patient of `day`; its folder and its number of files."""
    paths = write(day.spec(seed), day.folder)
    return paths[0].parent, len(paths)


def dcmtk(*args: str) -> None:
    """Run a DCMTK tool, by absolute path (pynetdicom's scripts shadow the names).

    Raises:
        subprocess.CalledProcessError: It failed.
    """
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, "TCP_NODELAY": "1"})


def storescu_command(node: DicomNode, folders: Iterable[Path]) -> list[str]:
    """DCMTK storescu sending every file under `folders` to `node`, on one association."""
    return [
        "/usr/bin/storescu",
        "-aet",
        CALLING_AET,
        "-aec",
        node.aet,
        "+sd",
        "+r",
        node.host,
        str(node.port),
        *(str(folder) for folder in folders),
    ]


def _store_each(node: DicomNode, folders: "queue.Queue[Path | None]") -> None:
    """Store each folder of `folders` into `node` in turn, until None.

    In turn: dcmqrscp refuses a second storescu while one is storing.

    Raises:
        RuntimeError: A storescu failed (with its messages).
    """
    while (folder := folders.get()) is not None:
        try:
            dcmtk(*storescu_command(node, [folder]))
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"storescu of {folder}: {exc.stderr.decode()[-2000:]}") from exc


def generate_and_load(loads: Sequence[tuple[DicomNode, Sequence[Day]]]) -> None:
    """Write every patient of the days, one process per core, and store each into its node.

    Each patient is stored (one storescu each, one at a time per node) as soon as it is
    written, while the others are still being generated.

    Raises:
        AssertionError: A day does not hold the instances it should.
        RuntimeError: A storescu failed.
    """
    written = dict.fromkeys((day.key for _, days in loads for day in days), 0)
    folders: dict[DicomNode, queue.Queue[Path | None]] = {node: queue.Queue() for node, _ in loads}
    with ThreadPoolExecutor(len(folders)) as storing, ProcessPoolExecutor(os.cpu_count()) as pool:
        stored = [storing.submit(_store_each, node, waiting) for node, waiting in folders.items()]
        patients = {
            pool.submit(_write_patient, day, seed): (node, day)
            for node, days in loads
            for day in days
            for seed in day.seeds
        }
        for done in as_completed(patients):
            node, day = patients[done]
            folder, count = done.result()
            written[day.key] += count
            folders[node].put(folder)
        for waiting in folders.values():
            waiting.put(None)
        for result in stored:
            result.result()
    for _, days in loads:
        for day in days:
            assert written[day.key] == day.instances, f"{day.key}: {written[day.key]} files"
