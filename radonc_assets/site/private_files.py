"""Files that identify patients, readable by their owner only, whatever the umask.

Manifests, reports, generated RT Records, retrieved instances and restore reports hold
patient IDs and names: their files are created with mode 0600 and the folders radonc
creates for them with 0700 (``os.open`` and ``mkdir`` modes are masked by the umask, so
the modes are set explicitly). Folders that already exist are left as they are: an
operator's choice for an output folder, or the data folder's parents.
"""

import os
from pathlib import Path

OWNER_ONLY_FILE = 0o600
OWNER_ONLY_FOLDER = 0o700


def private_dir(path: Path) -> Path:
    """Create folder `path` and its missing parents, each owner-only (0700).

    Returns:
        `path`.

    Raises:
        OSError: A folder cannot be created.
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=OWNER_ONLY_FOLDER)
        except FileExistsError:
            continue  # made meanwhile by another process: its mode is its maker's
        folder.chmod(OWNER_ONLY_FOLDER)
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, owner-only (0600), creating its folder as :func:`private_dir`.

    The data goes to a new file beside `path`, renamed over it: a reader never sees half
    a file, and a file there before is replaced whatever its mode.

    Returns:
        `path`.

    Raises:
        OSError: The file cannot be written.
    """
    private_dir(path.parent)
    partial = path.with_name(f"{path.name}.partial")
    partial.unlink(missing_ok=True)
    # O_EXCL: created here with this mode, never an existing file or a symbolic link.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    os.fchmod(descriptor, OWNER_ONLY_FILE)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    partial.replace(path)
    return path
