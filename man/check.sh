#!/bin/sh
# Checks man pages with groff's and man's warnings on; any warning fails.
# Prints "ok PAGE" or "FAIL PAGE" and the warnings, one page after another.
fail=0
for page in "$@"; do
	out=$( { groff -man -ww -z "$page"; man --warnings -l "$page" >/dev/null; } 2>&1)
	if [ -z "$out" ]; then
		echo "ok $page"
	else
		echo "FAIL $page"
		printf '%s\n' "$out" | sed 's/^/    /'
		fail=1
	fi
done
exit $fail
