# Every program and every skrctl command answers --help with its usage on
# stdout and exit 0; every command skrctl lists has its section in skrctl(8).
# The command list comes from `skrctl --help` itself, so a new command is
# covered without editing this test.
. "$(dirname "$0")/lib.sh"

expect skrctl-help 0 '^usage: skrctl COMMAND' -- "$SKRCTL" --help
# A command is one word, or a group and its word (snp verify, broker keys): the
# second word is lower case and starts with a letter (not an option or operand).
cmds=$(sed -n 's/^  skrctl \([a-z-]*\)\( [a-z][a-z-]*\)\{0,1\} .*/\1\2/p' "$out")
n=$(printf '%s\n' "$cmds" | grep -c .)
if [ "$n" -ge 19 ]; then echo "PASS skrctl-help-lists-commands"; else
	echo "FAIL skrctl-help-lists-commands: $n commands in skrctl --help"; fails=$((fails + 1)); fi

man=$(dirname "$0")/../../man/skrctl.8
printf '%s\n' "$cmds" | while read -r cmd; do
	[ -n "$cmd" ] || continue
	tag=$(echo "$cmd" | tr ' ' '-')
	# shellcheck disable=SC2086 # "group name" splits into two words
	expect "help-$tag" 0 "^usage: skrctl $cmd " -- "$SKRCTL" $cmd --help
	if [ -s "$err" ]; then echo "FAIL help-$tag-quiet: $(head -c 200 "$err")"; else echo "PASS help-$tag-quiet"; fi
	# -h too, and after other arguments (before them nothing runs).
	expect "help-short-$tag" 0 "^usage: skrctl $cmd " -- "$SKRCTL" $cmd /nonexistent -h
	man_name=$(echo "$cmd" | sed 's/-/\\\\-/g')
	if grep -Eq "^\.(SS|B|TP) .*\"?$man_name( |\"|\\\\f|$)" "$man" ||
		grep -Eq "^\.B $man_name" "$man"; then
		echo "PASS man-has-$tag"
	else
		echo "FAIL man-has-$tag: no section for '$cmd' in man/skrctl.8"
	fi
done | tee "$tmpd/cmds.out"
grep -q '^FAIL' "$tmpd/cmds.out" && fails=$((fails + 1))

# A group alone lists its commands; unknown commands are usage errors.
expect group-help 0 '^  skrctl eventlog show' -- "$SKRCTL" eventlog --help
expect group-help-broker 0 '^  skrctl broker reseal-queue' -- "$SKRCTL" broker --help
expect group-bare 2 'skrctl eventlog replay' -- "$SKRCTL" eventlog
expect unknown-command 2 "unknown command 'frobnicate'" -- "$SKRCTL" frobnicate
expect unknown-subcommand 2 "unknown command 'snp frob'" -- "$SKRCTL" snp frob
# A real usage error still exits 2 with the same usage line.
expect enroll-usage-error 2 'usage: skrctl enroll DEVICE' -- "$SKRCTL" enroll --no-such-option

expect broker-help 0 '^usage: skr-broker' -- "$BUILD/skr-broker" --help
expect unlock-help 0 '^usage: skr-unlock' -- "$BUILD/skr-unlock" --help

exit $((fails > 0))
