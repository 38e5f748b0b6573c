#!/usr/bin/env bash
# Behaviour unchanged? Run the same small experiments and training runs with two `spelunk`
# binaries (say, one built from main before a refactor and one after) and compare every file
# they write. Prints `same`/`DIFF` per file; timing columns and paths are the only expected
# differences.
#
#   bash scripts/behaviour-diff.sh OLD_BINARY NEW_BINARY [OUT_DIR]
#
# About 10 minutes per binary on 2 cores with debug builds.
set -uo pipefail
old=$1; new=$2; out=${3:-/tmp/spelunk-behaviour-diff}
cd "$(dirname "$0")/.."
run() {
  local b=$1 o=$2
  rm -rf "$o"; mkdir -p "$o"
  export RAYON_NUM_THREADS=1
  $b explore --experiment noisy-tv --seeds 1 --steps 4000 --out "$o/ntv" > "$o/ntv.out" 2>&1
  $b explore --experiment coverage --seeds 1 --steps 4000 --out "$o/cov" > "$o/cov.out" 2>&1
  $b explore --experiment stax --seeds 1 --evaluations 300 --threads 1 --out "$o/stax" > "$o/stax.out" 2>&1
  $b explore --experiment go-explore-pixels --seeds 1 --steps 3000 --downscale 5x4x8 --threads 1 --out "$o/gep" > "$o/gep.out" 2>&1
  $b explore --method go-explore --steps 5000000 --threads 2 --stop-on-solve --run "$o/ge" > "$o/ge.out" 2>&1
  $b train --set iterations=4 --out "$o/train" > "$o/train.out" 2>&1
  $b train --set iterations=6 --out "$o/train" --resume > "$o/train_resume.out" 2>&1
  $b eval --run "$o/train" --episodes 20 > "$o/eval.out" 2>&1
  $b train --experiment sparse --seeds 1 --set iterations=2 --envs MiniGrid-DoorKey-5x5-v0 --out "$o/sparse" > "$o/sparse.out" 2>&1
  $b train --set iterations=3 --config examples/montezuma_robustify.toml --set "privileged.demo=\"$o/ge/demo.json\"" --out "$o/robust" > "$o/robust.out" 2>&1
  $b train --set iterations=2 --set 'algorithm="ppo"' --set 'env="Arm-Reach-v0"' --set groups_per_step=2 --out "$o/arm" > "$o/arm.out" 2>&1
  for part in 'tree={}' 'progrpo={}' 'lp_reg={}'; do
    name=${part%%=*}
    $b train --set iterations=3 --set groups_per_step=4 --set "$part" --out "$o/$name" > "$o/$name.out" 2>&1
  done
  $b train --set iterations=3 --set groups_per_step=4 --set 'progrpo={}' --set 'intrinsic={method="rnd"}' --set 'tree={}' --set 'lp_reg={}' --set 'env="MiniGrid-DoorKey-5x5-v0"' --out "$o/all" > "$o/all.out" 2>&1
  $b train --set iterations=3 --set groups_per_step=4 --set 'algorithm="ppo"' --set 'env="MiniGrid-DoorKey-5x5-v0"' --out "$o/ppo" > "$o/ppo.out" 2>&1
}
run "$old" "$out/old"
run "$new" "$out/new"
python3 - "$out" <<'PY'
# Compared by meaning where the bytes may differ for reasons other than behaviour: JSON without
# timing fields, safetensors by tensors (their metadata is written in hash order), state.json
# without its writer tag, config.toml without the threads setting (results do not depend on
# it) and its paths, archive.bin after its tag, manifest.json without its run id. Expected DIFFs: the STAX table's last column
# (seconds), and bonus-module states (intrinsic.bin), which embed safetensors metadata in hash
# order (check that every metric is the same).
import filecmp, json, os, struct, sys
out = sys.argv[1]
def strip(o, drop=("seconds",)):
    if isinstance(o, dict):
        return {k: strip(v, drop) for k, v in o.items() if k not in drop}
    if isinstance(o, list):
        return [strip(v, drop) for v in o]
    return o
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    header.pop("__metadata__", None)
    return header, b[8 + n:]
def same(a, b, name):
    if name.endswith(".out"):
        ta = open(a).read().replace(os.path.join(out, "old"), "X")
        tb = open(b).read().replace(os.path.join(out, "new"), "X")
        return ta == tb
    if name == "manifest.json":
        # A run id is drawn per run; the rest (checksums included) must match.
        return strip(json.load(open(a)), ("run_id",)) == strip(json.load(open(b)), ("run_id",))
    if name == "state.json":
        return strip(json.load(open(a)), ("writer",)) == strip(json.load(open(b)), ("writer",))
    if name.endswith(".json"):
        return strip(json.load(open(a))) == strip(json.load(open(b)))
    if name.endswith(".safetensors"):
        return tensors(a) == tensors(b)
    if name == "config.toml":
        def keep(p, side):
            text = open(p).read().replace(os.path.join(out, side), "X")
            return [l for l in text.splitlines() if not l.startswith("threads = ")]
        return keep(a, "old") == keep(b, "new")
    if name == "archive.bin":
        # After the tag, which names the crate that writes it since this change.
        def body(p):
            raw = open(p, "rb").read()
            return raw[4 + struct.unpack("<I", raw[:4])[0]:]
        return body(a) == body(b)
    return filecmp.cmp(a, b, shallow=False)
for root, _, files in os.walk(os.path.join(out, "old")):
    for f in sorted(files):
        a = os.path.join(root, f)
        b = a.replace(os.path.join(out, "old"), os.path.join(out, "new"), 1)
        rel = os.path.relpath(a, os.path.join(out, "old"))
        if not os.path.exists(b):
            print("MISSING", rel)
        else:
            print("same" if same(a, b, f) else "DIFF", rel)
PY
