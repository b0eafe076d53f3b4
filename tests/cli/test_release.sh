# Attested release end to end, all real parts on loopback: swtpm provisioned
# as a fake Azure vTPM, skr-broker over TLS with its SQLite store, skrctl
# release doing challenge, vTPM evidence, release and unwrap.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

start_stack || exit 1

SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
POLICY='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$SECRET_B64\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS admin-create-key" || echo "FAIL admin-create-key: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS admin-add-refset" || echo "FAIL admin-add-refset: $http_status $(cat "$tmpd/admin.out")"

REL="$SKRCTL release --key-id disk-1 --broker $RELEASE_URL --ca $bdir/ca.pem --tcti $TCTI --timeout 20"
expect release-ok 0 'released 32 bytes' -- $REL --out "$tmpd/secret"
if [ "$(base64 -w0 < "$tmpd/secret")" = "$SECRET_B64" ]; then echo "PASS released-secret-equals-stored"; else echo "FAIL released-secret-equals-stored"; fi
if [ "$(stat -c %a "$tmpd/secret")" = 600 ]; then echo "PASS secret-file-0600"; else echo "FAIL secret-file-0600"; fi
if grep -rqa -- "$SECRET_B64" "$bdir/broker.log" "$err" "$out" 2>/dev/null; then echo "FAIL secret-in-logs"; else echo "PASS secret-not-in-logs"; fi

# Refusals, each with its reason code.
expect release-unknown-key 1 'key_unknown' -- $SKRCTL release --key-id nope --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --out "$tmpd/x"
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
expect release-pcr-changed 1 'pcr_mismatch.*PCR 7: seen' -- $REL --out "$tmpd/x"
[ ! -e "$tmpd/x" ] && echo "PASS refused-writes-nothing" || echo "FAIL refused-writes-nothing"
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-2\", \"state\": \"pending\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
expect release-after-new-refset 0 'released' -- $REL --out "$tmpd/secret2"

# Admin API: no token or a wrong one is 401, and audited.
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$bdir/ca.pem" "$ADMIN_URL/v1/keys")
[ "$code" = 401 ] && echo "PASS admin-no-token-401" || echo "FAIL admin-no-token-401: $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$bdir/ca.pem" -H 'Authorization: Bearer wrong-token-wrong-token' "$ADMIN_URL/v1/keys")
[ "$code" = 401 ] && echo "PASS admin-wrong-token-401" || echo "FAIL admin-wrong-token-401: $code"
admin GET "/v1/audit?limit=50" > "$tmpd/audit.json"
python3 - "$tmpd/audit.json" <<'PY' && echo "PASS audit-rows" || echo "FAIL audit-rows"
import json, sys
rows = json.load(open(sys.argv[1]))
verdicts = [(r.get("action"), r.get("verdict"), r.get("reason")) for r in rows]
assert ("release", "allow", None) in verdicts, verdicts
assert any(v[0] == "release" and v[2] == "pcr_mismatch" for v in verdicts), verdicts
assert any(v[0] == "admin:auth" and v[1] == "deny" for v in verdicts), verdicts
PY

# Bad requests: content type, malformed JSON, missing fields, oversized body.
post() { curl -sS -o "$tmpd/post.out" -w '%{http_code}' --cacert "$bdir/ca.pem" "$@"; }
code=$(post -H 'Content-Type: text/plain' --data '{"key_id":"disk-1"}' "$RELEASE_URL/v1/challenge")
[ "$code" = 400 ] && grep -q 'Content-Type' "$tmpd/post.out" && echo "PASS wrong-content-type-400" || echo "FAIL wrong-content-type-400: $code"
code=$(post -H 'Content-Type: application/json' --data '{"key_id":' "$RELEASE_URL/v1/challenge")
[ "$code" = 400 ] && echo "PASS malformed-json-400" || echo "FAIL malformed-json-400: $code"
code=$(post -H 'Content-Type: application/json' --data '{"nonce":"AAAA"}' "$RELEASE_URL/v1/release")
[ "$code" = 400 ] && grep -q 'key_id' "$tmpd/post.out" && echo "PASS missing-field-400" || echo "FAIL missing-field-400: $code"
head -c 400000 /dev/zero | tr '\0' ' ' > "$tmpd/big.json"
code=$(post -H 'Content-Type: application/json' --data-binary @"$tmpd/big.json" "$RELEASE_URL/v1/release")
[ "$code" = 413 ] && echo "PASS oversized-body-413" || echo "FAIL oversized-body-413: $code"
code=$(curl -sS -o "$tmpd/h" -w '%{http_code}' --cacert "$bdir/ca.pem" "$RELEASE_URL/healthz")
[ "$code" = 200 ] && echo "PASS healthz" || echo "FAIL healthz: $code"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
grep -q 'skr_releases_total{verdict="allow",reason="ok"} 2' "$tmpd/metrics" &&
	grep -q 'skr_releases_total{verdict="deny",reason="pcr_mismatch"} 1' "$tmpd/metrics" &&
	grep -q 'skr_chain_cache_total{result="hit"} [1-9]' "$tmpd/metrics" &&
	echo "PASS metrics" || echo "FAIL metrics: $(head -c 600 "$tmpd/metrics")"
# The running broker's own store connection (the pragmas are per connection):
# every commit fsynced (synchronous 2 = FULL), write-ahead log.
grep -qx 'skr_store_synchronous 2' "$tmpd/metrics" && echo "PASS metrics-store-synchronous-full" ||
	echo "FAIL metrics-store-synchronous-full: $(grep skr_store "$tmpd/metrics" || echo 'no skr_store_synchronous gauge')"
grep -qx 'skr_store_journal_mode{mode="wal"} 1' "$tmpd/metrics" && echo "PASS metrics-store-journal-wal" ||
	echo "FAIL metrics-store-journal-wal: $(grep skr_store "$tmpd/metrics" || echo 'no skr_store_journal_mode gauge')"
# Audit group commit: every release row went through a flush, at most one flush per row.
rows=$(sed -n 's/^skr_audit_flush_rows_total //p' "$tmpd/metrics")
flushes=$(sed -n 's/^skr_audit_flushes_total //p' "$tmpd/metrics")
[ -n "$rows" ] && [ -n "$flushes" ] && [ "$rows" -ge 3 ] && [ "$flushes" -ge 1 ] &&
	[ "$flushes" -le "$rows" ] && grep -qx 'skr_audit_flushes_failed_total 0' "$tmpd/metrics" &&
	echo "PASS metrics-audit-group-commit" ||
	echo "FAIL metrics-audit-group-commit: $(grep skr_audit_flush "$tmpd/metrics" || echo 'no skr_audit_flush counters')"

# A crash (kill -9) loses no key and no audit row.
rows_before=$(admin GET "/v1/audit?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
stop_broker KILL
start_broker "$bdir" || echo "FAIL broker-restart"
REL="$SKRCTL release --key-id disk-1 --broker $RELEASE_URL --ca $bdir/ca.pem --tcti $TCTI --timeout 20"
rows_after=$(admin GET "/v1/audit?limit=1000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$rows_before" -gt 0 ] && [ "$rows_after" -ge "$rows_before" ] && echo "PASS audit-survives-kill" || echo "FAIL audit-survives-kill: $rows_before -> $rows_after"
expect release-after-restart 0 'released' -- $REL --out "$tmpd/secret3"
cmp -s "$tmpd/secret" "$tmpd/secret3" && echo "PASS key-survives-kill" || echo "FAIL key-survives-kill"

# The VCEK may come with the evidence instead of the broker's cache.
expect release-vcek-in-evidence 0 'released' -- $REL --vcek "$az/vcek.der" --out "$tmpd/secret4"

# A stored secret that does not decrypt (here: a row copied from another key,
# so its AAD differs) is the broker's fault, not the client's: 500 with the
# reason, which the client counts as that broker failing and tries again
# (here the same broker, named twice) until its deadline: broker_unreachable.
admin POST /v1/keys "{\"key_id\": \"disk-moved\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
admin POST /v1/keys/disk-moved/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
python3 - "$bdir/broker.db" <<'PY' || echo "FAIL store-move-row"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE keys SET (secret_iv, secret_ct, secret_tag) = (SELECT secret_iv, secret_ct, secret_tag "
           "FROM keys WHERE key_id = 'disk-1') WHERE key_id = 'disk-moved'")
db.commit()
PY
expect release-store-decrypt-failed-retried 2 'broker_unreachable' -- $SKRCTL release --key-id disk-moved --broker "$RELEASE_URL" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 3 --out "$tmpd/x" --json
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["reason"] == "broker_unreachable" and r["attempts"] >= 2, r' "$out" &&
	echo "PASS store-decrypt-failed-next-broker" || echo "FAIL store-decrypt-failed-next-broker: $(cat "$out")"
[ ! -e "$tmpd/x" ] && echo "PASS store-decrypt-failed-writes-nothing" || echo "FAIL store-decrypt-failed-writes-nothing"
admin GET "/v1/audit?key_id=disk-moved&limit=1" > "$tmpd/audit.json"
python3 - "$tmpd/audit.json" <<'PY' && echo "PASS store-decrypt-failed-audited" || echo "FAIL store-decrypt-failed-audited: $(cat "$tmpd/audit.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows and rows[0]["action"] == "release" and rows[0]["verdict"] == "deny", rows
assert rows[0]["reason"] == "store_decrypt_failed" and "does not decrypt" in rows[0]["detail"], rows
PY
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" | grep -q 'skr_releases_total{verdict="deny",reason="store_decrypt_failed"} [2-9]' &&
	echo "PASS store-decrypt-failed-counted" || echo "FAIL store-decrypt-failed-counted"

# Several brokers: a dead one first, then the live one — the client fails over.
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
expect release-failover 0 '"attempts": [2-9]' -- $SKRCTL release --key-id disk-1 --broker "https://127.0.0.1:$dead" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --out "$tmpd/secret5" --json
cmp -s "$tmpd/secret" "$tmpd/secret5" && echo "PASS failover-same-secret" || echo "FAIL failover-same-secret"

# Broker down: the client reports it, within its deadline.
stop_broker
expect broker-down 2 'broker_unreachable' -- $SKRCTL release --key-id disk-1 --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 2 --out "$tmpd/x"

[ "$fails" -eq 0 ]
