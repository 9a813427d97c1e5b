#!/usr/bin/env bash
# Set up (scripts/setup.sh), then lint, type-check, check the import boundaries and
# run the whole test suite against real Orthanc / DCMTK / ODBC servers started by
# the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports --no-cache
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
