#!/usr/bin/env bash
# Light crates must never pull GPU, GUI or visualisation stacks (DESIGN.md, layer rules).
# `cargo tree -i X` inverts the graph: it prints who depends on X, and fails if X is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
heavy=(bevy wgpu winit rerun cudarc candle-core ort rapier3d)
light=(spelunk-core spelunk-envs)
status=0
for crate in "${light[@]}"; do
  for dep in "${heavy[@]}"; do
    if cargo tree -q -e normal -p "$crate" -i "$dep" >/dev/null 2>&1; then
      echo "error: $crate depends on $dep (normal dependencies):"
      cargo tree -e normal -p "$crate" -i "$dep" | head -20
      status=1
    fi
  done
done
[ "$status" -eq 0 ] && echo "light-deps: ${light[*]} pull none of: ${heavy[*]}"
exit "$status"
