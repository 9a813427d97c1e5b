"""Terminal output of the `radonc` commands: tables and progress."""

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as a left-aligned text table (columns default to the first row's keys)."""
    if not rows:
        return "(no results)"
    names = list(columns or rows[0])
    cells = [[str(row.get(name, "")) for name in names] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    lines = [names, ["-" * w for w in widths], *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def warn(message: str) -> None:
    """Say on stderr, in one line, something the user asked for that is not done as asked.

    For an option that a combination of options leaves without effect (never silently).
    """
    print(f"radonc: warning: {message}", file=sys.stderr)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Print rows as a table, or ``(no results)``."""
    print(format_table(rows, columns))


class Progress:
    """A progress line on stderr: rewritten in place on a terminal, every 10% otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        # Looked up now, not at import: a redirected sys.stderr (tests, tools) is used.
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last_step = -1

    def __call__(self, done: int, total: int | None, failed: int = 0) -> None:
        """Report `done` of `total` items (`total` None when not known in advance).

        Args:
            done: Items done successfully.
            total: Items to do, None when not known in advance.
            failed: Items tried that failed, shown when there are some.
        """
        tried = done + failed
        rate = tried / max(time.monotonic() - self.started, 1e-6)
        count = f"{done}/{total}" if total is not None else str(done)
        if failed:
            count += f", failed {failed}"
        line = f"{self.label}: {count} ({rate:.1f}/s)"
        finished = total is not None and tried >= total
        if self.stream.isatty():
            self.stream.write(f"\r{line}" + ("\n" if finished else ""))
        else:
            # In logs: one line per 10% of a known total, per 100 items of an unknown one.
            step = tried * 10 // max(total, 1) if total is not None else tried // 100
            if step == self._last_step and not finished:
                return
            self._last_step = step
            self.stream.write(f"{line}\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the progress line on a terminal (after an unknown total)."""
        if self.stream.isatty():
            self.stream.write("\n")
            self.stream.flush()
