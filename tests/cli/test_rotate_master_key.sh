# Master key rotation on a real broker database (skr-broker
# rotate-master-key): refused while a broker runs, with a wrong old key, a
# new key equal to the old one, or mid-rotation to a third key, each before
# anything is written; killed (SIGKILL) midway it leaves every secret
# readable under the old or the new key and no broker starts on the
# half-rotated database; run again it finishes; the broker then releases
# every key under the new master key and refuses the old one.
# Fault injection (SKR_FAULT) needs the sanitizer build (-DSKR_TEST_FAULTS).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1: $3"; fails=$((fails + 1)); fi; }
start_stack || exit 1
NKEYS=6
POLICY='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
PCRS=$(pcr_json 0 7 11)
i=1
while [ $i -le $NKEYS ]; do
	head -c 32 /dev/urandom > "$tmpd/secret-$i"
	admin POST /v1/keys "{\"key_id\": \"disk-$i\", \"secret\": \"$(base64 -w0 < "$tmpd/secret-$i")\", \"policy\": $POLICY}" >/dev/null
	admin POST /v1/keys/disk-$i/refsets "{\"label\": \"boot\", \"state\": \"current\", \"pcrs\": $PCRS}" >/dev/null
	i=$((i + 1))
done
check keys-created "[ \"\$(admin GET /v1/keys | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = $NKEYS ]" "$(cat "$tmpd/admin.out")"

# release_all NAME: every key released by the running broker, each its own secret.
release_all() {
	ok=0 i=1
	while [ $i -le $NKEYS ]; do
		$SKRCTL release --key-id "disk-$i" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" \
			--timeout 20 --out "$tmpd/got-$i" >/dev/null 2>"$tmpd/release.err" &&
			cmp -s "$tmpd/got-$i" "$tmpd/secret-$i" && ok=$((ok + 1))
		rm -f "$tmpd/got-$i"
		i=$((i + 1))
	done
	check "$1" "[ $ok = $NKEYS ]" "$ok of $NKEYS released with their secret; $(cat "$tmpd/release.err")"
}
release_all releases-before

cfg=$bdir/broker.json
old=$bdir/master.key
new=$tmpd/new.key
third=$tmpd/third.key
head -c 32 /dev/urandom > "$new" && chmod 600 "$new"
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$third" && chmod 600 "$third"
ROT="$BUILD/skr-broker rotate-master-key --config $cfg"
# config_with KEYFILE: the broker configuration with that master key.
config_with() {
	sed "s|\"master_key\": \"[^\"]*\"|\"master_key\": \"$1\"|" "$cfg" > "$tmpd/cfg-$(basename "$1").json"
	echo "$tmpd/cfg-$(basename "$1").json"
}
# db_state: the database's keys and meta rows as text (what must not change).
db_state() {
	python3 - "$bdir/broker.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for r in db.execute("SELECT key_id, hex(secret_iv), hex(secret_ct), hex(secret_tag) FROM keys ORDER BY key_id"): print(*r)
for r in db.execute("SELECT name, hex(value) FROM meta ORDER BY name"): print(*r)
print("audit", db.execute("SELECT COUNT(*) FROM audit").fetchone()[0])
PY
}

# Offline only: refused while the broker has the database open.
expect refused-while-broker-runs 1 'open in another process \(a running skr-broker\?\): stop every broker' -- $ROT --new-master-key "$new"
expect check-while-broker-runs 0 "^$NKEYS keys: $NKEYS open under the old master key, 0 under the new one" -- $ROT --new-master-key "$new" --check
stop_broker
state0=$(db_state)

expect wrong-old-key-refused 1 'store_decrypt_failed: the master key .*third.key is not the master key of .* refused, nothing written' -- \
	"$BUILD/skr-broker" rotate-master-key --config "$(config_with "$third")" --new-master-key "$new"
check wrong-old-key-wrote-nothing '[ "$(db_state)" = "$state0" ]' "the database changed"
expect same-key-refused 1 'the new master key is the master key of .* already' -- $ROT --new-master-key "$old"
check same-key-wrote-nothing '[ "$(db_state)" = "$state0" ]' "the database changed"
expect bad-new-key-file 1 'usage: master key file .* holds 4 bytes' -- sh -c "printf abcd > '$tmpd/short.key'; chmod 600 '$tmpd/short.key'; $ROT --new-master-key '$tmpd/short.key'"

# Killed right after the rotation was recorded, then after 2 and 4 secrets.
SKR_FAULT=rotate_after=0 $ROT --new-master-key "$new" >/dev/null 2>&1
if [ $? -ne 137 ]; then
	echo "FAIL fault-injection: $BUILD/skr-broker is not a test build (make check builds one with -DSKR_TEST_FAULTS)"
	fails=$((fails + 1))
	exit 1
fi
echo "PASS killed-after-0"
expect mid-0-all-readable 0 "^$NKEYS keys: $NKEYS open under the old master key, 0 under the new one" -- $ROT --new-master-key "$new" --check
check mid-0-next-recorded 'db_state | grep "^master_key_next " >/dev/null' "$(db_state | grep master)"
SKR_FAULT=rotate_after=2 $ROT --new-master-key "$new" >/dev/null 2>&1
check killed-after-2 '[ $? -eq 137 ]' "not killed"
SKR_FAULT=rotate_after=1 $ROT --new-master-key "$new" >/dev/null 2>&1
check killed-after-1-more '[ $? -eq 137 ]' "not killed"
# Each secret opens under exactly one of the keys (the broker store's own check, in Python).
check mid-secrets-intact "python3 - '$bdir/broker.db' '$old' '$new' <<'PY'
import sqlite3, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
keys = [open(p, 'rb').read() for p in sys.argv[2:]]
db = sqlite3.connect(sys.argv[1])
for kid, iv, ct, tag in db.execute('SELECT key_id, secret_iv, secret_ct, secret_tag FROM keys'):
    n = 0
    for k in keys:
        try:
            clear = AESGCM(k).decrypt(iv, ct + tag, kid.encode()); n += 1
            assert clear == open('$tmpd/secret-' + kid.split('-')[1], 'rb').read()
        except Exception as e:
            if isinstance(e, AssertionError): raise
    assert n == 1, (kid, n)
PY" "a secret is lost or opens under neither key"
expect mid-all-readable 0 "^$NKEYS keys: 3 open under the old master key, 3 under the new one \(an interrupted rotation" -- $ROT --new-master-key "$new" --check
stateM=$(db_state)

# No broker starts on a half-rotated database, with either key.
for k in old new; do
	eval kf=\$$k
	# A refusal exits at once; a broker still running after 60 s started
	# (no fixed sleep: a loaded machine may take seconds to start it).
	rc=0
	timeout -s KILL 60 "$BUILD/skr-broker" --config "$(config_with "$kf")" > "$out" 2> "$err" || rc=$?
	if [ "$rc" -eq 137 ]; then echo "FAIL mid-broker-$k-key-refused: it started"; fails=$((fails + 1))
	else check "mid-broker-$k-key-refused" "[ $rc -eq 1 ] && grep -q 'in the middle of a master key rotation .* this is its $k key' '$err'" "exit $rc: $(cat "$err")"; fi
done
expect mid-third-key-refused 1 'an interrupted rotation to another master key' -- $ROT --new-master-key "$third"
check mid-third-key-wrote-nothing '[ "$(db_state)" = "$stateM" ]' "the database changed"
expect mid-swapped-keys-refused 1 'is the key an interrupted rotation was going to' -- \
	"$BUILD/skr-broker" rotate-master-key --config "$(config_with "$new")" --new-master-key "$old"

# Run again: it finishes; once more: nothing to do.
expect rerun-finishes 0 "rotation resumed and finished: $NKEYS keys, 3 resealed now, 3 under the new key already" -- $ROT --new-master-key "$new"
check finished-no-next '! db_state | grep "^master_key_next " >/dev/null' "$(db_state | grep master)"
expect rerun-nothing-to-do 0 'nothing to do' -- $ROT --new-master-key "$new"
expect check-after 0 '"under_old": 0, "under_new": 6' -- \
	"$BUILD/skr-broker" rotate-master-key --config "$(config_with "$new")" --new-master-key "$new" --check --json

# The broker refuses the old key, and with the new one releases every key.
expect broker-old-key-refused 1 'store_decrypt_failed: the master key does not match database .*after a rotation, under the new one' -- \
	"$BUILD/skr-broker" --config "$cfg"
cp "$new" "$old"
# A broker started while a rotation holds the database (its exclusive flock) is refused.
expect broker-refused-during-rotation 1 'held by skr-broker rotate-master-key' -- \
	flock -x "$bdir/broker.db.lock" "$BUILD/skr-broker" --config "$cfg"
start_broker "$bdir" || { echo "FAIL broker-new-key-start: $(tail -n 3 "$bdir/broker.log")"; exit 1; }
echo "PASS broker-new-key-start"
release_all releases-after-rotation
admin GET "/v1/audit?limit=100" > "$tmpd/audit.json"
check audit-rows "python3 -c 'import json,sys
d = [r[\"detail\"] for r in json.load(open(sys.argv[1])) if r[\"action\"] == \"admin:rotate-master-key\"]
assert any(x.startswith(\"finished: 6 keys\") for x in d) and any(x.startswith(\"begun: 6 keys\") for x in d), d' '$tmpd/audit.json'" "$(head -c 300 "$tmpd/audit.json")"
[ "$fails" -eq 0 ]
