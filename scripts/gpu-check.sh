#!/usr/bin/env bash
# The CUDA build's check, for a machine with an NVIDIA GPU and the CUDA toolkit (nvcc): build
# with `--features cuda`, run the GPU tests (every policy head's logits and gradients on the
# GPU against the CPU), the GRPO step benchmarks on both devices, and three training
# iterations of the VLA run on both devices; print a short table (also written to
# $OUT/gpu_check.md, or target/gpu-check/ without $OUT). Record the card and the figures in
# docs/results/gpu_check.md.
#
#   bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/gpu-check}
mkdir -p "$out"
card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi")
echo "card: $card"
if ! command -v nvcc >/dev/null; then
  echo "nvcc not found: the cuda feature compiles candle's kernels with the CUDA toolkit" >&2
  exit 1
fi
echo "nvcc: $(nvcc --version | tail -1)"

echo "== build"
cargo build --release -p spelunk-cli --features cuda 2>&1 | tail -2

echo "== GPU tests"
cargo test --release -p spelunk-models --features cuda gpu_tests 2>&1 | tee "$out/tests.log" | grep -E "^test |test result"

echo "== GRPO step benchmarks"
for dev in cpu cuda; do
  SPELUNK_DEVICE=$dev cargo bench -p spelunk-grpo --features cuda --bench grpo -- --noplot \
    2>&1 | tee "$out/bench_$dev.log" | grep -E "^grpo_step|thrpt" || true
done

echo "== VLA training, 3 iterations"
for dev in cpu cuda; do
  start=$(date +%s.%N)
  ./target/release/spelunk train --config examples/vla_reach.toml --set iterations=3 \
    --set "device=\"$dev\"" --out "$out/vla_$dev" | tail -2
  end=$(date +%s.%N)
  echo "$dev $(echo "$end - $start" | bc)" >> "$out/vla_seconds.txt"
done

python3 - "$out" "$card" <<'PY'
import re, sys, pathlib
out, card = pathlib.Path(sys.argv[1]), sys.argv[2]
def rates(path):
    text = path.read_text() if path.exists() else ""
    got = {}
    for m in re.finditer(r"grpo_step/step/(\S+)\s+time:\s+\[[^\]]*\]\s+thrpt:\s+\[\S+ \S+ (\S+) (\S+)", text):
        got[m.group(1)] = f"{m.group(2)} {m.group(3)}"
    return got
cpu, gpu = rates(out / "bench_cpu.log"), rates(out / "bench_cuda.log")
secs = dict(l.split() for l in (out / "vla_seconds.txt").read_text().splitlines()[-2:]) if (out / "vla_seconds.txt").exists() else {}
tests = "pass" if "test result: ok" in (out / "tests.log").read_text() else "FAIL"
lines = [f"# GPU check\n", f"card: {card}\n", f"GPU tests: {tests}\n",
         "| GRPO step | CPU tokens/s | GPU tokens/s |", "|---|---|---|"]
for k in cpu.keys() | gpu.keys():
    lines.append(f"| {k} | {cpu.get(k, '-')} | {gpu.get(k, '-')} |")
lines.append(f"\nVLA run, 3 iterations (s): CPU {secs.get('cpu', '-')}, GPU {secs.get('cuda', '-')}")
text = "\n".join(lines) + "\n"
(out / "gpu_check.md").write_text(text)
print(text)
PY
