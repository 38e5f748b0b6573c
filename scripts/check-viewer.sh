#!/usr/bin/env bash
# The Bevy viewer, checked without a display or a GPU: built once (its own workspace, the dev
# profile), then a state of each family rendered offscreen in software (Mesa's lavapipe) and
# compared with the env's own rendering of that state, and bad input refused in one line.
#
#   bash scripts/check-viewer.sh SPELUNK_BINARY [--pictures]
#
# --pictures also writes the README's pictures, docs/img/viewer_{doorkey,arm}.png.
# Needs Debian's mesa-vulkan-drivers and libvulkan1 (installed when missing; root).
set -euo pipefail
cd "$(dirname "$0")/.."
spelunk="${1:?usage: check-viewer.sh SPELUNK_BINARY [--pictures]}"
pictures="${2:-}"
[ -x "$spelunk" ] || { echo "check-viewer: no spelunk binary at $spelunk" >&2; exit 1; }
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null
fi
target="${CARGO_TARGET_DIR:-crates/viewer/target}"
# Built once, with clippy as the viewer's compiler wrapper: linted as it is built (Bevy is
# not checked a second time), any warning fails the check.
RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver) \
  cargo build --manifest-path crates/viewer/Cargo.toml --locked --message-format=json |
  python3 -c '
import json, sys
warnings = 0
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-message" and m["message"]["level"] in ("warning", "error"):
        sys.stderr.write(m["message"]["rendered"])
        warnings += 1
    elif m.get("reason") == "build-finished" and not m["success"]:
        sys.exit("check-viewer: the viewer did not build")
if warnings:
    sys.exit(f"check-viewer: {warnings} warnings in the viewer")
'
viewer="$target/debug/spelunk-viewer"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Software rendering: lavapipe is the only Vulkan device wgpu should find, Vulkan the only API
# it tries; Mesa wants a private runtime folder (else it complains on every start).
export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json WGPU_BACKEND=vulkan
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$out/run"
  mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

run() {  # run NAME ARGS…: the viewer's report, or its error, with the family's name
  echo "-- $1"
  shift
  "$viewer" "$@"
}
"$spelunk" record MiniGrid-DoorKey-8x8-v0 --episodes 2 --seed 3 --episodes-out "$out/doorkey" >/dev/null
run "DoorKey-8x8, two replayed episodes, state 50" \
  replay "$out"/doorkey/episode_0.json "$out"/doorkey/episode_1.json --screenshot "$out/doorkey.png" --at 50 --check
"$spelunk" record Montezuma-Lite-v0 --policy scripted --episodes-out "$out/montezuma" >/dev/null
run "Montezuma-Lite solved by the planner, last state" \
  replay "$out/montezuma/episode_0.json" --screenshot "$out/montezuma.png" --check
"$spelunk" record Arm-PickAndPlace-v0 --policy scripted --seed 2 --episodes-out "$out/pick" >/dev/null
run "PickAndPlace, free gripper, state 12" \
  replay "$out/pick/episode_0.json" --screenshot "$out/pick.png" --at 12 --flat --check
"$spelunk" record Arm-Push-v0 --policy scripted --seed 1 --set 'robot={urdf="fetch7"}' \
  --episodes-out "$out/fetch7" >/dev/null
run "Push with the fetch7 arm, last state" \
  replay "$out/fetch7/episode_0.json" --screenshot "$out/fetch7.png" --flat --check
run "DoorKey-8x8 watched live (random, with the counts and RND bonuses), state 60" \
  watch MiniGrid-DoorKey-8x8-v0 --policy random --bonus counts,rnd --episodes 1 --seed 2 --screenshot "$out/watch_grid.png" --at 60 --check
"$spelunk" train --set env='"MiniGrid-Empty-5x5-v0"' --set iterations=3 --out "$out/run" >/dev/null
run "Empty-5x5 watched live (a training run's policy), last state" \
  watch MiniGrid-Empty-5x5-v0 --policy "$out/run" --episodes 2 --screenshot "$out/watch_run.png" --check
run "Reach watched live (scripted), last state" \
  watch Arm-Reach-v0 --policy scripted --episodes 1 --seed 4 --screenshot "$out/watch.png" --flat --check
echo "-- DoorKey-5x5 teleop through \`spelunk view\`, first state"
PATH="$(dirname "$viewer"):$PATH" "$spelunk" view \
  teleop MiniGrid-DoorKey-5x5-v0 --seed 2 --screenshot "$out/teleop.png" --check

# Bad input: refused before anything is drawn, in one line that says what to do.
refused() {  # refused WHAT EXPECTED ARGS…
  local what="$1" want="$2"
  shift 2
  if "$@" >"$out/stdout" 2>"$out/stderr"; then
    echo "check-viewer: $what was accepted" >&2; exit 1
  fi
  if ! grep -q "$want" "$out/stderr" || [ "$(grep -c . "$out/stderr")" -ne 1 ]; then
    echo "check-viewer: $what: expected one line with '$want', got:" >&2; cat "$out/stderr" >&2; exit 1
  fi
  echo "refused, $what: $(cat "$out/stderr")"
}
sed 's/"MiniGrid-DoorKey-8x8-v0"/"MiniGrid-DoorKey-5x5-v0"/' "$out/doorkey/episode_0.json" >"$out/other_env.json"
refused "an episode file for another env" "differs from the recording" \
  "$viewer" replay "$out/other_env.json" --screenshot "$out/x.png"
python3 - "$out/doorkey/episode_0.json" "$out/edited.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["checksums"][7] ^= 1
json.dump(e, open(sys.argv[2], "w"))
PY
refused "a checksum that does not match" "state 7 differs" \
  "$viewer" replay "$out/edited.json" --screenshot "$out/x.png"
refused "episodes of two envs at once" "one env's episodes at a time" \
  "$viewer" replay "$out/doorkey/episode_0.json" "$out/pick/episode_0.json" --screenshot "$out/x.png"
refused "a run's policy on another env" "trained MiniGrid-Empty-5x5-v0, not MiniGrid-DoorKey-5x5-v0" \
  "$viewer" watch MiniGrid-DoorKey-5x5-v0 --policy "$out/run" --screenshot "$out/x.png"
head -c 100 "$out/doorkey/episode_0.json" >"$out/truncated.json"
refused "a truncated episode file" "not an episode file" \
  "$viewer" replay "$out/truncated.json" --screenshot "$out/x.png"
refused "no display" "no display" env -u DISPLAY "$viewer" replay "$out/doorkey/episode_0.json"
refused "a screenshot into a missing folder" "does not exist" \
  "$viewer" replay "$out/doorkey/episode_0.json" --screenshot "$out/missing/x.png"
refused "a 3D check without flat colours" "add --flat" \
  "$viewer" replay "$out/pick/episode_0.json" --screenshot "$out/x.png" --check
cp "$spelunk" "$out/spelunk"
refused "spelunk view without the viewer" "spelunk-viewer is not built" \
  env PATH=/nonexistent "$out/spelunk" view replay x.json

if [ "$pictures" = "--pictures" ]; then
  "$viewer" replay "$out/doorkey/episode_0.json" --screenshot docs/img/viewer_doorkey.png --at 50
  "$viewer" replay "$out/pick/episode_0.json" --screenshot docs/img/viewer_arm.png --at 30
fi
echo "check-viewer: every family drawn as the env renders it; bad input refused"
