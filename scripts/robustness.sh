#!/usr/bin/env bash
# Hostile input, counted: the fuzz tests' tallies (level files, URDFs, configs, snapshots,
# archives, checkpoints) and misuse of the `spelunk` command (bad flags, files that are not
# what they claim, sizes that do not fit in memory, run folders that are not runs), each run
# with a time limit. Writes docs/results/robustness.{json,md}: per kind, tried / clean error /
# panic / hang. Usage: bash scripts/robustness.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/results}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
SPELUNK_ROBUSTNESS_OUT="$tmp" cargo test -q -p spelunk-tests --test e2e fuzz >/dev/null
SPELUNK_ROBUSTNESS_OUT="$tmp" cargo test -q -p spelunk-experiments --lib a_kill_at_any_step >/dev/null
cargo build -q -p spelunk-cli
bin="$PWD/target/debug/spelunk"
w="$tmp/work"
mkdir -p "$w"
printf 'not a level\n' > "$w/bad_level.txt"
python3 -c "import random, sys; random.seed(1); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(100000)))" > "$w/noise.bin"
printf 'env = 5\n[[[\n' > "$w/bad.toml"
mkdir -p "$w/empty_run" "$w/not_a_run"
printf '{}' > "$w/not_a_run/manifest.json"
# One command per line: what a hostile or careless user types.
cat > "$tmp/cases" <<CASES
train --out $w/r1 --set group_size=1000000000
train --out $w/r2 --set 'policy.hidden=[1000000000]'
train --out $w/r3 --set eval_episodes=1000000000
train --out $w/r4 --set adam.lr=nan
train --out $w/r5 --set gamma=-1
train --out $w/r6 --set env='"NoSuchEnv-v0"'
train --out $w/r7 --config $w/bad.toml
train --out $w/r8 --config $w/noise.bin
train --out $w/r9 --config /dev/zero
train --out $w/empty_run --resume
train --out $w/not_a_run --resume
eval --run $w/empty_run
eval --run $w/not_a_run
eval --run /dev/null
bench --num-envs 1000000000 --seconds 0.1
bench --seconds 1e-9
bench --env NoSuchEnv-v0
play MiniGrid-Empty-5x5-v0 --actions 'forward jump 99 -1'
play MiniGrid-Empty-5x5-v0 --config $w/noise.bin
explore --method go-explore --env Montezuma-Lite-v0 --set level=/dev/zero --run $w/g1
explore --method go-explore --env Montezuma-Lite-v0 --set level=$w/bad_level.txt --run $w/g2
explore --method go-explore --env Montezuma-Lite-v0 --set level=$w/noise.bin --run $w/g3
explore --method go-explore --cells pixels --env Montezuma-Lite-Pixels-v0 --downscale 100000x100000x255 --run $w/g4
explore --method go-explore --run $w/not_a_run --resume
explore --method go-explore --run $w/g5 --target-fraction nan
record Arm-Reach-v0 --set 'robot={urdf="/dev/zero"}' --steps $w/s.jsonl
record Arm-Reach-v0 --set 'robot={urdf="$w/noise.bin"}' --steps $w/s.jsonl
record MiniGrid-Empty-5x5-v0 --policy $w/not_a_run --steps $w/s.jsonl
record MiniGrid-Empty-5x5-v0 --episodes 1000000000000000000000
replay $w/noise.bin
replay /dev/zero
replay $w/missing.json
envs --bogus-flag
CASES
python3 - "$tmp" "$out" "$bin" <<'PY'
import json, pathlib, shlex, subprocess, sys, time
tmp, out, binary = sys.argv[1:]
rows = []
for f in sorted(pathlib.Path(tmp).glob("robustness_*.json")):
    rows.append(json.loads(f.read_text()))
cli = {"kind": "cli_misuse", "tried": 0, "accepted": 0, "clean_error": 0, "panic": 0, "hang": 0, "cases": []}
for line in pathlib.Path(tmp, "cases").read_text().splitlines():
    args = shlex.split(line)
    t0 = time.time()
    try:
        p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=120)
        rc, err = p.returncode, (p.stderr.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        rc, err = None, "timed out after 120 s"
    cli["tried"] += 1
    if rc is None:
        cli["hang"] += 1; verdict = "hang"
    elif rc == 101 or "panicked" in (p.stderr if rc is not None else ""):
        cli["panic"] += 1; verdict = "panic"
    elif rc == 0:
        cli["accepted"] += 1; verdict = "ran"
    else:
        cli["clean_error"] += 1; verdict = "clean error"
    cli["cases"].append({"command": "spelunk " + line.replace(tmp, "$TMP"), "exit": rc, "verdict": verdict, "message": err.replace(tmp, "$TMP")[:300], "seconds": round(time.time() - t0, 2)})
rows.append(cli)
for r in rows:
    r.setdefault("lost", 0)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
import os
report = {"command": "bash scripts/robustness.sh", "commit": commit, "machine": f"{os.cpu_count()} cores, {cpu}", "kinds": rows}
pathlib.Path(out, "robustness.json").write_text(json.dumps(report, indent=1) + "\n")
md = ["# Hostile input, counted", "", "`bash scripts/robustness.sh` (the fuzz tests of `tests/tests/e2e/fuzz.rs` with their tallies, then the `spelunk` commands listed in the script, each with a 120 s limit). A case is accepted when it parsed and was then used (a level played, a robot or a snapshot stepped) or the command ran; a clean error is an error message and a non-zero exit.", "",
      f"Commit {commit}, {os.cpu_count()} cores ({cpu}). A run folder kill is accepted when the run resumed to the same metrics and checkpoint bytes as an uninterrupted one; lost counts work that a resume lost or changed.", "",
      "| input | tried | accepted | clean error | panic | hang | lost |", "|---|---|---|---|---|---|---|"]
for r in rows:
    md.append(f"| {r['kind'].replace('_', ' ')} | {r['tried']} | {r['accepted']} | {r['clean_error']} | {r['panic']} | {r['hang']} | {r['lost']} |")
tot = {k: sum(r[k] for r in rows) for k in ("tried", "panic", "hang", "lost")}
md += ["", f"{tot['tried']} cases in all: {tot['panic']} panics, {tot['hang']} hangs, {tot['lost']} lost.", "", "## The commands", "", "| command | exit | message |", "|---|---|---|"]
for c in cli["cases"]:
    md.append(f"| `{c['command']}` | {c['exit']} | {c['message'].replace('|', '/')} |")
pathlib.Path(out, "robustness.md").write_text("\n".join(md) + "\n")
print(f"wrote {out}/robustness.json and robustness.md: {tot['tried']} cases, {tot['panic']} panics, {tot['hang']} hangs, {tot['lost']} lost")
PY
