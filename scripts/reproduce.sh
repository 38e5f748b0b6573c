#!/usr/bin/env bash
# Regenerate the published results: every artifact under docs/results/ (and docs/results/peers/)
# that README.md or docs/ quote comes from one entry here.
#
#   bash scripts/reproduce.sh --list          # name, expected duration on the 2-core CI machine, command
#   bash scripts/reproduce.sh NAME [NAME...]  # regenerate those artifacts
#   bash scripts/reproduce.sh all             # every entry but those that need a GPU (hours)
#
# Deterministic entries reproduce their numbers exactly on any machine (same seeds, same
# numbers at any thread count); speed entries (bench, peers-*, bridge-loop, recording,
# train-threads) measure this machine, so their figures move with it. After regenerating, run
# `python3 scripts/results.py render` to rewrite README.md's results paragraphs from the data,
# and `python3 scripts/results.py check` (CI runs it) to see that every number there is in an
# artifact.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | expected duration | kind | command (run by bash from the repository root; `spelunk` is the
# release binary built first)
ENTRIES=$(cat <<'TABLE'
bench|1 min|speed|spelunk bench --json docs/results/bench_ci.json --plots docs/results
noisy-tv|2 min|deterministic|spelunk explore --experiment noisy-tv --seeds 3
coverage|15 min|deterministic|spelunk explore --experiment coverage --seeds 3
go-explore|20 min|deterministic|spelunk explore --experiment go-explore --seeds 5 --steps 6000000
go-explore-pixels|25 min|deterministic|spelunk explore --experiment go-explore-pixels --seeds 5 --threads 2
robustify|40 min|deterministic|spelunk explore --experiment robustify --seeds 5 --threads 2
stax|4 min|deterministic|spelunk explore --experiment stax --seeds 5
vla|30 min|deterministic|RAYON_NUM_THREADS=1 spelunk train --experiment vla --seeds 1 --targets 1 --out docs/results & RAYON_NUM_THREADS=1 spelunk train --experiment vla --seeds 1 --targets 3 --out docs/results; wait
vla-bc|100 min|deterministic|d=$(mktemp -d) && spelunk train --experiment vla-bc --seeds 1 --data "$d/demos" --out docs/results
vla-bc-push|40 min|deterministic|d=$(mktemp -d) && spelunk train --experiment vla-bc --config examples/vla_bc_push.toml --seeds 1 --demo-noise 0.1 --bc-epochs 10 --data "$d/demos" --out docs/results
vla-bc-fetch7|60 min|deterministic|d=$(mktemp -d) && spelunk train --experiment vla-bc --config examples/vla_bc_fetch7.toml --seeds 1 --bc-epochs 10 --data "$d/demos" --out docs/results
vla-bc-fetch7-push|60 min|deterministic|d=$(mktemp -d) && spelunk train --experiment vla-bc --config examples/vla_bc_fetch7_push.toml --seeds 1 --demo-noise 0.1 --bc-epochs 10 --data "$d/demos" --out docs/results
grpo-sparse|30 min|deterministic|spelunk train --experiment sparse --seeds 2 --set iterations=60 --out docs/results
small-policies|5 min|deterministic|bash scripts/small-policies.sh
ppo-doorkey8x8|3 min|deterministic|d=$(mktemp -d) && spelunk train --set algorithm=ppo --set env=MiniGrid-DoorKey-8x8-v0 --set iterations=60 --out "$d/run" && spelunk eval --run "$d/run" --episodes 200 --json docs/results/ppo_doorkey8x8.json
text-bandit|6 min|deterministic|cargo run -q --release -p spelunk-grpo --example text_bandit -- 100 --json docs/results/text_bandit.json
meta-bandit|6 min|deterministic|cargo run -q --release -p spelunk-grpo --example meta_bandit -- 300 --json docs/results/meta_bandit.json
rdd-counts|1 min|deterministic|cargo run -q --release -p spelunk-intrinsic --example rdd_counts -- --json docs/results/rdd_counts.json
bridge-loop|1 min|speed|bash scripts/bridge-bench.sh
scaling|8 min|speed|bash scripts/scaling-ceiling.sh
recording|5 min|speed|CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 SPELUNK_BENCH_JSON=docs/results/recording.json cargo bench -p spelunk-viz --bench recording
train-threads|5 min|speed|SPELUNK_BENCH_JSON=docs/results/train_threads.json cargo bench -p spelunk-grpo --bench train_threads
conv|3 min|speed|SPELUNK_BENCH_JSON=docs/results/conv.json cargo bench -p spelunk-models --bench conv
robustness|10 min|deterministic|bash scripts/robustness.sh
peers-minigrid|2 min|speed|bash scripts/peers/minigrid_doorkey.sh
peers-python|2 min|speed|bash scripts/peers/python_vec.sh
peers-python-ppo|4 min|speed|bash scripts/peers/python_ppo.sh 1 MiniGrid-DoorKey-5x5-v0
peers-python-ppo-8x8|15 min|speed|bash scripts/peers/python_ppo.sh 1 MiniGrid-DoorKey-8x8-v0
ray-scaling|4 min|speed|bash scripts/ray-scaling.sh
peers-fetch|3 min|speed|bash scripts/peers/fetch_push.sh
scripted|2 min|deterministic|bash scripts/scripted.sh
peers-ceiling|4 min|speed|bash scripts/peers/two_core_ceiling.sh
peers-rlexplore|2 min|speed|bash scripts/peers/rlexplore_rnd.sh
peers-trl|3 min|speed|bash scripts/peers/trl_grpo.sh
gpu-check|10 min|gpu|bash scripts/gpu-bundle.sh && echo "copy target/gpu-bundle to a GPU machine and run: bash scripts/gpu-check.sh (docs/gpu.md)"
TABLE
)

list() {
  printf '%-18s %-8s %-14s %s\n' name duration kind command
  while IFS='|' read -r name dur kind cmd; do
    printf '%-18s %-8s %-14s %s\n' "$name" "$dur" "$kind" "$cmd"
  done <<<"$ENTRIES"
}

case "${1:-}" in
  ""|-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --list) list; exit 0 ;;
esac

names=("$@")
if [ "${names[*]}" = all ]; then
  mapfile -t names < <(awk -F'|' '$3 != "gpu" {print $1}' <<<"$ENTRIES")
fi
for n in "${names[@]}"; do
  grep -q "^$n|" <<<"$ENTRIES" || { echo "reproduce.sh: no entry \`$n\`; --list shows them" >&2; exit 2; }
done

cargo build -q --release -p spelunk-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk"
spelunk() { "$bin" "$@"; }
export -f spelunk
export bin
for n in "${names[@]}"; do
  IFS='|' read -r _ dur kind cmd < <(grep "^$n|" <<<"$ENTRIES")
  printf '\n== %s (%s, about %s) ==\n%s\n' "$n" "$kind" "$dur" "$cmd"
  start=$(date +%s)
  bash -c "set -euo pipefail; $cmd"
  echo "-- $n took $(( $(date +%s) - start )) s"
done
