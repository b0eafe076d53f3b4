#!/bin/sh
# Runs every unit test binary and every CLI test script against one build
# (build/ or build/san/) and prints one closing line: "N passed, N failed".
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# SKR_TESTS="test_wrap test_release.sh": only the named tests (binaries or
# scripts, by file name); unset runs everything.
selected() {
	[ -z "${SKR_TESTS:-}" ] && return 0
	for n in $SKR_TESTS; do [ "$n" = "${1##*/}" ] && return 0; done
	return 1
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	selected "$t" || continue
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$t exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

for s in "$top"/tests/cli/test_*.sh "$top"/tests/attack/test_*.sh; do
	[ -f "$s" ] || continue
	selected "$s" || continue
	SKRCTL="$top/$build/skrctl" VECTORS="$top/tests/vectors" BUILD="$top/$build" \
		sh "$s" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$s exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
