#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the local demo site of environments/demo.toml:
# real servers on 127.0.0.1, a synthetic week of RT data, `radonc` commands against them.
# Extra arguments go to `radonc demo` (e.g. --keep-running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/radonc demo "$@"
