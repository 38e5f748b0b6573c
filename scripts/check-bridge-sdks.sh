#!/usr/bin/env bash
# The vendors' Python SDKs (feetech-servo-sdk, dynamixel-sdk, from PyPI into a venv kept under
# ~/.cache) talk to `spelunk bridge sim` over a pseudo-terminal: scripts/bridge/check_sdks.py.
# Usage: scripts/check-bridge-sdks.sh [path/to/spelunk]
set -euo pipefail
cd "$(dirname "$0")/.."
SPELUNK="${1:-target/debug/spelunk}"
VENV="${HOME:-/tmp}/.cache/spelunk-bridge-sdks"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q feetech-servo-sdk==1.0.0 dynamixel-sdk==4.1.0
fi
for protocol in feetech dynamixel; do
  log="$(mktemp)"
  "$SPELUNK" bridge sim --protocol "$protocol" --seconds 60 >"$log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port="$(sed -n 's/^simulated .* on \(.*\)$/\1/p' "$log")"
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    cat "$log"; kill "$pid" 2>/dev/null || true; echo "the simulated arm did not start"; exit 1
  fi
  echo "== $protocol SDK against the simulated arm on $port =="
  status=0
  "$VENV/bin/python" scripts/bridge/check_sdks.py "$protocol" "$port" || status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  [ "$status" -eq 0 ] || exit "$status"
done
