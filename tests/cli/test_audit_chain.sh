# The tamper-evident audit log end to end: a real skr-broker (over TLS on
# loopback, swtpm as a fake Azure vTPM for real releases) with an audit
# signing key chains every row and signs checkpoints; the log and the
# checkpoints are exported through the admin API (skrctl broker audit) and
# checked by skrctl audit verify.  Then the export is tampered with, and so
# is the database itself (then exported again): an edited, a deleted and a
# reordered row, a truncated tail and a forged checkpoint are each refused
# with the right reason and the right seq named.  SKR_TEST_DB=postgresql
# runs it on a private PostgreSQL server (test_audit_chain_pg.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'stop_broker KILL; stop_vtpm; stop_pg; [ -n "${KEEP:-}" ] || rm -rf "$out" "$err" "$tmpd"' EXIT
tamper=$(dirname "$0")/audit_tamper.py

check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1${3:+: $(eval "$3" 2>&1 | head -c 600)}"; fails=$((fails + 1)); fi; }

# restart: the broker started again (new ports), skrctl broker pointed at it.
admin_config() {
	printf '{"url": "%s", "ca": "%s", "token_file": "%s"}\n' "$ADMIN_URL" "$bdir/ca.pem" \
		"$bdir/admin.token" > "$SKR_ADMIN_CONFIG"
}
restart() {
	start_broker "$bdir" || { echo "FAIL broker-restart: $(tail -5 "$bdir/broker.log")"; exit 1; }
	admin_config
}
start_stack || exit 1
admin_config
B() { "$SKRCTL" broker "$@"; }
V() { "$SKRCTL" audit verify --log "$1" --checkpoints "$2" --key "$tmpd/audit.pub" --json; }
# export NAME: the whole log and the checkpoints, as an operator exports them.
export_log() {
	B audit --json --all > "$tmpd/$1.log" && B audit --checkpoints --json > "$tmpd/$1.cps"
}
# verdict NAME LOG CPS CODE REASON SEQ DETAIL-REGEX: verify's exit, reason, named seq and detail.
verdict() {
	V "$2" "$3" > "$out" 2> "$err"
	rc=$?
	if [ "$rc" -ne "$4" ]; then
		echo "FAIL $1: exit $rc, wanted $4: $(head -c 400 "$err") $(head -c 400 "$out")"
		fails=$((fails + 1))
		return
	fi
	if why=$(python3 -c 'import json, re, sys
r = json.load(open(sys.argv[1]))
assert r["valid"] is False and r["reason"] == sys.argv[2], r
assert sys.argv[3] == "-" or r.get("seq") == int(sys.argv[3]), r
assert re.search(sys.argv[4], r["detail"]), r' "$out" "$5" "$6" "$7" 2>&1); then
		echo "PASS $1"
	else
		echo "FAIL $1: $(echo "$why" | tail -1 | head -c 600)"
		fails=$((fails + 1))
	fi
}

# --- the first broker ran without a signing key: rows chained, no checkpoint -----
head -c 32 /dev/urandom > "$tmpd/secret.bin"
cat > "$tmpd/policy.json" <<'P'
{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}},
 "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}
P
B keys create disk-a --secret-file "$tmpd/secret.bin" --policy-file "$tmpd/policy.json" >/dev/null
pcr_json 0 7 11 > "$tmpd/pcrs.json"
B refsets add disk-a --label boot-1 --pcrs-file "$tmpd/pcrs.json" >/dev/null
expect unkeyed-export 0 -- B audit --json --all
check unkeyed-rows-chained 'python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert sorted(x[\"seq\"] for x in r) == [1, 2] and all(len(x[\"hash\"]) == 64 for x in r)" "$out"' 'cat "$out"'
expect unkeyed-no-checkpoints 0 -- B audit --checkpoints --json
check unkeyed-checkpoints-empty '[ "$(tr -d " \n" < "$out")" = "[]" ]' 'cat "$out"'

# --- with the key: a checkpoint every second and one at shutdown ----------------
openssl ecparam -name prime256v1 -genkey -noout -out "$tmpd/audit.key" 2>/dev/null
chmod 600 "$tmpd/audit.key"
openssl ec -in "$tmpd/audit.key" -pubout -out "$tmpd/audit.pub" 2>/dev/null
stop_broker
sed -i "s|\"threads\": 2|\"threads\": 2, \"audit_signing_key\": \"$tmpd/audit.key\", \"audit_checkpoint_interval\": 1|" "$bdir/broker.json"
restart
REL() { "$SKRCTL" release --key-id "$1" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --out "$tmpd/rel.bin"; }
expect release-1 0 'released 32 bytes' -- REL disk-a
expect release-2 0 'released 32 bytes' -- REL disk-a
expect release-denied 1 'key_unknown' -- REL nope
# Concurrent writers: admin calls that fail are audited afterwards through the
# group commit, those that change a key in their own transaction; all chain.
jobs_=
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	curl -sS -o /dev/null --cacert "$bdir/ca.pem" -X DELETE \
		-H "Authorization: Bearer $(cat "$bdir/admin.token")" "$ADMIN_URL/v1/keys/gone-$i" &
	jobs_="$jobs_ $!"
done
B keys policy disk-a --policy-file "$tmpd/policy.json" >/dev/null &
wait $jobs_ $!	# not the broker's nor the swtpm's pid
expect release-3 0 'released 32 bytes' -- REL disk-a
sleep 2.5	# a periodic checkpoint covers every row
export_log good
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$tmpd/good.log")
check rows-all-exported '[ "$n" -ge 18 ]' 'echo "$n rows"'
check checkpoint-covers-head 'python3 -c "import json,sys; l=json.load(open(sys.argv[1])); c=json.load(open(sys.argv[2])); assert c and c[-1][\"seq\"] == max(r[\"seq\"] for r in l)" "$tmpd/good.log" "$tmpd/good.cps"' 'cat "$tmpd/good.cps"'
check hashes-recomputed-independently '[ "$(python3 "$tamper" check "$tmpd/good.log")" = ok ]' 'python3 "$tamper" check "$tmpd/good.log"'
expect verify-good 0 "^audit log: valid: rows 1 to $n chained, [0-9]+ checkpoints? verified, anchored through row $n" -- \
	"$SKRCTL" audit verify --log "$tmpd/good.log" --checkpoints "$tmpd/good.cps" --key "$tmpd/audit.pub"
expect verify-good-json 0 -- V "$tmpd/good.log" "$tmpd/good.cps"
check verify-good-json-fields "python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r[\"valid\"] and r[\"rows\"] == $n and r[\"last_seq\"] == $n and r[\"anchored_seq\"] == $n and r[\"unanchored_rows\"] == 0' '$out'" 'cat "$out"'

# --- the exported log tampered with ---------------------------------------------
G() { python3 "$tamper" "$1" "$tmpd/good.log" "$tmpd/t.log" "$2" ${3:-}; }
G edit 5;     verdict export-edit "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken 5 '^row 5 changed: its hash'
G rehash 5;   verdict export-edit-rehashed "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken 5 "^row 5 changed .*row 6's prev"
G delete 5;   verdict export-delete "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken 5 '^row 5 removed: row 6 follows row 4'
G swap 5 6;   verdict export-reorder "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken 5 '^rows reordered: row 5 comes after row 6'
G truncate 2; verdict export-truncate "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken $((n - 1)) "^tail truncated: the log ends at row $((n - 2))"
G rewrite 5;  verdict export-rewrite-chain "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken - '^rows rewritten'
G delete 1;   verdict export-delete-first "$tmpd/t.log" "$tmpd/good.cps" 1 audit_chain_broken 1 '^row 1 removed'
python3 "$tamper" forge-cp "$tmpd/good.cps" "$tmpd/t.cps" 1
cp_seq=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['seq'])" "$tmpd/good.cps")
verdict export-forged-checkpoint "$tmpd/good.log" "$tmpd/t.cps" 1 audit_checkpoint_invalid "$cp_seq" '^checkpoint 1 .*forged or changed'
python3 "$tamper" cp-seq "$tmpd/good.cps" "$tmpd/t.cps" 1
verdict export-checkpoint-seq-moved "$tmpd/good.log" "$tmpd/t.cps" 1 audit_checkpoint_invalid $((cp_seq + 1)) 'signature does not verify'
echo '[]' > "$tmpd/none.cps"
verdict no-checkpoint "$tmpd/good.log" "$tmpd/none.cps" 1 audit_checkpoint_invalid - 'nothing anchors'
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl ec -pubout -out "$tmpd/other.pub" 2>/dev/null
expect wrong-key 1 'audit_checkpoint_invalid: checkpoint 1 ' -- \
	"$SKRCTL" audit verify --log "$tmpd/good.log" --checkpoints "$tmpd/good.cps" --key "$tmpd/other.pub"

# --- the database tampered with, then exported again ----------------------------
seq_client() { broker_sql "$bdir" "SELECT client FROM audit WHERE seq = $1"; }
orig=$(seq_client 7)
broker_sql "$bdir" "UPDATE audit SET client = '198.51.100.9' WHERE seq = 7"
export_log db; verdict db-edit "$tmpd/db.log" "$tmpd/db.cps" 1 audit_chain_broken 7 '^row 7 changed: its hash'
broker_sql "$bdir" "UPDATE audit SET client = '$orig' WHERE seq = 7"
export_log db; expect db-edit-undone 0 -- V "$tmpd/db.log" "$tmpd/db.cps"
# Two rows change places: their seq (and links) swapped in the table.
broker_sql "$bdir" "UPDATE audit SET seq = -1 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = 9; UPDATE audit SET seq = 9 WHERE seq = -1"
export_log db; verdict db-reorder "$tmpd/db.log" "$tmpd/db.cps" 1 audit_chain_broken 8 '^row 8 changed'
broker_sql "$bdir" "UPDATE audit SET seq = -1 WHERE seq = 9; UPDATE audit SET seq = 9 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = -1"
export_log db; expect db-reorder-undone 0 -- V "$tmpd/db.log" "$tmpd/db.cps"
broker_sql "$bdir" "DELETE FROM audit WHERE seq > $((n - 3))"
export_log db; verdict db-truncate "$tmpd/db.log" "$tmpd/db.cps" 1 audit_chain_broken $((n - 2)) "^tail truncated: the log ends at row $((n - 3))"
broker_sql "$bdir" "DELETE FROM audit WHERE seq = 4"
export_log db; verdict db-delete "$tmpd/db.log" "$tmpd/db.cps" 1 audit_chain_broken 4 '^row 4 removed: row 5 follows row 3'
broker_sql "$bdir" "UPDATE audit_checkpoints SET time = time + 1"
export_log db; verdict db-forged-checkpoint "$tmpd/db.log" "$tmpd/db.cps" 1 audit_checkpoint_invalid - 'forged or changed'

# --- the shutdown checkpoint, and rows after a restart chain on -------------------
before=$(broker_sql "$bdir" "SELECT COUNT(*) FROM audit_checkpoints")
broker_sql "$bdir" "DELETE FROM audit_checkpoints"
stop_broker
check shutdown-checkpoint '[ "$(broker_sql "$bdir" "SELECT COUNT(*) FROM audit_checkpoints")" = 1 ]' 'echo "before $before"; tail -3 "$bdir/broker.log"'

# --- the admin endpoint and the command's own errors ------------------------------
restart
http=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$bdir/ca.pem" "$ADMIN_URL/v1/audit/checkpoints")
check checkpoints-need-token '[ "$http" = 401 ]' 'echo "$http"'
expect checkpoints-table 0 '^SEQ +TIME +HASH$' -- B audit --checkpoints
expect verify-usage 2 'usage: skrctl audit verify' -- "$SKRCTL" audit verify --log "$tmpd/good.log"
expect verify-help 0 'usage: skrctl audit verify --log FILE --checkpoints FILE --key PUB.pem' -- "$SKRCTL" audit verify --help
printf '{"not": "a list"}' > "$tmpd/bad.log"
expect verify-malformed-log 2 'malformed: the audit log is not a JSON array' -- \
	"$SKRCTL" audit verify --log "$tmpd/bad.log" --checkpoints "$tmpd/good.cps" --key "$tmpd/audit.pub"
expect verify-private-key-refused 2 'audit signing key' -- \
	"$SKRCTL" audit verify --log "$tmpd/good.log" --checkpoints "$tmpd/good.cps" --key "$tmpd/audit.key"
expect audit-all-with-key-refused 2 'usage' -- B audit --all --key disk-a

exit $fails
