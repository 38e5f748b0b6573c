#!/usr/bin/env bash
# The bridge's control-loop benchmark (`spelunk bridge bench`, in the dev profile the tests use,
# dependencies optimised: the loop's time is system calls and thread wake-ups): the loop
# driving the simulated SO-100 arm over a pty at 100, 500 and 1000 Hz, written to
# docs/results/bridge_loop.{json,md} with the commit and machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p spelunk-cli --locked
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/results' || echo +changes)"
target/debug/spelunk bridge bench --seconds 2 --windows 5 \
  --out docs/results/bridge_loop --note "bash scripts/bridge-bench.sh, commit $commit"
