#!/usr/bin/env bash
# Spelunk's Arm-Push-v0 vs Gymnasium-Robotics' FetchPush-v4 on MuJoCo: the same task
# semantics (4-d action, 25-d observation, 20 physics steps of 2 ms per control step),
# uniform random actions, one env, one core each (both pinned to core 0), measured in this one
# run with one protocol (scripts/peers/protocol.py: a warm-up window, then 5 timed windows,
# the median window). Writes docs/results/peers/fetch_push.{json,md} and prints the table.
#
# The headline row is a whole arm against FetchPush-v4, which simulates Fetch's whole robot:
# Spelunk's 7-joint arm (`robot.urdf = "fetch7"`) driven kinematically (`robot.drive =
# "kinematic"`: the links follow the position-controlled joint trajectory exactly, push objects
# and stop at the table; the fingers stay dynamic). The second row is the same arm as a dynamic
# multibody (motors capped at the URDF efforts); the third, Arm-Push-v0's default
# free-floating gripper; the last, the kinematic arm against raw MuJoCo stepping of Fetch's
# model (mj_step × 20 per control step, no Python env around it).
#
#   bash scripts/peers/fetch_push.sh [seconds-per-side]
#
# Needs python3 with venv and access to PyPI for the first run: it makes .venv-fetch/ at the
# repo root (git ignores it). mujoco 3.4+ breaks Gymnasium-Robotics 1.4's Fetch setup.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
windows=5
venv="${FETCH_VENV:-.venv-fetch}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import gymnasium_robotics' 2>/dev/null ||
  "$venv/bin/pip" install -q gymnasium-robotics "mujoco<3.4"
cargo build -q --release -p spelunk-cli
bench() {
  taskset -c 0 "${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk" bench --env Arm-Push-v0 --seconds "$secs" \
    --windows "$windows" --num-envs 1 --threads 1 --skip-bandits --json - "$@" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["envs"][0]["windows"]["single"]["values"]))'
}
kinematic=$(bench --set robot.urdf=fetch7 --set robot.drive=kinematic)
fetch7=$(bench --set robot.urdf=fetch7)
gripper=$(bench)
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 taskset -c 0 \
  "$venv/bin/python" - "$secs" "$windows" 2>/dev/null <<'PY'
import json, sys
sys.path.insert(0, "scripts/peers")
import numpy as np
import gymnasium as gym
import gymnasium_robotics
import mujoco
from protocol import timed_windows

gym.register_envs(gymnasium_robotics)
secs, windows = float(sys.argv[1]), int(sys.argv[2])
env = gym.make("FetchPush-v4")
env.reset(seed=0)
actions = np.random.default_rng(1).uniform(-1, 1, size=(4096, 4)).astype(np.float32)
k = 0
def step():
    global k
    _, _, term, trunc, _ = env.step(actions[k % 4096])
    k += 1
    if term or trunc:
        env.reset()
env_rates = timed_windows(step, secs, windows)
u = env.unwrapped
model, data = u.model, u.data
raw_rates = timed_windows(lambda: mujoco.mj_step(model, data, nstep=20), secs, windows)
print(json.dumps({"env": env_rates, "raw": raw_rates}))
PY
)
versions=$("$venv/bin/python" -c 'import gymnasium_robotics, mujoco; print(gymnasium_robotics.__version__, mujoco.__version__)')
python3 - "$kinematic" "$fetch7" "$gripper" "$theirs" "$versions" "$secs" "$windows" <<'PY' | python3 scripts/peers/protocol.py write
import json, sys
kinematic, fetch7, gripper, theirs = (json.loads(a) for a in sys.argv[1:5])
gr, mj = sys.argv[5].split()
secs, windows = sys.argv[6], int(sys.argv[7])
peer = f"FetchPush-v4 (Gymnasium-Robotics {gr}, MuJoCo {mj})"
print(json.dumps({
    "name": "fetch_push",
    "title": "Push: Spelunk's Arm-Push-v0 vs Gymnasium-Robotics' FetchPush-v4 on MuJoCo",
    "command": "bash scripts/peers/fetch_push.sh " + secs,
    "protocol": {"warmup_windows": 1, "windows": windows,
                 "window": f"{float(secs) / windows:g} s each", "core": 0},
    "versions": {"gymnasium-robotics": gr, "mujoco": mj},
    "rows": [
        {"label": "a whole arm: Arm-Push-v0 with the 7-joint arm driven kinematically "
                  "(`robot.urdf = \"fetch7\"`, `robot.drive = \"kinematic\"`) vs FetchPush-v4 "
                  "(Fetch's whole robot)", "unit": "steps/s",
         "spelunk": kinematic, "peer_name": peer, "peer": theirs["env"], "headline": True},
        {"label": "the 7-joint arm as a dynamic multibody (motors capped at its efforts; the "
                  "default `robot.drive`) vs FetchPush-v4", "unit": "steps/s",
         "spelunk": fetch7, "peer_name": peer, "peer": theirs["env"]},
        {"label": "Arm-Push-v0's free-floating gripper (a lighter simulation) vs FetchPush-v4",
         "unit": "steps/s", "spelunk": gripper, "peer_name": peer, "peer": theirs["env"]},
        {"label": "the kinematic 7-joint arm vs raw `mj_step` × 20 on Fetch's model (no Python "
                  "env)", "unit": "control steps/s", "spelunk": kinematic, "peer_name": f"MuJoCo {mj}",
         "peer": theirs["raw"]},
    ],
    "notes": ["Random actions, 20 physics steps of 2 ms per control step on both sides."],
}))
PY
