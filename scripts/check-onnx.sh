#!/usr/bin/env bash
# Exported policies against onnxruntime: two tiny training runs (the MLP head on the so100 Reach
# task with observation normalisation, the CNN head on MiniGrid), each exported with
# `spelunk export`, then held to our logits by onnxruntime (scripts/onnx/check_export.py, in a
# venv under ~/.cache); the Reach policy then drives the simulated arm from its ONNX file.
# Usage: scripts/check-onnx.sh [path/to/spelunk]
set -euo pipefail
cd "$(dirname "$0")/.."
SPELUNK="${1:-target/debug/spelunk}"
VENV="${HOME:-/tmp}/.cache/spelunk-onnx-check"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime==1.32.0 onnx==1.23.2 numpy
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/reach.toml" <<'TOML'
env = "Arm-Reach-v0"
iterations = 2
groups_per_step = 2
group_size = 2
eval_episodes = 1
obs_norm = true
[env_config]
max_steps = 10
robot = { urdf = "so100" }
TOML
cat > "$work/grid.toml" <<'TOML'
env = "MiniGrid-Empty-5x5-v0"
iterations = 1
groups_per_step = 2
group_size = 2
eval_episodes = 1
[policy]
head = "cnn"
hidden = [32, 16]
TOML
for run in reach grid; do
  "$SPELUNK" train --config "$work/$run.toml" --out "$work/$run" >/dev/null
  "$SPELUNK" export --run "$work/$run" --onnx "$work/$run.onnx"
  "$VENV/bin/python" scripts/onnx/check_export.py "$work/$run.onnx"
done
"$SPELUNK" bridge run --port sim --policy "$work/reach.onnx" --seconds 1 | tail -1
# The ONNX tests again on ONNX Runtime itself (the `onnxruntime` feature), its library from the
# venv's Python package.
lib="$(ls "$VENV"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)"
ORT_DYLIB_PATH="$lib" cargo test -q -p spelunk-tests --test e2e --locked --features spelunk-models/onnxruntime onnx
