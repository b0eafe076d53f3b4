# Nonce replay across a broker restart: a real release is recorded (a TLS
# proxy with the broker's certificate sits between skrctl and the broker),
# the broker is restarted on the same database and nonce secret, and the
# recorded release request is sent again: it must be refused with
# nonce_replayed (the nonce is still within its lifetime, and its MAC is
# valid under the shared nonce secret; only the store remembers it).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid=
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

start_stack || exit 1
POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL nonce-setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }

mkdir -p "$tmpd/rec"
read -r rport aport < "$bdir/ports"
start_record_proxy "$tmpd/rec" || { echo "FAIL proxy-start"; exit 1; }
expect nonce-recorded-release-ok 0 'released' -- "$SKRCTL" release --key-id disk-1 --broker "https://127.0.0.1:$(cat "$tmpd/proxy.port")" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --out "$tmpd/secret"
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=
req=$(ls "$tmpd"/rec/*-release.json 2>/dev/null | head -n 1)
[ -n "$req" ] || { echo "FAIL nonce-release-recorded"; exit 1; }

# replay: POSTs the recorded request; prints "STATUS REASON".
replay() {
	code=$(curl -sS -o "$tmpd/replay.out" -w '%{http_code}' --cacert "$bdir/ca.pem" \
		-H 'Content-Type: application/json' --data-binary @"$req" "$RELEASE_URL/v1/release")
	echo "$code $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("reason"))' "$tmpd/replay.out" 2>/dev/null)"
}

got=$(replay)
[ "$got" = "403 nonce_replayed" ] && echo "PASS nonce-replay-same-process" || echo "FAIL nonce-replay-same-process: $got"
stop_broker
start_broker "$bdir" || { echo "FAIL broker-restart: $(tail -2 "$bdir/broker.log")"; exit 1; }
got=$(replay)
[ "$got" = "403 nonce_replayed" ] && echo "PASS nonce-replay-after-restart" || echo "FAIL nonce-replay-after-restart: $got"
grep -q '"wrapped"' "$tmpd/replay.out" && echo "FAIL nonce-replay-no-secret" || echo "PASS nonce-replay-no-secret"
# A crash (kill -9) forgets nothing either.
stop_broker KILL
start_broker "$bdir" || { echo "FAIL broker-restart-after-kill"; exit 1; }
got=$(replay)
[ "$got" = "403 nonce_replayed" ] && echo "PASS nonce-replay-after-kill" || echo "FAIL nonce-replay-after-kill: $got"
# A fresh challenge still releases.
expect nonce-fresh-release-ok 0 'released' -- "$SKRCTL" release --key-id disk-1 --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --out "$tmpd/secret2"
[ "$fails" -eq 0 ]
