#!/usr/bin/env bash
# How far a VecEnv's 2-thread speed-up is from what this machine allows: for each env,
# `spelunk bench` once alone (its vectorized rate on 1 thread, then on 2), and two
# single-threaded benches at once (each one's vectorized rate while the other runs). Two
# independent processes share nothing but the machine, so their summed rate over the rate
# alone is the most any 2-thread code can gain here — the ceiling; a VecEnv's speed-up divided
# by it is how much of that it gets. Repeated, medians reported. Writes
# docs/results/scaling.{json,md}.
#
#   bash scripts/scaling-ceiling.sh [repeats] [seconds per measurement]
# SPELUNK=path/to/spelunk picks the binary (default: `spelunk` on PATH, else a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
repeats="${1:-3}"
seconds="${2:-4}"
bin="${SPELUNK:-$(command -v spelunk || true)}"
if [ -z "$bin" ]; then
  cargo build -q --release -p spelunk-cli
  bin="${CARGO_TARGET_DIR:-$PWD/target}/release/spelunk"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/fetch7.toml" <<'TOML'
[robot]
urdf = "fetch7"
drive = "kinematic"
TOML
: >"$tmp/none.toml"
mkdir -p docs/results
python3 - "$bin" "$tmp" "$repeats" "$seconds" <<'PY'
import json, os, statistics, subprocess, sys
sys.path.insert(0, "scripts/peers")
import protocol

bin_, tmp, repeats, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cases = [  # label, env id, config file
    ("free gripper", "Arm-Push-v0", "none.toml"),
    ("`fetch7`, kinematic", "Arm-Push-v0", "fetch7.toml"),
    ("free gripper", "Arm-Reach-v0", "none.toml"),
    ("gridworld", "MiniGrid-DoorKey-8x8-v0", "none.toml"),
]


def bench(env, cfg, threads, out):
    cmd = [bin_, "bench", "--env", env, "--num-envs", "256", "--threads", str(threads),
           "--seconds", seconds, "--windows", "4", "--skip-bandits", "--json", out]
    if cfg != "none.toml":
        cmd[4:4] = ["--config", os.path.join(tmp, cfg)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rates(path):
    with open(path) as f:
        e = json.load(f)["envs"][0]
    return e["vec_1t_steps_per_sec"], e["vec_nt_steps_per_sec"]


rows = []
for label, env, cfg in cases:
    reps = []
    for r in range(repeats):
        a = os.path.join(tmp, "alone.json")
        if bench(env, cfg, 2, a).wait() != 0:
            sys.exit(f"spelunk bench failed on {env}")
        one, two = rates(a)
        pair = [os.path.join(tmp, f"pair{k}.json") for k in range(2)]
        procs = [bench(env, cfg, 1, p) for p in pair]
        if any(p.wait() != 0 for p in procs):
            sys.exit(f"spelunk bench failed on {env} (two at once)")
        together = sum(rates(p)[0] for p in pair)
        reps.append({"alone_1t": one, "alone_2t": two, "two_processes": together,
                     "speedup": two / one, "ceiling": together / one})
        print(f"{label} {env} #{r}: VecEnv 2 threads / 1 = {two / one:.2f}, "
              f"two processes / one = {together / one:.2f}", file=sys.stderr)
    med = lambda k: statistics.median(x[k] for x in reps)
    rows.append({"label": label, "env": env, "repeats": reps, "speedup": med("speedup"),
                 "ceiling": med("ceiling"), "share": med("speedup") / med("ceiling")})

report = {"command": "bash scripts/scaling-ceiling.sh " + " ".join(sys.argv[3:5]),
          "commit": protocol.commit(), "machine": protocol.machine(), "num_envs": 256,
          "seconds_per_measurement": float(seconds), "windows": 4, "rows": rows}
with open("docs/results/scaling.json", "w") as f:
    json.dump(report, f, indent=2)
md = ["# VecEnv on 2 threads against this machine's ceiling", "",
      f"`{report['command']}`, commit `{report['commit'][:12]}`, {report['machine']}: 256 envs, "
      f"{seconds} s per measurement in 4 windows (median window), {repeats} repeats (median).", "",
      "| env | VecEnv: 2 threads / 1 | two processes at once / one alone (ceiling) | share of the ceiling |",
      "|---|---:|---:|---:|"]
for r in rows:
    md.append(f"| {r['label']} `{r['env']}` | {r['speedup']:.2f}× | {r['ceiling']:.2f}× | "
              f"{100 * r['share']:.0f}% |")
with open("docs/results/scaling.md", "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
PY
