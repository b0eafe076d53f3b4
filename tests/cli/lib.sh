# Assertions for CLI tests: each prints "PASS name" or "FAIL name: why".
# Usage: expect NAME EXIT_CODE [stderr-regex] -- command args...
out=$(mktemp) err=$(mktemp) tmpd=$(mktemp -d)
trap 'rm -rf "$out" "$err" "$tmpd"' EXIT
fails=0

expect() {
	name=$1 code=$2
	shift 2
	pattern=
	if [ "$1" != "--" ]; then pattern=$1; shift; fi
	shift
	"$@" >"$out" 2>"$err"
	rc=$?
	if [ "$rc" -ne "$code" ]; then
		echo "FAIL $name: exit $rc, wanted $code; stderr: $(head -c 400 "$err")"
		fails=$((fails + 1))
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$out" "$err"; then
		echo "FAIL $name: output does not match /$pattern/; stderr: $(head -c 400 "$err")"
		fails=$((fails + 1))
	else
		echo "PASS $name"
	fi
}

# Asserts that the last command's stdout matches a regex.
expect_stdout() {
	name=$1 pattern=$2
	if grep -Eq -- "$pattern" "$out"; then
		echo "PASS $name"
	else
		echo "FAIL $name: stdout does not match /$pattern/: $(head -c 400 "$out")"
		fails=$((fails + 1))
	fi
}
