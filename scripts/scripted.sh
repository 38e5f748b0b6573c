#!/usr/bin/env bash
# The scripted controller's success on every arm task, free gripper and URDF arms, 100 seeds
# each (seeds 0-99; sims/examples/scripted.rs): writes docs/results/scripted.{json,md}. The
# episodes are deterministic, so the counts reproduce on any machine.
#
#   bash scripts/scripted.sh [episodes]
set -euo pipefail
cd "$(dirname "$0")/.."
episodes="${1:-100}"
cargo build -q --release -p spelunk-sims --example scripted
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/scripted"
rows=()
# label | environment variables | tasks
while IFS='|' read -r label vars tasks; do
  for task in $tasks; do
    # shellcheck disable=SC2086
    line=$(env $vars "$bin" "Arm-$task-v0" "$episodes")
    rows+=("$label|$vars|$task|$line")
  done
done <<'CASES'
free gripper||Reach Push PickAndPlace Slide
`fetch7` (end-effector control)|ROBOT=fetch7|Reach Push PickAndPlace Slide
`fetch7`, `drive = "kinematic"`|ROBOT=fetch7 DRIVE=kinematic|Reach Push PickAndPlace Slide
`so100` on Fetch's layout (`layout = "fetch"`)|ROBOT=so100 LAYOUT=fetch|Reach Push PickAndPlace
`so100` on its desk layout|ROBOT=so100|Reach Push PickAndPlace
`so100` on its desk layout, `drive = "kinematic"`|ROBOT=so100 DRIVE=kinematic|Reach Push PickAndPlace
CASES
mkdir -p docs/results
python3 - "$episodes" "${rows[@]}" <<'PY'
import json, re, sys
sys.path.insert(0, "scripts/peers")
from protocol import commit, machine
episodes = int(sys.argv[1])
rows = []
for arg in sys.argv[2:]:
    label, env, task, line = arg.split("|", 3)
    m = re.search(r": (\d+)/(\d+) solved", line)
    rows.append({"arm": label, "env": env, "task": task, "solved": int(m[1]), "episodes": int(m[2])})
commit = commit()
rep = {"command": f"bash scripts/scripted.sh {episodes}", "commit": commit, "machine": machine(),
       "seeds": f"0-{episodes - 1}", "rows": rows}
with open("docs/results/scripted.json", "w") as f:
    json.dump(rep, f, indent=2)
    f.write("\n")
tasks = ["Reach", "Push", "PickAndPlace", "Slide"]
md = [f"# The scripted controller's success, seeds {rep['seeds']}", "",
      f"`{rep['command']}` at `{commit[:12]}`: episodes solved (within 5 cm at the last step).", "",
      "| arm | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
arms = list(dict.fromkeys(r["arm"] for r in rows))
for arm in arms:
    cells = {r["task"]: f"{r['solved']}/{r['episodes']}" for r in rows if r["arm"] == arm}
    md.append(f"| {arm} | " + " | ".join(cells.get(t, "—") for t in tasks) + " |")
with open("docs/results/scripted.md", "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
PY
