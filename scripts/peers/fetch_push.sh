#!/usr/bin/env bash
# Spelunk's Arm-Push-v0 vs Gymnasium-Robotics' FetchPush-v4 on MuJoCo: the same task
# semantics (4-d action, 25-d observation, 20 physics steps of 2 ms per control step),
# uniform random actions, one core each (both pinned to core 0), measured in this one run.
# Also times raw MuJoCo stepping of the same model without the Python env around it
# (mj_step × 20 per control step), to show where the Python package spends its time.
#
#   bash scripts/peers/fetch_push.sh [seconds-per-side]
#
# Needs python3 with venv and access to PyPI for the first run: it makes .venv-fetch/ at the
# repo root (git ignores it). mujoco 3.4+ breaks Gymnasium-Robotics 1.4's Fetch setup.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
venv="${FETCH_VENV:-.venv-fetch}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q gymnasium-robotics "mujoco<3.4"
fi
cargo build -q --release -p spelunk-cli
ours=$(taskset -c 0 ./target/release/spelunk bench --env Arm-Push-v0 --seconds "$secs" \
  --skip-bandits --json - | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["envs"][0]["single_steps_per_sec"])')
read -r theirs raw < <(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 taskset -c 0 \
  "$venv/bin/python" - "$secs" 2>/dev/null <<'PY'
import sys, time
import numpy as np
import gymnasium as gym
import gymnasium_robotics
import mujoco

gym.register_envs(gymnasium_robotics)
budget = float(sys.argv[1])
env = gym.make("FetchPush-v4")
env.reset(seed=0)
rng = np.random.default_rng(1)
actions = rng.uniform(-1, 1, size=(4096, 4)).astype(np.float32)
n = 0
start = time.perf_counter()
while time.perf_counter() - start < budget:
    _, _, term, trunc, _ = env.step(actions[n % 4096])
    n += 1
    if term or trunc:
        env.reset()
env_rate = n / (time.perf_counter() - start)
u = env.unwrapped
model, data = u.model, u.data
n = 0
start = time.perf_counter()
while time.perf_counter() - start < budget:
    mujoco.mj_step(model, data, nstep=20)
    n += 1
print(env_rate, n / (time.perf_counter() - start))
PY
)
"$venv/bin/python" - "$ours" "$theirs" "$raw" <<'PY'
import sys
ours, theirs, raw = map(float, sys.argv[1:4])
print("Push, one core, random actions, 20 x 2 ms physics steps per control step")
print(f"  spelunk Arm-Push-v0 (rapier3d)       {ours:>10,.0f} steps/s")
print(f"  Gymnasium-Robotics FetchPush-v4      {theirs:>10,.0f} steps/s")
print(f"  raw MuJoCo, same model, no env       {raw:>10,.0f} control steps/s")
print(f"  ratio to FetchPush-v4                {ours / theirs:>10.2f}x")
print(f"  ratio to raw MuJoCo stepping         {ours / raw:>10.2f}x")
PY
