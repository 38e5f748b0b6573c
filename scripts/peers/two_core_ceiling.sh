#!/usr/bin/env bash
# How far a vector env's two threads are from what this machine's two cores give at all: for
# each arm env, the `VecEnv` (256 envs) on 2 threads against two independent processes, one
# env each, pinned one per core and run at the same time — the most two cores deliver when
# nothing is shared but the machine (caches, memory, the host). Also one such process alone,
# so both speed-ups (threads over one thread; the pair over one process) come from this run.
# Same protocol everywhere (scripts/peers/protocol.py: a warm-up window, then the median of
# the timed windows). Writes docs/results/peers/two_core_ceiling.{json,md}.
#
#   bash scripts/peers/two_core_ceiling.sh [seconds-per-measurement]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
windows=5
cargo build -q --release -p spelunk-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk"
run() { # run CORE-LIST ENV [--set k=v ...] -> the bench JSON
  local cores=$1 env=$2
  shift 2
  taskset -c "$cores" "$bin" bench --env "$env" --seconds "$secs" --windows "$windows" \
    --skip-bandits --json - "$@"
}
rows=()
for case in "Arm-Push-v0" "Arm-Reach-v0" "Arm-Push-v0 --set robot.urdf=fetch7 --set robot.drive=kinematic"; do
  # shellcheck disable=SC2086
  set -- $case
  vec=$(run 0,1 "$@" --num-envs 256 --threads 2)
  alone=$(run 0 "$@" --num-envs 1 --threads 1)
  run 0 "$@" --num-envs 1 --threads 1 >/tmp/spelunk-ceiling-a.$$ &
  first=$!
  run 1 "$@" --num-envs 1 --threads 1 >/tmp/spelunk-ceiling-b.$$
  wait "$first"
  rows+=("$(python3 - "$case" "$vec" "$alone" /tmp/spelunk-ceiling-a.$$ /tmp/spelunk-ceiling-b.$$ <<'PY'
import json, sys
case, vec, alone = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = (json.load(open(p))["envs"][0]["windows"]["single"]["values"] for p in sys.argv[4:6])
w = vec["envs"][0]["windows"]
print(json.dumps({"case": case, "vec_2t": w["vec_nt"]["values"], "vec_1t": w["vec_1t"]["values"],
                  "alone": alone["envs"][0]["windows"]["single"]["values"],
                  "pair": [x + y for x, y in zip(a, b)]}))
PY
)")
  rm -f /tmp/spelunk-ceiling-a.$$ /tmp/spelunk-ceiling-b.$$
done
python3 - "$secs" "$windows" "${rows[@]}" <<'PY' | python3 scripts/peers/protocol.py write
import json, statistics, sys
secs, windows = sys.argv[1], int(sys.argv[2])
cases = [json.loads(a) for a in sys.argv[3:]]
med = statistics.median
rows, notes = [], []
for c in cases:
    name = c["case"].replace(" --set ", ", ").replace("robot.", "")
    rows.append({"label": f"{name}: `VecEnv` of 256 envs on 2 threads vs two processes of one "
                          "env each, one per core, at the same time",
                 "unit": "env-steps/s", "spelunk": c["vec_2t"], "peer_name": "two processes",
                 "peer": c["pair"]})
    notes.append(f"{name}: 2 threads give {med(c['vec_2t']) / med(c['vec_1t']):.2f}× one "
                 f"thread's `VecEnv`; two processes give {med(c['pair']) / med(c['alone']):.2f}× "
                 "one process alone.")
print(json.dumps({
    "name": "two_core_ceiling",
    "title": "Two threads against two cores: the vector env and the machine's ceiling",
    "command": "bash scripts/peers/two_core_ceiling.sh " + secs,
    "protocol": {"warmup_windows": 1, "windows": windows,
                 "window": f"{float(secs) / windows:g} s each", "core": "0 and 1"},
    "rows": rows,
    "notes": notes,
}))
PY
