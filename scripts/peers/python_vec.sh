#!/usr/bin/env bash
# Spelunk from Python: MiniGrid-DoorKey-8x8-v0, 256 envs in one vector env, uniform random
# actions, stepped from Python through the package (python/) against (a) the same vector env
# stepped from Rust (`spelunk bench`), at the same thread count, and (b) the Python `minigrid`
# package's 256 envs in Gymnasium's SyncVectorEnv, and (c) EnvPool's C++ MiniGrid (its
# Gymnasium interface, synchronous: all 256 envs per step) at the same thread counts. One run,
# one protocol on every side
# (scripts/peers/protocol.py: a warm-up window, then 5 timed windows, the median window).
# Writes docs/results/peers/python_vec.{json,md} and prints the table.
#
#   bash scripts/peers/python_vec.sh [seconds-per-side]
#
# Builds and installs the package first (scripts/python-package.sh; PyPI for the first run).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
windows=5
n=256
venv="${SPELUNK_PY_VENV:-${HOME:-/tmp}/.cache/spelunk-py}"
bash scripts/python-package.sh >/dev/null
"$venv/bin/python" -c 'import minigrid' 2>/dev/null || "$venv/bin/pip" install -q "minigrid==3.2.*"
"$venv/bin/python" -c 'import envpool' 2>/dev/null || "$venv/bin/pip" install -q "envpool==1.2.*"
cargo build -q --release -p spelunk-cli
spelunk="${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rust() {  # the Rust VecEnv's windows at $1 threads; $2…: a command to run it under
  local threads="$1"; shift
  "$@" "$spelunk" bench --env MiniGrid-DoorKey-8x8-v0 --seconds "$secs" --windows "$windows" \
    --num-envs "$n" --threads "$threads" --skip-bandits --json - |
    python3 -c 'import json,sys; w=json.load(sys.stdin)["envs"][0]["windows"]; print(json.dumps(w["vec_nt"]["values"]))'
}
cat > "$tmp/side.py" <<'PY'
import json, sys
sys.path.insert(0, "scripts/peers")
import numpy as np
import gymnasium as gym
from protocol import timed_windows
secs, windows, n, side = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
actions = np.random.default_rng(1).integers(0, 7, size=(64, n))
if side == "spelunk":
    import spelunk
    envs = spelunk.make_vec("MiniGrid-DoorKey-8x8-v0", num_envs=n, threads=int(sys.argv[5]))
elif side == "envpool":
    import envpool
    envs = envpool.make_gymnasium("MiniGrid-DoorKey-8x8-v0", num_envs=n,
                                  num_threads=int(sys.argv[5]), seed=0)
else:
    import minigrid  # noqa: F401
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("MiniGrid-DoorKey-8x8-v0")] * n)
envs.reset(seed=0)
k = 0
def step():
    global k
    envs.step(actions[k & 63])
    k += 1
print(json.dumps(timed_windows(step, secs, windows, units_per_step=n)))
PY
py() {  # the Python side: spelunk THREADS | minigrid; $PIN: a command to run it under
  # Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds; they slow a
  # current numpy, so the Python side runs without them.
  $PIN env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$tmp/side.py" \
    "$secs" "$windows" "$n" "$@"
}
rust1=$(rust 1 taskset -c 0)
py1=$(PIN="taskset -c 0" py spelunk 1)
rust2=$(rust 2 env)
py2=$(PIN= py spelunk 2)
mg=$(PIN="taskset -c 0" py minigrid)
ep1=$(PIN="taskset -c 0" py envpool 1)
ep2=$(PIN= py envpool 2)
versions=$("$venv/bin/python" -c 'import json, gymnasium, numpy, minigrid, envpool; print(json.dumps({"gymnasium": gymnasium.__version__, "numpy": numpy.__version__, "minigrid": minigrid.__version__, "envpool": envpool.__version__}))')
python3 - "$rust1" "$py1" "$rust2" "$py2" "$mg" "$versions" "$ep1" "$ep2" "$secs" "$windows" "$n" <<'PY' | python3 scripts/peers/protocol.py write
import json, sys
rust1, py1, rust2, py2, mg, versions, ep1, ep2 = (json.loads(a) for a in sys.argv[1:9])
secs, windows, n = sys.argv[9], int(sys.argv[10]), int(sys.argv[11])
mgv, epv = versions["minigrid"], versions["envpool"]
print(json.dumps({
    "name": "python_vec",
    "title": "Spelunk from Python: 256 DoorKey-8x8 envs through the Gymnasium package",
    "command": "bash scripts/peers/python_vec.sh " + secs,
    "protocol": {"warmup_windows": 1, "windows": windows,
                 "window": f"{float(secs) / windows:g} s each",
                 "core": "0 for the one-thread rows; both cores for the two-thread row"},
    "versions": versions,
    "rows": [
        {"label": f"{n} envs, 2 threads: stepped from Python vs the same VecEnv from Rust "
                  "(ratio: the share of Rust's rate Python keeps; Python cycles 64 pre-drawn "
                  "action rows and builds the infos, Rust draws each action in the loop)",
         "unit": "env-steps/s",
         "spelunk": py2, "peer_name": "Spelunk's VecEnv from Rust", "peer": rust2,
         "headline": True},
        {"label": f"{n} envs, 1 thread: stepped from Python vs from Rust", "unit": "env-steps/s",
         "spelunk": py1, "peer_name": "Spelunk's VecEnv from Rust", "peer": rust1},
        {"label": f"{n} envs from Python: Spelunk's vector env on 1 thread vs minigrid's envs in "
                  "Gymnasium's SyncVectorEnv", "unit": "env-steps/s",
         "spelunk": py1, "peer_name": f"minigrid {mgv}, SyncVectorEnv", "peer": mg},
        {"label": f"{n} envs from Python, 1 thread: Spelunk's vector env vs EnvPool's MiniGrid "
                  "(C++, synchronous)", "unit": "env-steps/s",
         "spelunk": py1, "peer_name": f"EnvPool {epv}", "peer": ep1},
        {"label": f"{n} envs from Python, 2 threads: Spelunk's vector env vs EnvPool's MiniGrid",
         "unit": "env-steps/s", "spelunk": py2, "peer_name": f"EnvPool {epv}", "peer": ep2},
    ],
}))
PY
