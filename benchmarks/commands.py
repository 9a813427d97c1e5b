"""`radonc` run as its console script, as an operator runs it, timed as a whole process.

Each command is a new process with the benchmark's folders in its environment
(``RADONC_ENVIRONMENTS``, ``DAGSTER_HOME``, ``RADONC_DATA_DIR``); its wall-clock time
runs from the spawn to the exit, start-up and imports included, and its peak memory is
the process's own (GNU time's ``%M``).
"""

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

RADONC = str(Path(sys.executable).with_name("radonc"))
TIME = "/usr/bin/time"  # GNU time


@dataclass(frozen=True)
class Finished:
    """One finished command.

    Attributes:
        seconds: Wall-clock time from the spawn to the exit.
        exit_code: Its exit status.
        output: What it printed (stdout and stderr).
        peak_mib: Its peak resident memory (VmHWM), in MiB.
    """

    seconds: float
    exit_code: int
    output: str
    peak_mib: float

    def run_ids(self) -> list[str]:
        """The run of each date, as ``DATE SITE: run RUN_ID`` lines name them."""
        return [line.rsplit(" ", 1)[1] for line in self.output.splitlines() if ": run " in line]


@dataclass(frozen=True)
class Radonc:
    """The `radonc` command on the benchmark's folders.

    Attributes:
        environments: The folder of site files.
        dagster_home: The Dagster instance folder.
        data_dir: Manifests and reports.
        log_dir: Where each command's output is kept while it runs.
    """

    environments: Path
    dagster_home: Path
    data_dir: Path
    log_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment of every command."""
        return {
            **os.environ,
            "RADONC_ENVIRONMENTS": str(self.environments),
            "DAGSTER_HOME": str(self.dagster_home),
            "RADONC_DATA_DIR": str(self.data_dir),
        }

    def run(self, *argv: str, expect: int | None = 0) -> Finished:
        """Run ``radonc ARGV`` and wait for it.

        Raises:
            RuntimeError: Its exit status is not `expect` (None: any is fine).
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log, peak = self.log_dir / "command.log", self.log_dir / "command.peak"
        with log.open("wb") as output:
            started = time.monotonic()
            # GNU time reports the peak of its child alone (the child's own getrusage
            # would also count this process, which it was forked from).
            exit_code = subprocess.run(
                [TIME, "--format", "%M", "--output", str(peak), RADONC, *argv],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
            seconds = time.monotonic() - started
        finished = Finished(
            seconds,
            exit_code,
            log.read_text(errors="replace"),
            int(peak.read_text().split()[-1]) / 1024,
        )
        if expect is not None and finished.exit_code != expect:
            raise RuntimeError(
                f"radonc {' '.join(argv)} exited {finished.exit_code}:\n{finished.output[-3000:]}"
            )
        return finished

    def median(self, runs: int, *argv: str) -> float:
        """The median wall-clock time of `runs` runs of ``radonc ARGV``."""
        return statistics.median(self.run(*argv).seconds for _ in range(runs))

    def step_seconds(self, run_id: str) -> dict[str, float]:
        """Where a run's time went: each step's, and the run's from start to end.

        Read from the Dagster instance the command recorded the run in; a step is named
        by its asset key without the site (``aria__orthanc_copies``, ``validation_report``).
        """
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            run = instance.get_run_stats(run_id)
            steps = {
                step.step_key.split("__", 1)[-1]: (step.end_time or 0.0) - (step.start_time or 0.0)
                for step in instance.get_run_step_stats(run_id)
            }
        return {**steps, "run": (run.end_time or 0.0) - (run.start_time or 0.0)}
