# Attack: a hostile broker.  A broker the client trusts by its CA (or the
# network after it) answers with null, mistyped, oversized or mis-wrapped
# fields, a challenge with a bad nonce or PCR index, and denials whose text
# carries terminal escape sequences and raw control bytes.  skrctl release and
# skr-unlock (the same release client the token plugin runs) must refuse each
# with its documented status and a reason naming the field — never crash —
# and no control byte may reach their stdout, stderr or the kernel log.
#
# Real parts: swtpm provisioned as a fake Azure vTPM (the evidence is real),
# the evil broker (tests/attack/evil_broker.py: python3 http.server over TLS
# with a certificate from the client's CA, on loopback), LUKS2 image files.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
here=$(cd "$(dirname "$0")" && pwd)
SKRCTL=${SKRCTL:-$BUILD/skrctl}
UNLOCK=$BUILD/skr-unlock
PLUGIN=${SKR_TOKEN_PLUGIN:-$BUILD/libcryptsetup-token-skr.so}
PLUGIN_DIR=$(cryptsetup --help 2>/dev/null | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
PLUGIN_DIR=${PLUGIN_DIR:-/lib/x86_64-linux-gnu/cryptsetup}
installed_plugin=
evil_pid=
cleanup() {
	[ -n "$installed_plugin" ] && rm -f "$installed_plugin"
	[ -n "$evil_pid" ] && kill "$evil_pid" 2>/dev/null && wait "$evil_pid" 2>/dev/null
	stop_vtpm
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bdir=$tmpd/evil
az=$tmpd/az
mkdir -p "$bdir" "$az"
start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-start"; exit 1; }
"$BUILD/tools/skr-fake-azure" --tcti "$TCTI" --out "$az" >/dev/null || { echo "FAIL fake-azure"; exit 1; }
make_tls "$bdir" || { echo "FAIL tls"; exit 1; }

echo alg-null > "$bdir/mode"
python3 "$here/evil_broker.py" "$bdir/server.pem" "$bdir/server.key" "$bdir/port" "$bdir/mode" \
	2>"$bdir/evil.log" &
evil_pid=$!
i=0
while [ ! -s "$bdir/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$bdir/port" ] || { echo "FAIL evil-broker-start: $(cat "$bdir/evil.log")"; exit 1; }
EVIL="https://127.0.0.1:$(cat "$bdir/port")"

# skr-unlock and the plugin take the broker and CA from the client
# configuration (SKR_CONFIG): here it names the evil broker, as a VM whose
# configured broker went bad would; the token names only the key.
export SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline
echo "rd.skr.debug rd.skr.timeout=20" > "$SKR_CMDLINE"
img=$tmpd/disk.img
printf 'pass phrase' > "$tmpd/pass"
head -c 32 /dev/urandom > "$tmpd/secret.bin"
truncate -s 32M "$img"
FAST='--pbkdf pbkdf2 --pbkdf-force-iterations 1000'
# client_config FILE CA: the configuration naming the evil broker.
client_config() {
	python3 - "$2" "$EVIL" "$TCTI" > "$1" <<'PY'
import json, sys
ca, url, tcti = sys.argv[1:4]
print(json.dumps({"brokers": [url], "ca": ca, "tcti": tcti}))
PY
	chmod 644 "$1"
}
configure_unlock() {
	mkdir -p "${SKR_CONFIG%/*}"
	client_config "$SKR_CONFIG" "$bdir/ca.pem"
	python3 - > "$tmpd/token.json" <<'PY'
import json
print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 2, "key_id": "disk-1",
                  "pcrs": [0, 7, 11], "timeout": 20}))
PY
	cryptsetup token import "$img" --json-file "$tmpd/token.json" --token-id 0
}
if cryptsetup luksFormat --type luks2 --batch-mode $FAST "$img" "$tmpd/pass" &&
	cryptsetup luksAddKey --batch-mode $FAST --key-file "$tmpd/pass" --key-slot 1 "$img" "$tmpd/secret.bin" &&
	configure_unlock; then
	echo "PASS luks-image"
else
	echo "FAIL luks-image"; exit 1
fi

# clean NAME FILE...: no control byte (other than newline) and nothing outside
# printable ASCII in what the programs printed or logged.
clean() {
	n=$1
	shift
	if LC_ALL=C grep -qaP '[\x00-\x09\x0b-\x1f\x7f-\xff]' "$@"; then
		echo "FAIL $n: control or non-ASCII bytes reached the output: $(LC_ALL=C grep -haP '[\x00-\x09\x0b-\x1f\x7f-\xff]' "$@" | od -An -c | head -c 300)"
		fails=$((fails + 1))
	else
		echo "PASS $n"
	fi
}

# no_crash NAME: the last command was not killed by a signal (SIGSEGV, abort).
no_crash() {
	if [ "$rc" -ge 128 ]; then
		echo "FAIL $1: exit $rc (killed by a signal)"
	else
		echo "PASS $1"
	fi
}

# attack MODE CTL_EXIT REASON DETAIL: one case against skrctl release and
# skr-unlock; both must name REASON, and the detail must match DETAIL.
attack() {
	mode=$1 want=$2 reason=$3 detail=$4
	echo "$mode" > "$bdir/mode"
	: > "$SKR_KMSG"
	expect "release-$mode" "$want" "skrctl: $reason: .*$detail" -- "$SKRCTL" release --key-id disk-1 \
		--broker "$EVIL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --out "$tmpd/released"
	no_crash "release-$mode-no-crash"
	[ ! -e "$tmpd/released" ] && echo "PASS release-$mode-nothing-written" ||
		{ echo "FAIL release-$mode-nothing-written"; rm -f "$tmpd/released"; }
	clean "release-$mode-clean-output" "$out" "$err"
	# skr-unlock: no prompt (the caller asks next), so exit 1, "stays closed";
	# rd.skr.debug puts the detail on the console too.
	expect "unlock-$mode" 1 "detail: .*$detail" -- setsid -w "$UNLOCK" --device "$img" \
		--test-passphrase --no-prompt </dev/null
	no_crash "unlock-$mode-no-crash"
	grep -q "($reason)" "$err" && grep -q 'stays closed' "$err" &&
		grep -q "^skr-unlock: detail: .*$detail" "$SKR_KMSG" &&
		echo "PASS unlock-$mode-reason-$reason" ||
		echo "FAIL unlock-$mode-reason-$reason: $(head -c 400 "$err")"
	clean "unlock-$mode-clean-output" "$out" "$err" "$SKR_KMSG"
}

P=broker_protocol
attack alg-null 2 $P 'wrapped.alg must be "ECDH-P256-HKDF-SHA256-A256GCM"'
attack wrapped-array 2 $P 'lacks the object "wrapped"'
attack epk-number 2 $P 'wrapped.epk must be base64 of 65 bytes'
attack iv-long 2 $P 'wrapped.iv must be base64 of 12 bytes'
attack ciphertext-huge 2 $P 'wrapped.ciphertext must be base64 of 1 to 128 bytes'
attack not-json 2 $P 'not one JSON object'
attack body-10mb 2 $P 'answered more than 65536 bytes'
attack body-10mb-nolength 2 $P 'answered more than 65536 bytes'
attack detail-1mb 2 $P 'answered more than 65536 bytes'
attack detail-2kb 2 $P '"detail" must be a string of at most 1024 bytes'
attack mis-wrapped 2 $P 'wrapped secret does not open'
attack nonce-short 2 $P 'nonce must be base64 of 32 bytes'
attack pcr-99 2 $P 'pcrs.indexes must hold integers from 0 to 23'
attack challenge-types 2 $P 'nonce must be base64 of 32 bytes'
attack reason-escapes 2 $P '"reason" of a denial is not a known refusal reason'
attack error-400-escapes 2 $P 'answered HTTP 400: malformed: '
# A well-formed denial is the broker's verdict (exit 1), its text defused.
attack denial-escapes 1 pcr_mismatch 'refused: PCR 7: seen 00'
grep -q 'PCR 7: seen 00\\x1b\[2J\\x1b\[H\\x1b\]0;owned\\x07' "$err" &&
	echo "PASS denial-escapes-shown-as-text" || echo "FAIL denial-escapes-shown-as-text: $(head -c 400 "$err")"
attack denial-raw-bytes 1 pcr_mismatch 'refused: PCR 7: \\x1b\[2J \\xc2\\x9b31m \\x9b \\xff\\xfe \\x7f \\x07 end'

# The broker's evil detail also reaches skrctl's --json output as plain text.
echo denial-escapes > "$bdir/mode"
expect release-json-escapes 1 -- "$SKRCTL" release --key-id disk-1 --broker "$EVIL" --ca "$bdir/ca.pem" \
	--tcti "$TCTI" --timeout 20 --out "$tmpd/released" --json
python3 - "$out" <<'PY' && echo "PASS release-json-detail-sanitised" || echo "FAIL release-json-detail-sanitised: $(head -c 400 "$out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["reason"] == "pcr_mismatch", r
assert all(0x20 <= ord(c) < 0x7f for c in r["detail"]), r["detail"]
assert "\\x1b[2J" in r["detail"], r["detail"]
PY
clean release-json-clean-output "$out" "$err"

# mlock refused (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0): said once, not ignored.
# ASan makes mlock a no-op that succeeds, so only uninstrumented binaries can
# show it; the plugin below (never instrumented) always does.
NOLOCK="prlimit --memlock=0:0 setpriv --bounding-set -ipc_lock --inh-caps -ipc_lock --"
echo denial-escapes > "$bdir/mode"
# make check passes its uninstrumented build as SKR_PLAIN_BUILD for this.
LOCK_CTL=$SKRCTL LOCK_UNLOCK=$UNLOCK
if grep -q __asan_init "$SKRCTL" "$UNLOCK" && [ -x "${SKR_PLAIN_BUILD:-}/skrctl" ] &&
	[ -x "${SKR_PLAIN_BUILD:-}/skr-unlock" ]; then
	LOCK_CTL=$SKR_PLAIN_BUILD/skrctl LOCK_UNLOCK=$SKR_PLAIN_BUILD/skr-unlock
fi
if grep -q __asan_init "$LOCK_CTL" "$LOCK_UNLOCK"; then
	echo "SKIP release-mlock-refused, unlock-mlock-refused: ASan build (mlock always succeeds) and no SKR_PLAIN_BUILD"
else
	expect release-mlock-refused 1 'skr: warning: cannot lock memory .*secrets may be swapped' -- $NOLOCK \
		"$LOCK_CTL" release --key-id disk-1 --broker "$EVIL" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --out "$tmpd/released"
	[ "$(grep -c 'cannot lock memory' "$err")" = 1 ] && echo "PASS release-mlock-warned-once" ||
		echo "FAIL release-mlock-warned-once: $(grep -c 'cannot lock memory' "$err")"
	: > "$SKR_KMSG"
	expect unlock-mlock-refused 1 'skr: warning: cannot lock memory .*secrets may be swapped' -- $NOLOCK \
		setsid -w "$LOCK_UNLOCK" --device "$img" --test-passphrase --no-prompt </dev/null
	grep -q '^skr-unlock: warning: cannot lock memory' "$SKR_KMSG" && echo "PASS unlock-mlock-on-kmsg" ||
		echo "FAIL unlock-mlock-on-kmsg: $(head -c 300 "$SKR_KMSG")"
fi

# No core dumps: the files under a non-dumpable process's /proc/PID (not the
# directory itself) belong to root whatever its user (proc(5)), so skrctl and
# skr-unlock run as nobody and are looked at while the broker holds their
# release.
pub=$(mktemp -d)
chmod 1777 "$pub"
cp "$bdir/ca.pem" "$img" "$pub/" && chmod 644 "$pub/ca.pem" "$pub/disk.img"
client_config "$pub/client.json" "$pub/ca.pem"
echo stall > "$bdir/mode"
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@" >/dev/null 2>&1 </dev/null &
	pid=$!
	sleep 2
	owner=$(stat -c %U "/proc/$pid/environ" 2>/dev/null)
	wait "$pid"
}
as_nobody "$SKRCTL" release --key-id disk-1 --broker "$EVIL" --ca "$pub/ca.pem" --tcti "$TCTI" --timeout 20 \
	--out "$pub/released"
[ "$owner" = root ] && echo "PASS release-not-dumpable" || echo "FAIL release-not-dumpable: /proc/PID/environ owned by '$owner'"
as_nobody env SKR_KMSG="$pub/kmsg" SKR_CONFIG="$pub/client.json" "$UNLOCK" --device "$pub/disk.img" --test-passphrase --no-prompt
[ "$owner" = root ] && echo "PASS unlock-not-dumpable" || echo "FAIL unlock-not-dumpable: /proc/PID/environ owned by '$owner'"
rm -rf "$pub"

# The token plugin (the same release client, loaded by cryptsetup): the
# plugin directory is machine-wide, so take the lock test_unlock.sh takes.
if [ -d "$PLUGIN_DIR" ] && [ -w "$PLUGIN_DIR" ] && [ -f "$PLUGIN" ]; then
	exec 9>/run/lock/skr-token-plugin.lock
	flock 9
	installed_plugin=$PLUGIN_DIR/libcryptsetup-token-skr.so
	cp "$PLUGIN" "$installed_plugin"
	for mode in alg-null denial-escapes denial-raw-bytes detail-1mb; do
		echo "$mode" > "$bdir/mode"
		case $mode in
		denial-*) words='skr: refused by https://127.0.0.1:[0-9]*: PCR 7 differs from the approved boot state (pcr_mismatch)' ;;
		*) words="skr: the broker's answer did not follow the protocol (broker_protocol)" ;;
		esac
		cryptsetup open --test-passphrase --token-only --token-type skr "$img" >"$out" 2>"$err"
		rc=$?
		no_crash "plugin-$mode-no-crash"
		[ "$rc" -ne 0 ] && grep -q "$words" "$err" && echo "PASS plugin-$mode-refused" ||
			echo "FAIL plugin-$mode-refused: exit $rc: $(head -c 300 "$err")"
		clean "plugin-$mode-clean-output" "$out" "$err"
	done
	echo denial-escapes > "$bdir/mode"
	$NOLOCK cryptsetup open --test-passphrase --token-only --token-type skr "$img" >"$out" 2>"$err"
	grep -q 'skr: warning: cannot lock memory' "$err" && echo "PASS plugin-mlock-refused-reported" ||
		echo "FAIL plugin-mlock-refused-reported: $(head -c 300 "$err")"
	# The header is the attacker's too: luksDump shows its text defused.
	cp "$img" "$tmpd/dump.img"
	sed 's/"disk-1"/"disk-1\\u001b[2J\\u001b]0;owned\\u0007\\u009b"/' "$tmpd/token.json" > "$tmpd/evil-token.json"
	# The plugin refuses to import such a token; the attacker writes header
	# bytes directly, so it is imported here with the plugin out of the way.
	rm -f "$installed_plugin"
	cryptsetup token import "$tmpd/dump.img" --json-file "$tmpd/evil-token.json" --token-id 5 >/dev/null 2>&1 ||
		echo "FAIL plugin-dump-evil-token-import"
	cp "$PLUGIN" "$installed_plugin"
	cryptsetup luksDump "$tmpd/dump.img" >"$out" 2>"$err"
	# A key id outside [A-Za-z0-9._-] makes the token invalid; the dump says
	# so, and what it quotes of the header is defused (checked below).
	grep -q 'invalid skr token: .*key_id' "$out" "$err" &&
		echo "PASS plugin-dump-escapes-refused" || echo "FAIL plugin-dump-escapes-refused: $(grep -a 'skr' "$out" "$err" | od -c | head -5)"
	# (luksDump indents with tabs: those are allowed here)
	if LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$out" "$err"; then
		echo "FAIL plugin-dump-clean-output: $(LC_ALL=C grep -haP '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$out" "$err" | od -An -c | head -c 300)"
	else
		echo "PASS plugin-dump-clean-output"
	fi
	rm -f "$installed_plugin"
	installed_plugin=
	flock -u 9
else
	echo "FAIL plugin-install: $PLUGIN_DIR is not writable or $PLUGIN is missing"
fi

[ "$fails" -eq 0 ]
