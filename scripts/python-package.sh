#!/usr/bin/env bash
# Build the Python package (python/: PyO3 + maturin, one abi3 wheel for CPython ≥ 3.9) and
# install it into a venv, with Gymnasium and numpy from PyPI.
#
#   bash scripts/python-package.sh            # wheel in target/wheels/, venv ~/.cache/spelunk-py
#   SPELUNK_PY_VENV=.venv bash scripts/python-package.sh
#   SPELUNK_PY_PROFILE=dev bash scripts/python-package.sh   # quicker to build, slower envs (CI)
#
# Then `$SPELUNK_PY_VENV/bin/python -c 'import spelunk'`, or `pip install target/wheels/spelunk-*.whl`
# into an environment of your own. The Rust build shares the workspace's target directory
# (CARGO_TARGET_DIR if set), so the dependencies the workspace already built are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SPELUNK_PY_VENV:-${HOME:-/tmp}/.cache/spelunk-py}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import maturin, gymnasium, numpy' 2>/dev/null ||
  "$venv/bin/pip" install -q "maturin>=1.8,<2" "gymnasium>=1.1,<1.3" numpy
target="${CARGO_TARGET_DIR:-$PWD/target}"
rm -rf "$target/wheels"
profile="${SPELUNK_PY_PROFILE:-release}"
(cd python && CARGO_TARGET_DIR="$target" "$venv/bin/maturin" build --profile "$profile" --locked \
  -o "$target/wheels" 2>&1 | grep -v '^ *Compiling ' || true)
wheel=$(ls "$target"/wheels/spelunk-*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || { echo "python-package.sh: the wheel did not build (see above)" >&2; exit 1; }
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel"
"$venv/bin/python" -c 'import spelunk; print(f"spelunk {spelunk.__version__}: {len(spelunk.env_ids())} envs, in '"$venv"'")'
