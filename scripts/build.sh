#!/usr/bin/env bash
# Build the book into _build/html (or into the folder given as the first argument), executing
# every chapter at the budget in DGM_BUDGET (default: cpu, or gpu when JAX sees one).
# Fails on a cell error, a broken cross-reference or any Sphinx warning.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
out="${1:-$root}"
jupyter-book build "$root" --path-output "$out" --all -W -n --keep-going
echo "book: $out/_build/html/index.html"
