#!/usr/bin/env bash
# LeRobot datasets: what `spelunk record --lerobot` writes is read the way LeRobot reads it
# (Hugging Face `datasets` with the features of meta/info.json, pandas for tasks) and checked
# against the env's own steps (scripts/lerobot/check_dataset.py); a dataset written by
# LeRobot's libraries (tests/fixtures/lerobot/walker) is read by `spelunk dataset`; bad
# datasets are refused in one line.
#
#   bash scripts/check-lerobot.sh [SPELUNK_BINARY]
#
# datasets, pyarrow, pandas and pillow are installed once into a venv under ~/.cache (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/spelunk}"
[ -x "$bin" ] || { echo "check-lerobot: no spelunk binary at $bin (cargo build -p spelunk-cli first)" >&2; exit 1; }
venv="${SPELUNK_LEROBOT_VENV:-${HOME:-/tmp}/.cache/spelunk-lerobot}"
if ! "$venv/bin/python" -c "import datasets, pyarrow, pandas, PIL" 2>/dev/null; then
  echo "== installing datasets, pyarrow, pandas, pillow into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "datasets==5.2.0" "pyarrow==26.0.1" "pandas==3.1.1" "pillow==13.0.0"
fi
py="$venv/bin/python"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
check() { # name keys record-args…
  local name=$1 keys=$2; shift 2
  "$bin" record "$@" --lerobot "$out/$name" --steps "$out/$name.jsonl" >/dev/null
  HF_DATASETS_CACHE="$out/hf" "$py" -W ignore scripts/lerobot/check_dataset.py "$out/$name" "$out/$name.jsonl" "$keys" 2>&1 |
    grep -v "examples/s\]\|ba/s\]" || { echo "check-lerobot: $name failed" >&2; exit 1; }
  "$bin" dataset "$out/$name" --env "${@:1:1}" | tail -n 1
}
echo "== datasets of every kind of observation, read as LeRobot reads them"
check reach observation.achieved_goal,observation.desired_goal,observation.image,observation.instruction,observation.state \
  Arm-Reach-v0 --policy scripted --episodes 4 --seed 4 --set targets=3 --set 'camera={width=24,height=24,fov_y=30.0}'
check fetch7 observation.achieved_goal,observation.desired_goal,observation.joints,observation.state \
  Arm-Push-v0 --policy scripted --episodes 2 --seed 1 --set 'robot={urdf="fetch7"}'
check doorkey observation.image,observation.direction MiniGrid-DoorKey-5x5-v0 --episodes 2 --seed 1
check montezuma observation.view,observation.status Montezuma-Lite-v0 --policy scripted
echo "== a dataset written by LeRobot's libraries (scripts/fixtures/lerobot_dataset.py)"
"$bin" dataset tests/fixtures/lerobot/walker | sed -n 1p

echo "== bad datasets are refused"
refuse() { # what expected-text command…
  local what=$1 want=$2; shift 2
  local msg
  if msg=$("$@" 2>&1); then echo "check-lerobot: $what was accepted" >&2; exit 1; fi
  msg=$(printf '%s\n' "$msg" | tail -1)
  case "$msg" in
    *"$want"*) echo "refused ($what): $msg" ;;
    *) echo "check-lerobot: $what: expected \"$want\", got: $msg" >&2; exit 1 ;;
  esac
}
refuse "a dataset written over" "never written over" \
  "$bin" record Arm-Reach-v0 --policy scripted --lerobot "$out/reach"
refuse "another env's episodes" "holds episodes of Arm-Reach-v0, not Arm-Push-v0" \
  "$bin" dataset "$out/reach" --env Arm-Push-v0
refuse "another env's episodes for cloning" "holds Arm-Push-v0 episodes" \
  "$bin" train --experiment vla-bc --data "$out/fetch7" --out "$out/bc"
"$bin" record Arm-Reach-v0 --policy scripted --episodes 1000000 --lerobot "$out/killed" >/dev/null 2>&1 &
sleep 2
kill -9 $! 2>/dev/null || true
wait 2>/dev/null || true
refuse "a writer killed before it finished" "never finished" "$bin" dataset "$out/killed"
cp -r "$out/reach" "$out/gap"
"$py" -c "
import pyarrow.parquet as pq, sys
p = sys.argv[1] + '/data/chunk-000/file-000.parquet'
t = pq.read_table(p)
pq.write_table(__import__('pyarrow').concat_tables([t.slice(0, 60), t.slice(61)]), p)
" "$out/gap"
refuse "a frame missing" "a frame is missing" "$bin" dataset "$out/gap"
cp -r "$out/reach" "$out/dims"
"$py" -c "
import json, sys
p = sys.argv[1] + '/meta/info.json'
i = json.load(open(p)); i['features']['action']['shape'] = [7]
json.dump(i, open(p, 'w'))
" "$out/dims"
refuse "actions of another size" "gives 7" "$bin" dataset "$out/dims"
echo "check-lerobot: every dataset read as LeRobot reads it; every bad one refused"
