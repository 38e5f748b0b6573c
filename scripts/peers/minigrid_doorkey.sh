#!/usr/bin/env bash
# Spelunk vs the Python `minigrid` package on MiniGrid-DoorKey-8x8-v0: the same env, the same
# observation (the 7x7x3 egocentric image and direction), uniform random actions, one env, one
# core (both pinned to core 0), measured in this one run with one protocol
# (scripts/peers/protocol.py: a warm-up window, then 5 timed windows, the median window).
# Writes docs/results/peers/minigrid_doorkey.{json,md} and prints the table.
#
#   bash scripts/peers/minigrid_doorkey.sh [seconds-per-side]
#
# Needs python3 with venv and network access to PyPI for the first run (it makes
# .venv-peers/ at the repo root, which git ignores).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
windows=5
venv=.venv-peers
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import minigrid' 2>/dev/null || "$venv/bin/pip" install -q minigrid
cargo build -q --release -p spelunk-cli
ours=$(taskset -c 0 "${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk" bench --env MiniGrid-DoorKey-8x8-v0 --seconds "$secs" \
  --windows "$windows" --num-envs 1 --threads 1 --skip-bandits --json - |
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["envs"][0]["windows"]["single"]["values"]))')
# Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds; they slow a
# current numpy, so the Python side runs without them.
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 0 "$venv/bin/python" - "$secs" "$windows" <<'PY'
import json, sys
sys.path.insert(0, "scripts/peers")
import numpy as np
import gymnasium as gym
import minigrid  # noqa: F401
from protocol import timed_windows
env = gym.make("MiniGrid-DoorKey-8x8-v0")
env.reset(seed=0)
actions = np.random.default_rng(1).integers(0, 7, size=1 << 16)
k = 0
def step():
    global k
    _, _, term, trunc, _ = env.step(int(actions[k & 0xFFFF]))
    k += 1
    if term or trunc:
        env.reset()
print(json.dumps(timed_windows(step, float(sys.argv[1]), int(sys.argv[2]))))
PY
)
mg_version=$("$venv/bin/python" -c 'import minigrid; print(minigrid.__version__)')
python3 - "$ours" "$theirs" "$mg_version" "$secs" "$windows" <<'PY' | python3 scripts/peers/protocol.py write
import json, sys
ours, theirs, version, secs, windows = sys.argv[1:6]
print(json.dumps({
    "name": "minigrid_doorkey",
    "title": "MiniGrid-DoorKey-8x8-v0: Spelunk vs the Python minigrid package",
    "command": "bash scripts/peers/minigrid_doorkey.sh " + secs,
    "protocol": {"warmup_windows": 1, "windows": int(windows),
                 "window": f"{float(secs) / int(windows):g} s each", "core": 0},
    "versions": {"minigrid": version},
    "rows": [{"label": "one env, random actions, 7×7×3 image + direction", "unit": "steps/s",
              "spelunk": json.loads(ours), "peer_name": f"minigrid {version}",
              "peer": json.loads(theirs), "headline": True}],
}))
PY
