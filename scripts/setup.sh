#!/usr/bin/env bash
# Set up what the book needs, idempotently: a virtual environment in .venv with the exact pins
# of requirements.txt and dgm_lib installed editable; Debian's dataset-fashion-mnist and
# chromium where apt can install them; MathJax from the npm registry into _vendor/mathjax.
# Sourced by build.sh and test.sh, so neither needs a step beforehand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: $python is missing or older than Python 3.11; install Python 3.11+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi

stamp="$venv/.requirements.sha256"
want="$(cat "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating $venv with the pinned requirements (a few minutes the first time)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  log="$(mktemp)"
  if ! { "$venv/bin/python" -m pip install -q -r "$root/requirements.txt" \
         && "$venv/bin/python" -m pip install -q --no-deps -e "$root"; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    echo "setup: pip could not install the pinned requirements (log above)" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi

# Install a Debian package where apt can (as root, or through sudo); say so when it cannot.
apt_install() {  # package, what it is for
  command -v apt-get >/dev/null 2>&1 || { echo "setup: no apt-get for $1 ($2)"; return 0; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="$(command -v sudo || true)"
  if [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
    echo "setup: not root and no sudo: cannot install Debian's $1 ($2)"
    return 0
  fi
  echo "setup: installing Debian's $1 ($2)"
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$1"; } >/dev/null 2>&1 \
    || echo "setup: could not install Debian's $1 ($2)"
}

# Grayscale images offline: Debian's Fashion-MNIST (IDX files in /usr/share/datasets).
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  apt_install dataset-fashion-mnist "grayscale images offline; without it the book falls back to other data"
fi

# The browser tests (tests/book/test_browser.py): Debian's Chromium, driven by the pinned
# Playwright; nothing is downloaded at run time.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${DGM_CHROMIUM:-}" ]; then
  apt_install chromium "the browser tests; without it they skip, or fail under DGM_REQUIRE_BROWSER=1"
fi

# MathJax served by the site itself, never from a CDN (offline readers, closed networks): the
# pinned npm package, its TeX-to-HTML bundle with the fonts and extensions it loads, copied
# into _vendor/mathjax (ignored by git; the build copies it to the site's mathjax/) through a
# temporary folder, so a failed copy leaves nothing half-written. Not _static: Jupyter Book
# would add every .js file there to every page.
mathjax_version="3.2.2"
mathjax="$root/_vendor/mathjax"
if [ "$(cat "$mathjax/VERSION" 2>/dev/null)" != "$mathjax_version" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm "MathJax from the npm registry"
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: npm is missing; install Node.js and npm (Debian: apt-get install npm) so the book can serve MathJax itself" >&2
    exit 1
  fi
  echo "setup: installing mathjax@$mathjax_version from the npm registry into _vendor/mathjax"
  if ! npm install --silent --no-audit --no-fund --prefix "$venv/npm" "mathjax@$mathjax_version" >/dev/null 2>&1; then
    echo "setup: npm could not install mathjax@$mathjax_version (is the npm registry reachable?)" >&2
    exit 1
  fi
  mkdir -p "$root/_vendor"
  staging="$(mktemp -d "$root/_vendor/.mathjax.XXXXXX")"
  es5="$venv/npm/node_modules/mathjax/es5"
  cp -r "$es5/tex-chtml.js" "$es5/input" "$es5/output" "$es5/a11y" "$es5/ui" "$staging/"
  rm -rf "$staging/output/svg" "$staging/output/svg.js"
  echo "$mathjax_version" > "$staging/VERSION"
  rm -rf "$mathjax"
  mv "$staging" "$mathjax"
fi

# The fixed binarized MNIST: a verified copy sits in ../shared/data in this project's CI.
if [ -z "${DGM_DATA_DIR:-}" ] && [ -f "$root/../shared/data/binarized_mnist.npz" ]; then
  DGM_DATA_DIR="$(cd "$root/../shared/data" && pwd)"
  export DGM_DATA_DIR
fi
export PATH="$venv/bin:$PATH"
