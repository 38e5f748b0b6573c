#!/usr/bin/env bash
# Recordings of every family, checked with Rerun's own tools: `rerun rrd verify` on each, then
# the data read back (scripts/rrd/check_rrd.py) and compared with what the env reported
# (`spelunk record --steps` writes each step's info and observation beside the recording).
#
#   bash scripts/check-rrd.sh [SPELUNK_BINARY]
#
# The Python `rerun-sdk` (with its dataframe extra) of the version Cargo.lock pins is installed
# once into a venv under
# ~/.cache (PyPI); nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/spelunk}"
[ -x "$bin" ] || { echo "check-rrd: no spelunk binary at $bin (cargo build -p spelunk-cli first)" >&2; exit 1; }
version=$(awk '/^name = "rerun"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
[ -n "$version" ] || { echo "check-rrd: rerun is not in Cargo.lock" >&2; exit 1; }
venv="${SPELUNK_RERUN_VENV:-${HOME:-/tmp}/.cache/spelunk-rerun-$version}"
if ! "$venv/bin/python" -c "import rerun, sys; sys.exit(rerun.__version__ != '$version')" 2>/dev/null; then
  echo "== installing rerun-sdk==$version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "rerun-sdk[datafusion]==$version"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== recordings of every family (into $out)"
"$bin" record MiniGrid-DoorKey-8x8-v0 --episodes 2 --seed 3 --bonus counts,rnd \
  --rerun "$out/doorkey.rrd" --steps "$out/doorkey.jsonl"
"$bin" record Montezuma-Lite-v0 --policy scripted --rerun "$out/montezuma.rrd" --steps "$out/montezuma.jsonl"
"$bin" record Arm-PickAndPlace-v0 --policy scripted --episodes 2 --seed 5 \
  --rerun "$out/arm.rrd" --steps "$out/arm.jsonl"
"$bin" record Arm-Push-v0 --policy scripted --set 'robot={urdf="fetch7"}' --no-cameras \
  --rerun "$out/fetch7.rrd" --steps "$out/fetch7.jsonl"
"$bin" train --set 'env="MiniGrid-Empty-5x5-v0"' --set iterations=3 --set eval_episodes=2 \
  --eval-every 2 --out "$out/run" --rerun "$out/train.rrd" >/dev/null
"$bin" explore --method go-explore --env Montezuma-Lite-v0 --steps 6000000 --stop-on-solve --run "$out/ge" \
  --rerun "$out/goexplore.rrd" >/dev/null
"$bin" explore --experiment stax --setting maze --seeds 1 --evaluations 600 --out "$out/stax" \
  --rerun "$out/stax.rrd" >/dev/null
echo "== rerun rrd verify"
for f in "$out"/*.rrd; do
  "$venv/bin/rerun" rrd verify "$f" >/dev/null 2>"$out/verify.log" || { cat "$out/verify.log"; echo "check-rrd: $f does not verify" >&2; exit 1; }
  echo "verified $(basename "$f")"
done
echo "== values read back against the env"
"$venv/bin/python" scripts/rrd/check_rrd.py "$out"
