#!/usr/bin/env bash
# Light crates must never pull GPU, GUI or visualisation stacks, and training and exploration
# never depend on what watches them (DESIGN.md, layer rules).
# `cargo tree -i X` inverts the graph: it prints who depends on X, and fails if X is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
# check "crate…" -- "dep…": none of the crates may depend on any of the deps.
check() {
  local crates=() deps=() seen_sep=0
  for a in "$@"; do
    if [ "$a" = "--" ]; then seen_sep=1; elif [ "$seen_sep" -eq 0 ]; then crates+=("$a"); else deps+=("$a"); fi
  done
  for crate in "${crates[@]}"; do
    for dep in "${deps[@]}"; do
      if cargo tree -q -e normal -p "$crate" -i "$dep" >/dev/null 2>&1; then
        echo "error: $crate depends on $dep (normal dependencies):"
        cargo tree -e normal -p "$crate" -i "$dep" | head -20
        status=1
      fi
    done
  done
  [ "$status" -eq 0 ] && echo "light-deps: ${crates[*]} pull none of: ${deps[*]}"
}
check spelunk-core spelunk-envs -- bevy wgpu winit rerun cudarc candle-core ort rapier3d
check spelunk-intrinsic spelunk-grpo spelunk-experiments -- bevy wgpu winit rerun
check spelunk-bridge -- bevy wgpu winit rerun cudarc candle-core
# The wire crate is shared with microcontroller firmware: no dependencies at all.
if [ "$(cargo tree -q -e normal -p spelunk-wire --prefix none | wc -l)" -ne 1 ]; then
  echo "error: spelunk-wire has dependencies:"; cargo tree -e normal -p spelunk-wire; status=1
else
  echo "light-deps: spelunk-wire depends on nothing"
fi
exit "$status"
