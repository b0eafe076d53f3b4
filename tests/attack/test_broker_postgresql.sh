# Brokers on PostgreSQL (a private server, tests/cli/pg.sh):
# 1. Two replicas, A and B, on one database (same master key, nonce secret
#    and TLS files, as a fleet deploys them):
#    - a release recorded at A and replayed at B is refused nonce_replayed;
#    - B answers from its key cache; a reference set removed through A's
#      admin API is refused at B on the next request, one added through A
#      is honoured there on the next request;
#    - a key deleted through A is refused at B at once (key_unknown).
# 2. The database stopped under a running broker (pg_ctl stop): challenge
#    and release answer 503 with reason store_unavailable, /healthz answers
#    503 naming it, the client is told the broker failed (it would try the
#    next URL), and the broker stays up; the database started again,
#    releases resume on the same broker process, without a restart.
# 3. skr-broker rotate-master-key is refused while either replica has the
#    database open (their claims, taken again after the restart of 2.);
#    with both stopped it rotates, and a broker with the old key is refused.
. "$(dirname "$0")/../cli/lib.sh"
SKR_TEST_DB=postgresql
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid= pid_a= pid_b=
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; [ -n "$pid_b" ] && kill -9 "$pid_b" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

start_stack || exit 1
pid_a=$broker_pid
URL_A=$RELEASE_URL ADMIN_A=$ADMIN_URL
grep -q '"database": "postgresql://' "$bdir/broker.json" && echo "PASS broker-on-postgresql" ||
	echo "FAIL broker-on-postgresql: $(grep database "$bdir/broker.json")"
POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
SET="{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}"
admin POST /v1/keys/disk-1/refsets "$SET" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }

# Replica B: the same configuration, its own ports and log.
b2=$tmpd/broker-b
mkdir -p "$b2"
cp "$bdir/broker.json" "$b2/broker.json"
start_broker "$b2" || { echo "FAIL replica-start: $(cat "$b2/broker.log")"; exit 1; }
pid_b=$broker_pid URL_B=$RELEASE_URL
broker_pid=$pid_a RELEASE_URL=$URL_A ADMIN_URL=$ADMIN_A

release_at() {
	"$SKRCTL" release --key-id disk-1 --broker "$1" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --out "$tmpd/secret"
}
# post URL PATH BODY: prints "STATUS REASON".
post() {
	code=$(curl -sS -o "$tmpd/post.out" -w '%{http_code}' --cacert "$bdir/ca.pem" \
		-H 'Content-Type: application/json' --data-binary "$3" "$1$2")
	echo "$code $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("reason"))' "$tmpd/post.out" 2>/dev/null)"
}
check() { [ "$2" = "$3" ] && echo "PASS $1" || echo "FAIL $1: got \"$2\", wanted \"$3\""; }

# 1a. A nonce used at A is refused at B.
mkdir -p "$tmpd/rec"
read -r rport aport < "$bdir/ports"
start_record_proxy "$tmpd/rec" || { echo "FAIL proxy-start"; exit 1; }
expect replica-a-release 0 'released' -- release_at "https://127.0.0.1:$(cat "$tmpd/proxy.port")"
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=
req=$(ls "$tmpd"/rec/*-release.json 2>/dev/null | head -n 1)
[ -n "$req" ] || { echo "FAIL replica-release-recorded"; exit 1; }
check replica-b-refuses-a-nonce "$(post "$URL_B" /v1/release "@$req")" "403 nonce_replayed"
grep -q '"wrapped"' "$tmpd/post.out" && echo "FAIL replica-b-replay-no-secret" ||
	echo "PASS replica-b-replay-no-secret"

# 1b. B's cache follows what A's admin API changes.
expect replica-b-release 0 'released' -- release_at "$URL_B"
admin DELETE /v1/keys/disk-1/refsets/1 >/dev/null
check replica-a-removes-set "$http_status" 200
expect replica-b-refuses-removed-set 1 'pcr_mismatch' -- release_at "$URL_B"
admin POST /v1/keys/disk-1/refsets "$SET" >/dev/null
check replica-a-adds-set "$http_status" 201
expect replica-b-honours-added-set 0 'released' -- release_at "$URL_B"

# 2. The database goes away under running brokers, and comes back.
pg_down || echo "FAIL pg-down"
check db-down-challenge-503 "$(post "$URL_A" /v1/challenge '{"key_id": "disk-1"}')" "503 store_unavailable"
expect db-down-release-fails-over 2 'HTTP 503' -- "$SKRCTL" release --key-id disk-1 --broker "$URL_A" \
	--ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 3 --out "$tmpd/none"
[ ! -e "$tmpd/none" ] && echo "PASS db-down-no-secret" || echo "FAIL db-down-no-secret"
code=$(curl -sS -o "$tmpd/health" -w '%{http_code}' --cacert "$bdir/ca.pem" "$URL_A/healthz")
[ "$code" = 503 ] && grep -q store_unavailable "$tmpd/health" && echo "PASS db-down-healthz-503" ||
	echo "FAIL db-down-healthz-503: $code $(cat "$tmpd/health")"
admin GET /v1/keys >/dev/null
check db-down-admin-503 "$http_status" 503
grep -q 'store_unavailable' "$bdir/broker.log" && echo "PASS db-down-logged" ||
	echo "FAIL db-down-logged: $(tail -2 "$bdir/broker.log")"
kill -0 "$pid_a" 2>/dev/null && kill -0 "$pid_b" 2>/dev/null && echo "PASS db-down-brokers-stay-up" ||
	echo "FAIL db-down-brokers-stay-up"
pg_up || echo "FAIL pg-up"
code=$(curl -sS -o "$tmpd/health" -w '%{http_code}' --cacert "$bdir/ca.pem" "$URL_A/healthz")
check db-back-healthz-200 "$code" 200
expect db-back-release-a 0 'released' -- release_at "$URL_A"
expect db-back-release-b 0 'released' -- release_at "$URL_B"
[ "$broker_pid" = "$pid_a" ] && kill -0 "$pid_a" && echo "PASS db-back-same-broker-process" ||
	echo "FAIL db-back-same-broker-process"

# 1c. A key deleted through A is refused at B at once.
check replica-b-challenge-before "$(post "$URL_B" /v1/challenge '{"key_id": "disk-1"}')" "200 None"
admin DELETE /v1/keys/disk-1 >/dev/null
check replica-a-deletes-key "$http_status" 200
check replica-b-refuses-deleted-key "$(post "$URL_B" /v1/challenge '{"key_id": "disk-1"}')" "403 key_unknown"
expect replica-b-release-deleted-key 1 'key_unknown' -- release_at "$URL_B"

# 3. Master key rotation: offline only, whichever replica holds the database.
admin POST /v1/keys "{\"key_id\": \"disk-2\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
check rotate-key-created "$http_status" 201
head -c 32 /dev/urandom > "$tmpd/new.key" && chmod 600 "$tmpd/new.key"
ROT="$BUILD/skr-broker rotate-master-key --config $bdir/broker.json --new-master-key $tmpd/new.key"
expect rotate-refused-while-replicas-run 1 'open in another process \(a running skr-broker\?\)' -- $ROT
stop_broker
expect rotate-refused-while-replica-b-runs 1 'open in another process' -- $ROT
kill "$pid_b" && wait "$pid_b" 2>/dev/null
pid_b=
expect rotate-offline 0 '^rotation finished: 1 keys, 1 resealed now' -- $ROT
expect rotate-old-key-broker-refused 1 'store_decrypt_failed: the master key does not match' -- \
	"$BUILD/skr-broker" --config "$bdir/broker.json"
[ "$fails" -eq 0 ]
