#!/bin/sh
#
# tests/fuzz/run.sh: run each named harness of $B/fuzz/tests/fuzz for
# SECONDS seconds (make fuzz, make fuzz-short).
#
#   B=build sh tests/fuzz/run.sh SECONDS NAME...
#
# Each harness reads its committed seeds (tests/fuzz/corpus/NAME, never
# written) and a work corpus ($B/fuzz/corpus/NAME, where new inputs go
# and which later runs start from), with tests/fuzz/NAME.dict.  A crash,
# leak, UB report or timeout stops it with the input saved as
# $B/fuzz/crash/NAME-*; the script goes on with the next harness and
# exits 1 at the end.  One line per harness: executions, coverage
# (libFuzzer's "cov", edges, and "ft", features) and corpus size; its
# whole output is in $B/fuzz/log/NAME.log.

set -u

B=${B:-build}
secs=$1
shift
here=$(dirname "$0")
fb=$B/fuzz
failed=""
mkdir -p "$fb/crash" "$fb/log"

for name in "$@"; do
	bin=$fb/tests/fuzz/$name
	log=$fb/log/$name.log
	mkdir -p "$fb/corpus/$name"
	# The harnesses' temporary homes and files: removed at exit, and
	# here too, after a crash (which skips the exit handlers).
	rm -rf "$fb/tmp"
	mkdir -p "$fb/tmp"
	# -timeout: a run over 25 s is a hang; -rss_limit_mb: the store's
	# cache and ASan's shadow together stay well under it.
	TMPDIR=$fb/tmp "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=25 \
	    -rss_limit_mb=2560 -dict="$here/$name.dict" \
	    -artifact_prefix="$fb/crash/$name-" \
	    "$fb/corpus/$name" "$here/corpus/$name" >"$log" 2>&1
	rc=$?
	rm -rf "$fb/tmp"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	printf '%-14s %4ss  runs %-10s cov %-6s ft %-7s corpus %s\n' \
	    "$name" "$secs" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
	if [ "$rc" -ne 0 ]; then
		echo "$name: FAILED (exit $rc), see $log:" >&2
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' \
		    "$log" | head -n 20 >&2
		failed="$failed $name"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
