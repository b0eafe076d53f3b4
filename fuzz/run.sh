#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target of a build directory, one after the other (or
# FUZZ_JOBS=N at a time).
#
#   FUZZ_SECONDS=N [FUZZ_JOBS=N] sh fuzz/run.sh BUILD_DIR   (from the top of the source tree)
#
# Each BUILD_DIR/fuzz_NAME runs for FUZZ_SECONDS seconds (default 20) starting
# from its seed corpus fuzz/corpus/NAME/ and the regression inputs
# fuzz/regressions/NAME-*, with a fresh temporary working corpus (new inputs
# go there, never into fuzz/corpus).  FUZZ_SECONDS=0 only replays the seeds and
# the regressions.  Prints one line per target; on a crash, leak or timeout it
# prints the end of libFuzzer's output and where the crashing input is kept,
# carries on with the other targets and exits 1 at the end.
set -u

usage() {
	echo "usage: FUZZ_SECONDS=N sh fuzz/run.sh BUILD_DIR" >&2
	exit 2
}

[ $# -eq 1 ] || usage
build=$1
seconds=${FUZZ_SECONDS:-20}
case $seconds in
'' | *[!0-9]*)
	echo "fuzz: FUZZ_SECONDS must be a number of seconds, not '$seconds'" >&2
	exit 2
	;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$build" ] || {
	echo "fuzz: no build directory $build" >&2
	exit 2
}

# max_len, fuzz_inputs, fuzz_stat
# shellcheck source=fuzz/lib.sh
. "$top/fuzz/lib.sh"

# One target: prints its line (and on failure what went wrong); returns 1 if
# it failed, 2 if no temporary directory could be made.
run_target() {
	bin=$1
	name=${bin##*/fuzz_}
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/skr-fuzz-$name.XXXXXX") || return 2
	mkdir "$tmp/artifacts" || return 2
	dirs=$(fuzz_inputs "$top" "$name" "$tmp") || return 2

	set -- -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
		-artifact_prefix="$tmp/artifacts/"
	len=$(max_len "$name")
	[ -n "$len" ] && set -- "$@" -max_len="$len"
	if [ "$seconds" -eq 0 ]; then
		set -- "$@" -runs=0
	else
		set -- "$@" -max_total_time="$seconds"
	fi

	start=$(date +%s)
	# shellcheck disable=SC2086 # $dirs: paths from mktemp and the tree, no spaces
	"$bin" "$@" $dirs >"$tmp/log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))
	execs=$(fuzz_stat "$tmp/log" number_of_executed_units)

	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "fuzz $name: $execs execs in $elapsed s, OK"
		rm -rf "$tmp"
		return 0
	fi
	echo "fuzz $name: FAILED (exit $rc) after ${execs:-?} execs in $elapsed s"
	echo "---- end of libFuzzer's output (all of it in $tmp/log) ----"
	# Without ASan's shadow-memory dump, which says little and is long.
	sed '/^Shadow bytes around/,/^==[0-9]*==ABORTING/{/ABORTING/!d;}' "$tmp/log" | tail -n 60
	echo "----"
	artifacts=$(ls "$tmp/artifacts" 2>/dev/null)
	if [ -n "$artifacts" ]; then
		for a in $artifacts; do
			echo "fuzz $name: crashing input kept in $tmp/artifacts/$a"
			echo "fuzz $name: reproduce with: $bin $tmp/artifacts/$a"
		done
	else
		echo "fuzz $name: no crash artifact written; output kept in $tmp/log"
	fi
	return 1
}

# FUZZ_JOBS=N (default 1): N lanes, each running every Nth target one after
# the other (libFuzzer uses one core per target), their output printed lane by
# lane at the end; each target still gets FUZZ_SECONDS of its own.
jobs=${FUZZ_JOBS:-1}
case $jobs in
'' | *[!0-9]* | 0)
	echo "fuzz: FUZZ_JOBS must be a positive number, not '$jobs'" >&2
	exit 2
	;;
esac
found=0
for bin in "$build"/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] && found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
	echo "fuzz: no fuzz_* binaries in $build" >&2
	exit 2
fi

lanes=$(mktemp -d "${TMPDIR:-/tmp}/skr-fuzz-lanes.XXXXXX") || exit 2
trap 'rm -rf "$lanes"' EXIT
lane=0
while [ "$lane" -lt "$jobs" ]; do
	(
		status=0 i=0
		for bin in "$build"/fuzz_*; do
			[ -f "$bin" ] && [ -x "$bin" ] || continue
			[ $((i % jobs)) -eq "$lane" ] && { run_target "$bin" || status=1; }
			i=$((i + 1))
		done
		echo "$status" > "$lanes/$lane.status"
	) > "$lanes/$lane.log" 2>&1 &
	lane=$((lane + 1))
done
wait
status=0
lane=0
while [ "$lane" -lt "$jobs" ]; do
	cat "$lanes/$lane.log"
	[ "$(cat "$lanes/$lane.status" 2>/dev/null)" = 0 ] || status=1
	lane=$((lane + 1))
done
exit "$status"
