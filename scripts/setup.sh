#!/usr/bin/env bash
# Prepare a Debian machine for radonc-backup: the system packages (Orthanc, DCMTK,
# unixODBC with the SQLite and FreeTDS drivers; for the tests dicom3tools' dciodvfy,
# openssl, PostgreSQL, systemd's systemd-analyze and stunnel4) and the project's virtualenv in .venv.
# Idempotent: a second run installs nothing that is already there. The Orthanc and
# PostgreSQL services the Debian packages would start are not started: radonc, its
# demo and its tests run their own servers on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_packages=(orthanc dcmtk dicom3tools unixodbc libsqliteodbc tdsodbc openssl stunnel4 postgresql systemd)
command -v python3 >/dev/null || apt_packages+=(python3)
python3 -m pip --version >/dev/null 2>&1 || command -v uv >/dev/null || apt_packages+=(python3-pip)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    # Debian's policy layer (invoke-rc.d) starts no service while this file exits 101.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        trap '$SUDO rm -f "$policy"' EXIT
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v uv >/dev/null; then
    echo "setup: installing uv"
    python3 -m pip install --quiet uv 2>/dev/null || python3 -m pip install --quiet --break-system-packages uv
fi
UV="$(command -v uv || echo "$(python3 -m site --user-base)/bin/uv")"

[ -x .venv/bin/python ] || "$UV" venv --quiet --python python3 .venv
echo "setup: installing Python packages into .venv"
"$UV" pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[dev]"
