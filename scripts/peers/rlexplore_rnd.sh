#!/usr/bin/env bash
# Spelunk's RND vs RLeXplore's RND (`rllte-core`, PyTorch on the CPU): the same network sizes
# (predictor and target obs → 256 → ReLU → 64), the same batch (256 state observations of 64
# values), every sample trained, observation normalisation off, one core each (one candle
# kernel thread, one torch thread), both measured in this one run. One iteration is compute
# (both forward passes) + update (forward, backward, Adam). Prints both rates and the ratio.
#
#   bash scripts/peers/rlexplore_rnd.sh [seconds-per-side]
#
# Needs python3 with venv and access to PyPI for the first run: it makes .venv-rlexplore/ at
# the repo root (git ignores it). rllte-core pulls PyTorch, a download of several GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
venv="${RLEXPLORE_VENV:-.venv-rlexplore}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import rllte' 2>/dev/null; then
  "$venv/bin/pip" install -q rllte-core
fi
cargo build -q --release -p spelunk-intrinsic --example rnd_throughput
ours=$(RAYON_NUM_THREADS=1 taskset -c 0 ./target/release/examples/rnd_throughput \
  --module rnd --obs 64 --hidden 256 --embed 64 --batch 256 --seconds "$secs" | awk '{print $2}')
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 taskset -c 0 \
  "$venv/bin/python" - "$secs" <<'PY' 2>/dev/null
import sys, time
import numpy as np
import torch as th
import gymnasium as gym
from gymnasium.vector import SyncVectorEnv
from rllte.xplore.reward import RND

th.set_num_threads(1)
batch, obs_dim = 256, 64

class Flat(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    action_space = gym.spaces.Discrete(4)
    def reset(self, seed=None, options=None):
        return np.zeros(obs_dim, np.float32), {}
    def step(self, a):
        return np.zeros(obs_dim, np.float32), 0.0, False, False, {}

envs = SyncVectorEnv([Flat for _ in range(batch)])
rnd = RND(envs, device="cpu", latent_dim=64, batch_size=batch, obs_norm_type="none",
          update_proportion=1.0)
g = th.Generator().manual_seed(0)
obs = th.randn((1, batch, obs_dim), generator=g)
samples = {
    "observations": obs,
    "actions": th.zeros((1, batch), dtype=th.long),
    "rewards": th.zeros((1, batch)),
    "terminateds": th.zeros((1, batch)),
    "truncateds": th.zeros((1, batch)),
    "next_observations": obs,
}
for _ in range(10):
    rnd.compute(samples)
budget = float(sys.argv[1])
n = 0
start = time.perf_counter()
while time.perf_counter() - start < budget:
    rnd.compute(samples)  # compute, then update (sync=True)
    n += batch
print(n / (time.perf_counter() - start))
PY
)
torch_version=$("$venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null)
"$venv/bin/python" - "$ours" "$theirs" "$torch_version" <<'PY'
import sys
ours, theirs, tv = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print("RND compute + update, batch 256, obs 64, nets 64-256-64, one core")
print(f"  spelunk                 {ours:>12,.0f} samples/s")
print(f"  rllte-core (torch {tv}) {theirs:>12,.0f} samples/s")
print(f"  ratio                   {ours / theirs:>12.2f}x")
PY
