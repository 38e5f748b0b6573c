#!/usr/bin/env bash
# Rollout env-steps/s and learner updates/s with 1, 2 and 4 Ray workers on a local cluster:
# python/examples/ray_ppo.py (numpy PPO) into docs/results/ray_scaling.json, and
# python/examples/ray_grpo.py (the Rust GRPO core: Trainer.collect on the workers,
# Trainer.learn on the driver) into docs/results/ray_grpo_scaling.json. Builds and installs
# the Python package and Ray (PyPI) into its venv first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SPELUNK_PY_VENV:-${HOME:-/tmp}/.cache/spelunk-py}"
bash scripts/python-package.sh >/dev/null
"$venv/bin/python" -c 'import ray' 2>/dev/null || "$venv/bin/pip" install -q "ray==2.60.*"
# Both into a scratch folder first: a report written into the checkout would make the next
# one's provenance `-dirty`.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" python/examples/ray_ppo.py --scaling "$tmp/ray_scaling.json"
"$venv/bin/python" python/examples/ray_grpo.py --iterations 6 --scaling "$tmp/ray_grpo_scaling.json"
for f in ray_scaling ray_grpo_scaling; do
  sed "s|$tmp/|docs/results/|" "$tmp/$f.json" > "docs/results/$f.json"
done
