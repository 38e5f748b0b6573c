#!/usr/bin/env bash
# Build here, with `--features cuda`, everything scripts/gpu-check.sh runs on a GPU machine
# that has no Rust toolchain, into one git-ignored folder (default target/gpu-bundle; the first
# argument names another):
#   spelunk.xz               the CLI;
#   gpu-parity.xz            every policy head on the GPU against the CPU (models' example);
#   grpo-step-bench.xz       one GRPO optimiser step per head (spelunk-grpo's `grpo` bench);
#   text-grpo-throughput.xz  text GRPO with the tiny Llama fixture (spelunk-grpo's example);
#   MANIFEST                 commit, SHA-256 and size of each binary before compression.
# The binaries are stripped (the `gpu` profile) and xz-compressed: candle embeds its kernels'
# PTX, text that makes each binary tens of megabytes and compresses several-fold. The configs and
# fixtures the check reads come from the checkout it runs in. Fails if the folder exceeds
# 60 MiB.
#
# All four build in one cargo invocation (one feature resolution: candle and its kernels
# compile once), with clippy as the workspace's compiler wrapper: the cuda build is linted as
# it is built, and any warning fails it. The bundle leaves out the default `rerun` feature
# (recordings are made on the machine that trains; a GPU check needs none).
#
#   bash scripts/gpu-bundle.sh [FOLDER]
#
# nvcc and the CUDA libraries come from scripts/cuda-env.sh (NVIDIA's Python wheels; no GPU
# needed). candle's kernels are the slowest part of a cold build; a reused $CARGO_TARGET_DIR
# keeps them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/gpu-bundle}
limit_mib=60
# shellcheck source=scripts/cuda-env.sh
source scripts/cuda-env.sh

echo "== build and lint (profile gpu, --features cuda, CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
built=$(mktemp)
trap 'rm -f "$built"' EXIT
RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver) \
  cargo build --profile gpu --locked --no-default-features --features cuda --message-format=json \
  -p spelunk-cli -p spelunk-grpo -p spelunk-models \
  --bin spelunk --bench grpo --example text_grpo_throughput --example gpu_parity |
  python3 -c '
import json, sys
warnings = 0
with open(sys.argv[1], "w") as built:
    for line in sys.stdin:
        m = json.loads(line)
        if m.get("reason") == "compiler-message":
            sys.stderr.write(m["message"].get("rendered") or "")
            warnings += m["message"].get("level") in ("warning", "error")
        elif m.get("reason") == "compiler-artifact" and m.get("executable"):
            built.write(m["target"]["name"] + " " + m["executable"] + "\n")
        elif m.get("reason") == "build-finished" and not m.get("success"):
            sys.exit("gpu-bundle: the build failed")
if warnings:
    sys.exit(f"gpu-bundle: {warnings} warnings or errors in the cuda build")
' "$built"

# xz where it is installed, else Python's lzma (the same format).
compress() {
  if command -v xz >/dev/null; then
    xz -T0 -6 -c "$1"
  else
    python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.compress(open(sys.argv[1], "rb").read(), preset=6))' "$1"
  fi
}

declare -A exe
while read -r name path; do exe[$name]=$path; done < "$built"
rm -rf "$out"
mkdir -p "$out"
for pair in spelunk:spelunk gpu_parity:gpu-parity grpo:grpo-step-bench \
  text_grpo_throughput:text-grpo-throughput; do
  target=${pair%%:*} file=${pair##*:}
  if [ -z "${exe[$target]:-}" ]; then
    echo "gpu-bundle: cargo built no executable named $target" >&2
    exit 1
  fi
  echo "$(sha256sum "${exe[$target]}" | cut -d' ' -f1) $(stat -c %s "${exe[$target]}") $file" >> "$out/MANIFEST.files"
  compress "${exe[$target]}" > "$out/$file.xz"
done
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/results' || echo +changes)"
  echo "cuda 13.0, compute capability $CUDA_COMPUTE_CAP"
  cat "$out/MANIFEST.files"
} > "$out/MANIFEST"
rm "$out/MANIFEST.files"
cat "$out/MANIFEST"

size=$(du -sb "$out" | cut -f1)
echo "bundle: $out, $((size / 1048576)) MiB (limit $limit_mib MiB)"
if [ "$size" -gt $((limit_mib * 1048576)) ]; then
  echo "gpu-bundle: $out is over $limit_mib MiB" >&2
  exit 1
fi
