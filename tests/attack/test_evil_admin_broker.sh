# Attack: a hostile admin broker.  `skrctl broker` trusts the admin listener
# by its CA; whoever holds a certificate from that CA (or the listener
# itself, if compromised) chooses every byte of the answers.  Each command
# must refuse an answer of the wrong shape with broker_protocol (exit 2)
# naming what was wrong, show members of the wrong type as "-", never crash
# (json-c aborts on a type mismatch it is not guarded against), and let no
# control byte reach the terminal.  Before the fix this test found: any
# answer of the wrong type taken as an empty listing (exit 0), audit
# --follow aborting on an object, the new set's id from `refsets add`
# printed raw (an escape sequence reached the terminal), and --json passing
# DEL and C1 bytes through.
#
# Real parts: skrctl (the ASan build under make check), TLS on loopback with
# a certificate from the operator's CA, the evil listener
# (tests/attack/evil_admin_broker.py).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
here=$(cd "$(dirname "$0")" && pwd)
SKRCTL=${SKRCTL:-$BUILD/skrctl}
evil_pid=
cleanup() {
	[ -n "$evil_pid" ] && kill "$evil_pid" 2>/dev/null && wait "$evil_pid" 2>/dev/null
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

bdir=$tmpd/evil
mkdir -p "$bdir"
make_tls "$bdir" || { echo "FAIL tls"; exit 1; }
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$bdir/admin.token"
chmod 600 "$bdir/admin.token"
mode() { echo "$1" > "$bdir/mode"; }
mode keys-object
python3 "$here/evil_admin_broker.py" "$bdir/server.pem" "$bdir/server.key" "$bdir/port" "$bdir/mode" \
	2>"$bdir/evil.log" &
evil_pid=$!
i=0
while [ ! -s "$bdir/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$bdir/port" ] || { echo "FAIL evil-admin-start: $(cat "$bdir/evil.log")"; exit 1; }
URL="https://127.0.0.1:$(cat "$bdir/port")"
cat > "$SKR_ADMIN_CONFIG" <<CFG
{"url": "$URL", "ca": "$bdir/ca.pem", "token_file": "$bdir/admin.token"}
CFG
B() { "$SKRCTL" broker "$@"; }

# check NAME CONDITION [WHY]
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1${3:+: $(eval "$3" 2>&1 | head -c 600)}"; fails=$((fails + 1)); fi; }
# No byte below 0x20 other than a line feed, and no DEL, in the last command's output.
no_control() {
	check "$1-no-control-bytes" '! LC_ALL=C grep -q "[[:cntrl:]]" "$out" "$err"' \
		'LC_ALL=C grep -n "[[:cntrl:]]" "$out" "$err" | od -c | head -5'
}

# --- answers of the wrong shape: refused, named --------------------------------
mode keys-object
expect keys-object 2 "broker_protocol: $URL/v1/keys answered object where a JSON array was expected" -- B keys list
expect keys-object-json 2 '"reason": *"broker_protocol"' -- B keys list --json
mode key-array
expect key-array 2 'answered array where a JSON object was expected' -- B keys show disk-a
mode trailing
expect trailing-bytes 2 'answered something that is not a JSON array' -- B keys list
mode nul
expect embedded-nul 2 'answered something that is not a JSON array' -- B refsets list disk-a
mode deep
expect nesting-100000-deep 2 'answered something that is not a JSON array' -- B keys list
mode empty-200
expect empty-body 2 'answered nothing where a JSON array was expected' -- B audit
mode huge
expect body-over-1mib 2 'broker_protocol: .*answered more than 1048576 bytes' -- B keys list
mode audit-object
expect audit-object 2 'answered object where a JSON array was expected' -- B audit --limit 5
expect checkpoints-object 2 '/v1/audit/checkpoints answered object where a JSON array was expected' -- \
	B audit --checkpoints
mode queue-refsets-object
expect queue-refsets-object 2 '/v1/keys/k1/refsets answered object where a JSON array was expected' -- \
	B reseal-queue

# --- members of the wrong type: shown as "-", never a crash ------------------------
mode keys-escapes
expect keys-wrong-members 0 '^KEY_ID +CREATED$' -- B keys list
check keys-wrong-members-rows '[ "$(wc -l < "$out")" = 7 ]' 'cat "$out"'
check keys-escapes-shown-as-hex 'grep -q "^k\\\\x1b\[2J" "$out"' 'cat "$out"'
no_control keys-escapes
mode key-escapes
expect key-wrong-members 0 '^policy: ' -- B keys show disk-a
no_control key-escapes
mode queue-members
expect queue-non-object-members 0 '^KEY_ID +ID +STATE' -- B reseal-queue
check queue-one-queued-row '[ "$(grep -c "^k1 " "$out")" = 1 ]' 'cat "$out"'
no_control queue-members
# Before: follow mode called json_object_array_length() on an object and aborted.
mode audit-then-object
"$SKRCTL" broker audit --follow --interval 1 >"$out" 2>"$err" &
fpid=$!
sleep 3.5
kill -TERM "$fpid" 2>/dev/null
wait "$fpid"
frc=$?
check audit-follow-survives-object '[ "$frc" = 0 ]' 'echo "exit $frc"; cat "$err"'
check audit-follow-warns-once '[ "$(grep -c "warning: broker_protocol: .*answered object where a JSON array was expected; still polling" "$err")" = 1 ]' 'cat "$err"'

# --- refusals and texts: sanitised ------------------------------------------------
mode refusal-escapes
expect refusal-escapes 1 'skrctl: pcr_mismatch\\x1b\[2J.*HTTP 400: detail\\x1b' -- B keys list
no_control refusal-escapes
expect refusal-escapes-json 1 -- B keys list --json
no_control refusal-escapes-json
mode refusal-not-json
expect refusal-not-json 1 'skrctl: http_500: .*HTTP 500: no reason given' -- B keys list
printf '{"sha256": {"7": "%064d"}}' 0 > "$tmpd/pcrs.json"
mode refset-id-escapes
expect refset-id-not-a-number 0 '^added reference set \? ' -- \
	B refsets add disk-a --label x --pcrs-file "$tmpd/pcrs.json"
no_control refset-id
mode json-escapes
expect json-output-escaped 0 -- B keys list --json
no_control json-output
check json-output-parses 'python3 -c "import json,sys; assert json.load(open(sys.argv[1]))[0][\"key_id\"].startswith(\"k\x1b\")" "$out"' 'cat "$out"'

[ "$fails" -eq 0 ]
