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
# SKR_TESTS="test_wrap test_release.sh" runs only the named tests;
# SKR_TEST_JOBS=2 runs two at a time.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
expected=$top/tests/expected-counts.txt
optional=$top/tests/optional.txt
timeout_s=${SKR_TEST_TIMEOUT:-900}
passed=0
failed=0
counts=$(mktemp)

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

# The tests in their order, one "unit PATH" or "script PATH" a line.
list=$(mktemp -d)
trap 'rm -f "$counts"; rm -rf "$list"' EXIT
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.o|*.d) continue ;; esac
	selected "$t" || continue
	echo "unit $t"
done > "$list/tests"
for s in "$top"/tests/cli/test_*.sh "$top"/tests/attack/test_*.sh; do
	[ -f "$s" ] || continue
	selected "$s" || continue
	echo "script $s"
done >> "$list/tests"

# run_one N KIND PATH: runs test N, its output in $list/N.log, its exit code
# in $list/N.rc.
run_one() {
	if [ "$2" = unit ]; then
		timeout "$timeout_s" "$3" >"$list/$1.log" 2>&1
	else
		SKRCTL="$top/$build/skrctl" VECTORS="$top/tests/vectors" BUILD="$top/$build" \
			timeout "$timeout_s" sh "$3" >"$list/$1.log" 2>&1
	fi
	echo $? > "$list/$1.rc"
}

# report_one N KIND PATH: prints test N's output and counts it.
report_one() {
	l=$list/$1.log
	cat "$l"
	if [ "$2" = unit ]; then
		account "${3##*/}" \
			"$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$l" | awk '{s+=$1} END {print s+0}')" \
			"$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$l" | awk '{s+=$1} END {print s+0}')" \
			"$(grep -c '^\[  SKIPPED \]' "$l")" "$(cat "$list/$1.rc")"
	else
		account "${3##*/}" "$(grep -c '^PASS ' "$l")" "$(grep -c '^FAIL ' "$l")" \
			"$(grep -c '^SKIP ' "$l")" "$(cat "$list/$1.rc")"
	fi
}

# SKR_TEST_JOBS=N (default 1): N tests at a time.  The tests are written to
# share a machine (temporary directories, ports they pick, a lock around the
# machine-wide token plugin directory).  Each of N lanes takes the next test
# nobody has taken (mkdir is the claim); the outputs are printed and counted
# in the usual order once all have run.
jobs=${SKR_TEST_JOBS:-1}
case $jobs in
'' | *[!0-9]* | 0) echo "run.sh: SKR_TEST_JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;;
esac
if [ "$jobs" -gt 1 ]; then
	lane=0
	while [ "$lane" -lt "$jobs" ]; do
		(
			n=0
			while read -r kind path <&3; do
				n=$((n + 1))
				mkdir "$list/claim.$n" 2>/dev/null || continue
				run_one "$n" "$kind" "$path" 3<&-
			done 3< "$list/tests"
		) &
		lane=$((lane + 1))
	done
	wait
fi
n=0
# The list on fd 3: the tests keep the standard input they always had.
while read -r kind path <&3; do
	n=$((n + 1))
	[ "$jobs" -gt 1 ] || run_one "$n" "$kind" "$path" 3<&-
	report_one "$n" "$kind" "$path" 3<&-
done 3< "$list/tests"

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
