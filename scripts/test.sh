#!/usr/bin/env bash
# Run the tests: lint, the library's unit and property tests, every chapter executed at the
# smoke budget, and the whole site built with warnings as errors. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
ruff check .
python -m pytest -q "$@"
