#!/bin/sh
#
# tests/demo-stop.sh: `make demo-stop`.  Stops the lighttpd that
# tests/demo.sh started (and with it the responders); keeps the demo
# home, so `make demo` starts again with the same keys and users.
# Remove $LATCHKEY_DEMO (default $HOME/.latchkey-demo) to start afresh.

set -eu

DEMO=${LATCHKEY_DEMO:-${HOME:-/tmp}/.latchkey-demo}
PIDFILE="$DEMO/run/lighttpd.pid"

if [ ! -s "$PIDFILE" ]; then
	echo "demo: not running (no $PIDFILE)"
	exit 0
fi
pid=$(cat "$PIDFILE")
if ! kill -0 "$pid" 2>/dev/null; then
	echo "demo: not running (stale pid $pid)"
	rm -f "$PIDFILE"
	exit 0
fi
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "demo: pid $pid did not stop in 10 s; sending KILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		break
	fi
	sleep 0.1
done
rm -f "$PIDFILE"
echo "demo: stopped (pid $pid)"
