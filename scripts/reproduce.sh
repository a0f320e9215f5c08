#!/usr/bin/env bash
# Record a reference run of one chapter: execute its experiments at a budget with every fit
# checkpointed (an interrupted run, started again, resumes), and write its results record to
# results/<budget>/<chapter>.json. Usage: bash scripts/reproduce.sh CHAPTER [--budget gpu]
# (bash scripts/reproduce.sh --help lists the options).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
python scripts/reproduce.py "$@"
