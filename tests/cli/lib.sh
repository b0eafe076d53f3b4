# Assertions for CLI tests: each prints "PASS name" or "FAIL name: why".
# Usage: expect NAME EXIT_CODE [stderr-regex] -- command args...
out=$(mktemp) err=$(mktemp) tmpd=$(mktemp -d)
trap 'rm -rf "$out" "$err" "$tmpd"' EXIT
fails=0

# Nothing a test runs may read or write the machine's own skr state: the
# client configuration (/etc/skr/client.json, which enroll writes when there
# is none), skrctl broker's admin configuration (/etc/skr/admin.json), the
# boot gate log and the unlock records (/run/skr).  Every test gets its own,
# under its temporary directory; a test may point them elsewhere itself.
export SKR_CONFIG=$tmpd/etc/client.json
export SKR_ADMIN_CONFIG=$tmpd/etc/admin.json
export SKR_GATE_LOG=$tmpd/run/gate.log
export SKR_RUN_DIR=$tmpd/run
export SKR_KMSG=$tmpd/kmsg	# skr-unlock's console lines, never the machine's /dev/kmsg
mkdir -p "$tmpd/etc" "$tmpd/run"

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

# own_plugin: this tree's token plugin (SKR_TOKEN_PLUGIN, else $BUILD's) in
# libcryptsetup's machine-wide plugin directory until the test exits (its
# EXIT trap calls drop_plugin).  libcryptsetup validates every skr token it
# imports or writes with whichever plugin is installed there, and another
# checkout's may know another token schema: so the directory is taken under
# the lock that every test installing a plugin takes, for the whole test.
# A fresh machine may have no plugin directory yet: it is made here and
# removed again by drop_plugin.
installed_plugin=
created_plugin_dir=
own_plugin() {
	PLUGIN=${SKR_TOKEN_PLUGIN:-$BUILD/libcryptsetup-token-skr.so}
	PLUGIN_DIR=$(cryptsetup --help 2>/dev/null | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
	PLUGIN_DIR=${PLUGIN_DIR:-/lib/x86_64-linux-gnu/cryptsetup}
	mkdir -p /run/lock
	exec 9>/run/lock/skr-token-plugin.lock
	flock 9
	if [ ! -d "$PLUGIN_DIR" ] && mkdir -p "$PLUGIN_DIR" 2>/dev/null; then
		created_plugin_dir=$PLUGIN_DIR
	fi
	if [ -d "$PLUGIN_DIR" ] && [ -w "$PLUGIN_DIR" ] && [ -f "$PLUGIN" ]; then
		installed_plugin=$PLUGIN_DIR/libcryptsetup-token-skr.so
		cp "$PLUGIN" "$installed_plugin"
	else
		rm -f "$PLUGIN_DIR/libcryptsetup-token-skr.so" 2>/dev/null
	fi
}
drop_plugin() {
	[ -n "$installed_plugin" ] && rm -f "$installed_plugin"
	installed_plugin=
	[ -n "$created_plugin_dir" ] && rmdir "$created_plugin_dir" 2>/dev/null
	created_plugin_dir=
}
