#!/usr/bin/env bash
# The README's pictures of recordings, taken by Rerun's own viewer (`rerun --screenshot-to`)
# rendering in software (Mesa's lavapipe) on a virtual display (Xvfb).
#
#   bash scripts/screenshots.sh [SPELUNK_BINARY]
#
# Needs Debian's xvfb and mesa-vulkan-drivers (installed when missing; root) and the Python
# rerun-sdk that scripts/check-rrd.sh installs. Writes docs/img/rerun_*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/spelunk}"
[ -x "$bin" ] || { echo "screenshots: no spelunk binary at $bin" >&2; exit 1; }
version=$(awk '/^name = "rerun"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
venv="${SPELUNK_RERUN_VENV:-${HOME:-/tmp}/.cache/spelunk-rerun-$version}"
[ -x "$venv/bin/rerun" ] || { echo "screenshots: run scripts/check-rrd.sh first (it installs rerun-sdk==$version into $venv)" >&2; exit 1; }
if ! command -v Xvfb >/dev/null || [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q xvfb mesa-vulkan-drivers >/dev/null
fi
out=$(mktemp -d)
Xvfb :97 -screen 0 1600x1000x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$out"' EXIT
sleep 2
shot() {  # shot RECORDING PICTURE
  # The viewer exits with 102 once the picture is written.
  # A fresh home for the viewer: it keeps each application's layout between runs, and a
  # picture should show the default layout of this recording alone.
  rm -rf "$out/home" && mkdir -p "$out/home"
  HOME="$out/home" XDG_DATA_HOME="$out/home" XDG_CONFIG_HOME="$out/home" XDG_CACHE_HOME="$out/home" \
    DISPLAY=:97 RERUN_ANALYTICS=0 timeout 300 "$venv/bin/rerun" --window-size 1400x900 \
    --screenshot-to "$2" "$1" >/dev/null 2>&1 || true
  [ -s "$2" ] || { echo "screenshots: the viewer wrote no $2" >&2; exit 1; }
  echo "wrote $2"
}
"$bin" record Montezuma-Lite-v0 --policy scripted --bonus counts,rnd --rerun "$out/montezuma.rrd" >/dev/null 2>&1
shot "$out/montezuma.rrd" docs/img/rerun_montezuma.png
"$bin" record Arm-PickAndPlace-v0 --policy scripted --seed 2 --rerun "$out/arm.rrd" >/dev/null 2>&1
shot "$out/arm.rrd" docs/img/rerun_arm.png
