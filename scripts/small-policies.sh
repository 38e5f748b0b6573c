#!/usr/bin/env bash
# The short training runs docs/grpo.md quotes: each trains one policy with `spelunk train`
# (defaults plus the settings below, seed 0) and evaluates it with `spelunk eval --episodes 200
# --json` on unseen seeds, into docs/results/policies/NAME.json (config, iterations, env steps,
# success, mean return, command, commit, machine). Deterministic: the same numbers on any
# machine and thread count. About 5 minutes on 2 cores.
#
#   bash scripts/small-policies.sh [NAME...]    # all of them without names
#
# Uses $bin (set by scripts/reproduce.sh) or target/release/spelunk.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${bin:-${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk}"
[ -x "$bin" ] || { echo "small-policies.sh: no $bin; run \`cargo build --release -p spelunk-cli\`" >&2; exit 2; }
out=docs/results/policies
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# name | settings passed to `spelunk train` as --set arguments (space-separated)
RUNS=$(cat <<'TABLE'
grpo-empty5x5|iterations=30
ppo-empty5x5|algorithm="ppo" iterations=30
cnn-empty5x5|policy.head="cnn" iterations=25
grpo-doorkey5x5|env="MiniGrid-DoorKey-5x5-v0" iterations=60
ppo-doorkey5x5|algorithm="ppo" env="MiniGrid-DoorKey-5x5-v0" iterations=60
grpo-doorkey5x5-40|env="MiniGrid-DoorKey-5x5-v0" iterations=40
tree-doorkey5x5-40|env="MiniGrid-DoorKey-5x5-v0" iterations=40 tree={branch_points=1}
progrpo-doorkey5x5-40|env="MiniGrid-DoorKey-5x5-v0" iterations=40 progrpo={alpha=0.1}
lpreg-doorkey5x5-40|env="MiniGrid-DoorKey-5x5-v0" iterations=40 lp_reg={coef=1.0}
TABLE
)
if [ $# -gt 0 ]; then names=("$@"); else mapfile -t names < <(cut -d'|' -f1 <<<"$RUNS"); fi
for n in "${names[@]}"; do
  line=$(grep "^$n|" <<<"$RUNS") || { echo "small-policies.sh: no run \`$n\`" >&2; exit 2; }
  args=()
  for s in ${line#*|}; do args+=(--set "$s"); done
  echo "== $n: spelunk train ${args[*]}"
  "$bin" train --out "$tmp/$n" "${args[@]}" >/dev/null
  # Into the scratch folder first: writing a tracked artifact mid-run would mark the checkout
  # as changed, and the later reports' provenance with it.
  "$bin" eval --run "$tmp/$n" --episodes 200 --json "$tmp/$n.json"
done
for n in "${names[@]}"; do cp "$tmp/$n.json" "$out/$n.json"; done
