#!/usr/bin/env bash
# Run the GPU bundle (scripts/gpu-bundle.sh, built elsewhere) on a machine with an NVIDIA GPU:
# no cargo, no Rust toolchain, no network. From the root of a checkout (its configs and
# fixtures), with the bundle in $SPELUNK_GPU_BUNDLE (default target/gpu-bundle):
#   1. GPU-vs-CPU parity of every policy head: logits and every parameter's gradient;
#   2. one GRPO optimiser step per head, tokens/s on the CPU and on the GPU;
#   3. three VLA training iterations (examples/vla_reach.toml) on each device;
#   4. three text-GRPO iterations (the tiny Llama fixture) on each device.
# It writes $OUT/gpu_check.md (default target/gpu-check/) with the card, the driver and the
# figures, and stops at the first failure. Without a GPU (no nvidia-smi, or it sees none) it
# runs the CPU half only and says so: CI checks the bundle that way.
#
#   bash scripts/gpu-check.sh
#
# The CUDA libraries the binaries link (libcudart.so.13, libcublas.so.13, libcublasLt.so.13,
# libcurand.so.10, libnvrtc.so.13) are looked for in $SPELUNK_CUDA_LIBS, in every Python
# site-packages' nvidia/*/lib and torch/lib (PyTorch's CUDA 13 wheels), /usr/local/cuda*/lib64
# and, on a build machine, scripts/cuda-env.sh's root (whose libcuda stub answers "no
# device"). The driver's libcuda.so.1 comes from the system.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${SPELUNK_GPU_BUNDLE:-target/gpu-bundle}
out=${OUT:-target/gpu-check}
mkdir -p "$out"
# What an earlier check left here (only this script's own files).
rm -rf "$out/bin" "$out"/vla_cpu "$out"/vla_cuda "$out"/vla_seconds.txt "$out"/parity.log \
  "$out"/step_*.log "$out"/text_*.log "$out/gpu_check.md"
start_all=$(date +%s)

# Unpack the bundle into $OUT/bin, checking each binary against the MANIFEST.
bin=$out/bin
mkdir -p "$bin"
for f in spelunk gpu-parity grpo-step-bench text-grpo-throughput; do
  if [ ! -e "$bundle/$f.xz" ] || [ ! -e "$bundle/MANIFEST" ]; then
    echo "gpu-check: $bundle/$f.xz or its MANIFEST is missing; make the bundle with scripts/gpu-bundle.sh" >&2
    exit 1
  fi
  python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' \
    "$bundle/$f.xz" "$bin/$f"
  chmod +x "$bin/$f"
  want=$(awk -v f="$f" '$3 == f {print $1}' "$bundle/MANIFEST")
  if [ "$(sha256sum "$bin/$f" | cut -d' ' -f1)" != "$want" ]; then
    echo "gpu-check: $f does not match the bundle's MANIFEST" >&2
    exit 1
  fi
done
echo "bundle: $(head -1 "$bundle/MANIFEST")"

# The GPU, if there is one.
gpu=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
fi
if [ -n "$gpu" ]; then
  echo "card: $gpu"
else
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi missing or sees none): the CPU half only"
fi

# The CUDA libraries.
need=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13)
dirs=()
[ -n "${SPELUNK_CUDA_LIBS:-}" ] && dirs+=("$SPELUNK_CUDA_LIBS")
while IFS= read -r d; do dirs+=("$d"); done < <(
  python3 - <<'PY' 2>/dev/null || true
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("site-packages")])
for r in sorted(roots):
    for pattern in ("nvidia/*/lib", "nvidia/cu*/lib", "torch/lib"):
        for d in sorted(glob.glob(os.path.join(r, pattern))):
            print(d)
PY
)
for d in /usr/local/cuda*/lib64 /usr/local/cuda*/targets/x86_64-linux/lib; do [ -d "$d" ] && dirs+=("$d"); done
cuda_root=${SPELUNK_CUDA_ROOT:-${SPELUNK_CUDA_HOME:-$HOME/.cache/spelunk-cuda}/root}
[ -d "$cuda_root/lib" ] && dirs+=("$cuda_root/lib")
path=""
for lib in "${need[@]}"; do
  found=""
  for d in "${dirs[@]}"; do
    if [ -e "$d/$lib" ]; then found=$d; break; fi
  done
  if [ -z "$found" ]; then
    echo "gpu-check: $lib not found (looked in: ${dirs[*]:-nowhere}); set SPELUNK_CUDA_LIBS to its folder" >&2
    exit 1
  fi
  case ":$path:" in *":$found:"*) ;; *) path=${path:+$path:}$found ;; esac
done
# Without a driver (a build machine), the cuda-env stub stands in for libcuda.so.1.
if [ -z "$gpu" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1' && [ -e "$cuda_root/lib/stubs/libcuda.so.1" ]; then
  path=$path:$cuda_root/lib/stubs
fi
export LD_LIBRARY_PATH=$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "CUDA libraries: $path"
if ! missing=$(ldd "$bin/spelunk" | grep 'not found'); then missing=""; fi
if [ -n "$missing" ]; then
  echo "gpu-check: the bundle's libraries are not all found:" >&2
  echo "$missing" >&2
  exit 1
fi

# CPU figures are one core's (candle's kernels on one thread), the GPU's are the card's.
export RAYON_NUM_THREADS=1
devices=(cpu)
[ -n "$gpu" ] && devices+=(cuda)

echo "== 1. parity, every head (GPU against CPU)"
if [ -n "$gpu" ]; then
  "$bin/gpu-parity" 2>&1 | tee "$out/parity.log"
else
  # The binary loads, finds its libraries and reports that there is no GPU.
  if "$bin/gpu-parity" > "$out/parity.log" 2>&1; then
    echo "gpu-check: gpu-parity passed without a GPU" >&2
    exit 1
  fi
  grep -q "no usable CUDA device" "$out/parity.log" || { cat "$out/parity.log" >&2; exit 1; }
  echo "(skipped: the binary loads and reports no usable CUDA device here)"
fi

echo "== 2. GRPO step per head"
for dev in "${devices[@]}"; do
  SPELUNK_DEVICE=$dev "$bin/grpo-step-bench" --bench --noplot --warm-up-time 1 --measurement-time 3 \
    2>&1 | tee "$out/step_$dev.log" | grep -E "^grpo_step|thrpt"
done

echo "== 3. VLA training, 3 iterations"
for dev in "${devices[@]}"; do
  s=$(date +%s.%N)
  "$bin/spelunk" train --config examples/vla_reach.toml --set iterations=3 --set eval_episodes=8 \
    --set "device=\"$dev\"" --eval-every 1000 --out "$out/vla_$dev" 2>&1 | tail -2
  echo "$dev $(python3 -c "import time; print(f'{time.time() - $s:.1f}')")" >> "$out/vla_seconds.txt"
done

echo "== 4. text GRPO, 3 iterations"
for dev in "${devices[@]}"; do
  "$bin/text-grpo-throughput" 3 "$dev" tests/fixtures/tiny-llama 2>&1 | tee "$out/text_$dev.log"
done

python3 - "$out" "$gpu" "$bundle/MANIFEST" "$(( $(date +%s) - start_all ))" <<'PY'
import pathlib, re, sys
out, gpu, manifest, seconds = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
read = lambda name: (out / name).read_text() if (out / name).exists() else ""
def rates(text):
    got = {}
    for m in re.finditer(r"grpo_step/step/(\S+)\s+time:.*?thrpt:\s+\[\S+ \S+ (\S+) (\S+)", text, re.S):
        got[m.group(1)] = (float(m.group(2)), m.group(3))
    return got
def per_second(value, unit):
    scale = {"elem/s": 1, "Kelem/s": 1e3, "Melem/s": 1e6, "Gelem/s": 1e9}
    return value * scale.get(unit, float("nan"))
cpu, gpu_rates = rates(read("step_cpu.log")), rates(read("step_cuda.log"))
vla = dict(l.split() for l in read("vla_seconds.txt").splitlines()[-2:] if l.strip())
text = {d: re.search(r"tokens_per_sec (\S+)", read(f"text_{d}.log")) for d in ("cpu", "cuda")}
commit = manifest.read_text().splitlines()[0].removeprefix("commit ")
lines = ["# GPU check", "",
         f"Written by `bash scripts/gpu-check.sh` with the bundle of `bash scripts/gpu-bundle.sh` (commit {commit}); {seconds} s in all.", "",
         f"- card, memory, driver: {gpu or 'none (CPU half only)'}"]
parity = re.findall(r"parity (\S+) logits (\S+) gradients (\S+)", read("parity.log"))
if parity:
    lines += ["", "| head | logits, max relative error | gradients, max relative error |", "|---|---:|---:|"]
    lines += [f"| `{h}` | {l} | {g} |" for h, l, g in parity]
lines += ["", "| GRPO step | CPU (one core) tokens/s | GPU tokens/s | GPU / CPU |", "|---|---:|---:|---:|"]
for k in sorted(cpu.keys() | gpu_rates.keys()):
    c, g = cpu.get(k), gpu_rates.get(k)
    cs = f"{per_second(*c):,.0f}" if c else "-"
    gs = f"{per_second(*g):,.0f}" if g else "-"
    ratio = f"{per_second(*g) / per_second(*c):.1f}×" if c and g else "-"
    lines.append(f"| {k} | {cs} | {gs} | {ratio} |")
lines += ["", f"- VLA training (`examples/vla_reach.toml`), 3 iterations: CPU (one core) {vla.get('cpu', '-')} s, GPU {vla.get('cuda', '-')} s"]
tps = {d: (f"{float(m.group(1)):,.0f}" if m else "-") for d, m in text.items()}
lines += [f"- text GRPO (tiny Llama), tokens/s over 3 iterations: CPU (one core) {tps['cpu']}, GPU {tps['cuda']}"]
report = "\n".join(lines) + "\n"
(out / "gpu_check.md").write_text(report)
print(report)
PY
