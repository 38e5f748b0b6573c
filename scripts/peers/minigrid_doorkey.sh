#!/usr/bin/env bash
# Spelunk vs the Python `minigrid` package on MiniGrid-DoorKey-8x8-v0: the same env, the same
# observation (the 7x7x3 egocentric image and direction), uniform random actions, one core,
# both measured in this one run. Prints both rates and their ratio.
#
#   bash scripts/peers/minigrid_doorkey.sh [seconds-per-side]
#
# Needs python3 with venv and network access to PyPI for the first run (it makes
# .venv-peers/ at the repo root, which git ignores).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
venv=.venv-peers
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q minigrid
fi
cargo build -q --release -p spelunk-cli
ours=$(taskset -c 0 ./target/release/spelunk bench --env MiniGrid-DoorKey-8x8-v0 --seconds "$secs" \
  --skip-bandits --json - | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["envs"][0]["single_steps_per_sec"])')
# Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds; they slow a
# current numpy, so the Python side runs without them.
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE taskset -c 0 "$venv/bin/python" - "$secs" <<'PY'
import sys, time
import gymnasium as gym
import minigrid  # noqa: F401
env = gym.make("MiniGrid-DoorKey-8x8-v0")
env.reset(seed=0)
rng = __import__("numpy").random.default_rng(1)
actions = rng.integers(0, 7, size=1 << 16)
budget = float(sys.argv[1])
steps = 0
start = time.perf_counter()
while time.perf_counter() - start < budget:
    for _ in range(1000):
        obs, r, term, trunc, _ = env.step(int(actions[steps & 0xFFFF]))
        steps += 1
        if term or trunc:
            env.reset()
print(steps / (time.perf_counter() - start))
PY
)
mg_version=$("$venv/bin/python" -c 'import minigrid; print(minigrid.__version__)')
"$venv/bin/python" - "$ours" "$theirs" "$mg_version" <<'PY'
import sys
ours, theirs, version = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"MiniGrid-DoorKey-8x8-v0, one core, random actions, 7x7x3 image + direction")
print(f"  spelunk          {ours:>14,.0f} steps/s")
print(f"  minigrid {version:<7} {theirs:>14,.0f} steps/s")
print(f"  ratio            {ours / theirs:>14,.0f}x")
PY
