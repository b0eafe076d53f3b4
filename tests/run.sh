#!/bin/sh
# Runs every unit test binary, CLI test script and attack test script against
# one build (build/ or build/san/), prints one line of counts per test and one
# closing line: "check: N passed, N failed".
#
# Counted: cmocka's "[  PASSED  ] N" / "[  FAILED  ] N" and a script's
# "PASS name" / "FAIL name" lines.  A test also fails when
#   - it exits non-zero without reporting a failure,
#   - it runs longer than SKR_TEST_TIMEOUT seconds (default 900): a hang is a
#     named failure, not a stuck CI run,
#   - it reports a SKIP (script "SKIP ..." line, cmocka "[  SKIPPED ]") and is
#     not listed in tests/optional.txt with its reason,
#   - it reports fewer checks than tests/expected-counts.txt says it had:
#     checks that silently disappear turn the run red.  After adding checks,
#     `SKR_UPDATE_COUNTS=1 make check` rewrites the file (review the diff).
# SKR_TESTS="test_wrap test_release.sh" runs only the named tests.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
expected=$top/tests/expected-counts.txt
optional=$top/tests/optional.txt
timeout_s=${SKR_TEST_TIMEOUT:-900}
passed=0
failed=0
log=$(mktemp)
counts=$(mktemp)
trap 'rm -f "$log" "$counts"' EXIT

selected() {
	[ -z "${SKR_TESTS:-}" ] && return 0
	for n in $SKR_TESTS; do [ "$n" = "${1##*/}" ] && return 0; done
	return 1
}

expected_count() {
	[ -f "$expected" ] && awk -v n="$1" '$1 == n { print $2 }' "$expected"
}

# Adds one test's outcome to the totals: name, passed, failed, skipped, exit code.
account() {
	name=$1 p=$2 f=$3 s=$4 rc=$5
	if [ "$rc" -eq 124 ]; then
		echo "FAIL $name: timed out after $timeout_s s"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited with status $rc"
		f=1
	fi
	if [ "$s" -gt 0 ] && ! grep -q "^$name " "$optional" 2>/dev/null; then
		echo "FAIL $name: $s check(s) skipped, and $name is not listed in tests/optional.txt"
		f=$((f + 1))
	fi
	want=$(expected_count "$name")
	if [ -n "$want" ] && [ $((p + f)) -lt "$want" ]; then
		echo "FAIL $name: reported $((p + f)) checks, fewer than the $want of tests/expected-counts.txt"
		f=$((f + 1))
	elif [ -z "$want" ]; then
		echo "note: $name has no entry in tests/expected-counts.txt"
	fi
	echo "COUNT $name: $p passed, $f failed, $s skipped"
	echo "$name $((p + f))" >> "$counts"
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	selected "$t" || continue
	timeout "$timeout_s" "$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
	s=$(grep -c '^\[  SKIPPED \]' "$log")
	account "${t##*/}" "$p" "$f" "$s" "$rc"
done

for s in "$top"/tests/cli/test_*.sh "$top"/tests/attack/test_*.sh; do
	[ -f "$s" ] || continue
	selected "$s" || continue
	SKRCTL="$top/$build/skrctl" VECTORS="$top/tests/vectors" BUILD="$top/$build" \
		timeout "$timeout_s" sh "$s" >"$log" 2>&1
	rc=$?
	cat "$log"
	account "${s##*/}" "$(grep -c '^PASS ' "$log")" "$(grep -c '^FAIL ' "$log")" \
		"$(grep -c '^SKIP ' "$log")" "$rc"
done

if [ -n "${SKR_UPDATE_COUNTS:-}" ] && [ -z "${SKR_TESTS:-}" ] && [ "$failed" -eq 0 ]; then
	{
		echo "# Checks each test reported in the last full green run (tests/run.sh);"
		echo "# a run reporting fewer fails.  Regenerate: SKR_UPDATE_COUNTS=1 make check"
		sort "$counts"
	} > "$expected"
	echo "tests/expected-counts.txt rewritten"
fi

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
