#!/bin/sh
# Start the frozen app offscreen for two seconds and check its startup log line.
set -eu
APP="${1:-dist/vc-app/vc-app}"
LOGDIR="$(mktemp -d)"
trap 'rm -rf "$LOGDIR"' EXIT
QT_QPA_PLATFORM=offscreen "$APP" --log-dir "$LOGDIR" --quit-after-ms 2000
if grep -rqE "Traceback|ERROR|CRITICAL" "$LOGDIR"; then
    echo "smoke test FAILED: the frozen app logged an error:" >&2
    grep -rhE -A5 "Traceback|ERROR|CRITICAL" "$LOGDIR" >&2
    exit 1
fi
if grep -rq "vc-app started" "$LOGDIR"; then
    echo "smoke test passed: $(grep -rh 'vc-app started' "$LOGDIR" | head -1)"
else
    echo "smoke test FAILED: no 'vc-app started' line in $LOGDIR" >&2
    ls -la "$LOGDIR" >&2
    exit 1
fi
