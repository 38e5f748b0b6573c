#!/usr/bin/env bash
# Spelunk's RND vs RLeXplore's RND (`rllte-core`, PyTorch on the CPU) with equal work per
# sample: the same network sizes (predictor and target obs → 256 → ReLU → 64), the same batch
# (256 state observations of 64 values), every sample trained, observation and reward
# normalisation off on both sides, one core each (one candle kernel thread, one torch thread,
# both pinned to core 0), measured in this one run with one protocol (scripts/peers/protocol.py:
# a warm-up window, then 5 timed windows, the median window). One iteration is compute (both
# forward passes) + update (both forward passes again, backward, Adam): RLeXplore's update runs
# the networks again, so the headline row runs Spelunk with `--no-reuse`. The second row is
# Spelunk's default, whose update reuses compute's forward passes — a gain of its own, labelled
# as such. Writes docs/results/peers/rlexplore_rnd.{json,md} and prints the table.
#
#   bash scripts/peers/rlexplore_rnd.sh [seconds-per-side]
#
# Needs python3 with venv and access to PyPI for the first run: it makes .venv-rlexplore/ at
# the repo root (git ignores it). rllte-core pulls PyTorch, a download of several GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
windows=5
venv="${RLEXPLORE_VENV:-.venv-rlexplore}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import rllte' 2>/dev/null; then
  "$venv/bin/pip" install -q rllte-core
fi
cargo build -q --release -p spelunk-intrinsic --example rnd_throughput
ours() {
  RAYON_NUM_THREADS=1 taskset -c 0 "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/rnd_throughput" --module rnd \
    --obs 64 --hidden 256 --embed 64 --batch 256 --seconds "$secs" --windows "$windows" "$@" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["samples_per_sec"]))'
}
equal=$(ours --no-reuse)
reuse=$(ours)
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 taskset -c 0 \
  "$venv/bin/python" - "$secs" "$windows" <<'PY' 2>/dev/null
import json, sys
sys.path.insert(0, "scripts/peers")
import numpy as np
import torch as th
import gymnasium as gym
from gymnasium.vector import SyncVectorEnv
from rllte.xplore.reward import RND
from protocol import timed_windows

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
          rwd_norm_type="none", update_proportion=1.0)
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
# compute, then update (sync=True): one iteration, `batch` samples.
print(json.dumps(timed_windows(lambda: rnd.compute(samples), float(sys.argv[1]),
                               int(sys.argv[2]), units_per_step=batch)))
PY
)
versions=$("$venv/bin/python" -c 'import importlib.metadata as m, torch; print(m.version("rllte-core"), torch.__version__)' 2>/dev/null)
python3 - "$equal" "$reuse" "$theirs" "$versions" "$secs" "$windows" <<'PY' | python3 scripts/peers/protocol.py write
import json, sys
equal, reuse, theirs = (json.loads(a) for a in sys.argv[1:4])
rllte, torch = sys.argv[4].split()
secs, windows = sys.argv[5], int(sys.argv[6])
peer = f"RLeXplore RND (rllte-core {rllte}, torch {torch})"
print(json.dumps({
    "name": "rlexplore_rnd",
    "title": "RND compute + update: Spelunk vs RLeXplore",
    "command": "bash scripts/peers/rlexplore_rnd.sh " + secs,
    "protocol": {"warmup_windows": 1, "windows": windows,
                 "window": f"{float(secs) / windows:g} s each", "core": 0},
    "versions": {"rllte-core": rllte, "torch": torch},
    "rows": [
        {"label": "equal work: batch 256, nets 64→256→64, the update runs both networks again",
         "unit": "samples/s", "spelunk": equal, "peer_name": peer, "peer": theirs,
         "headline": True},
        {"label": "Spelunk's default, the update reusing compute's forward passes (not equal "
                  "work: the reuse is a gain of its own)",
         "unit": "samples/s", "spelunk": reuse, "peer_name": peer, "peer": theirs},
    ],
    "notes": ["Observation and reward normalisation are off on both sides; every sample "
              "trains (update proportion 1)."],
}))
PY
