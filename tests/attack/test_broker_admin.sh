# Admin listener and secret files.
# 1. A request without a valid token that announces a 200 KiB body gets 401
#    at once, before any of the body is sent: the broker authenticates on the
#    headers and never reads the body (nor waits for it).
# 2. An admin token, nonce secret or master key file readable by group or
#    others, owned by another user or a symbolic link stops the broker at
#    start, naming the file (one rule and reader: src/common/secret.h).
# 3. A reference set's "label" is optional (absent, null or ""; listed as
#    ""), and one that is not a string is refused 400 malformed.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; stop_pg; rm -rf "$out" "$err" "$tmpd"' EXIT

bdir=$tmpd/broker
mkdir -p "$bdir"
make_tls "$bdir" || { echo "FAIL tls-setup"; exit 1; }
write_broker_config "$bdir"
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }
read -r rport aport < "$bdir/ports"

# headers_only AUTH_HEADER: sends POST /v1/keys with Content-Length 204800
# and no body; prints "STATUS SECONDS BODY_ACCEPTED" where BODY_ACCEPTED says
# whether the connection still took the body after the answer.
headers_only() {
	python3 - "$aport" "$bdir/ca.pem" "$1" <<'PY'
import socket, ssl, sys, time
port, ca, auth = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=4),
                    server_hostname="127.0.0.1")
hdr = (f"POST /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
       f"Content-Length: 204800\r\n{auth}\r\n\r\n").encode()
t0 = time.monotonic()
s.sendall(hdr)
try:
    resp = s.recv(4096)
except socket.timeout:
    resp = b""
took = time.monotonic() - t0
status = resp.split(b" ", 2)[1].decode() if resp.startswith(b"HTTP/") else "none"
accepted = "yes"
try:
    for _ in range(50):
        s.sendall(b" " * 4096)
        time.sleep(0.01)
    s.settimeout(2)
    if s.recv(4096) == b"":
        accepted = "no"
except (OSError, ssl.SSLError):
    accepted = "no"
print(status, f"{took:.3f}", accepted)
PY
}

set -- $(headers_only "X-Nothing: 1")
echo "admin: no token, 200 KiB announced: status $1 after $2 s, body accepted afterwards: $3"
[ "$1" = 401 ] && echo "PASS admin-no-token-401-before-body" || echo "FAIL admin-no-token-401-before-body: status $1"
awk "BEGIN { exit !($2 < 2) }" && echo "PASS admin-no-token-answered-at-once" || echo "FAIL admin-no-token-answered-at-once: $2 s"
[ "$3" = no ] && echo "PASS admin-no-token-body-not-read" || echo "FAIL admin-no-token-body-not-read"
set -- $(headers_only "Authorization: Bearer wrong-token-wrong-token")
[ "$1" = 401 ] && echo "PASS admin-wrong-token-401-before-body" || echo "FAIL admin-wrong-token-401-before-body: status $1"
# With the right token the broker waits for the body (the probe above can fail).
set -- $(headers_only "Authorization: Bearer $(cat "$bdir/admin.token")")
[ "$1" = none ] && echo "PASS admin-valid-token-waits-for-body" || echo "FAIL admin-valid-token-waits-for-body: status $1"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
grep -q '^skr_admin_unauthorized_total 2$' "$tmpd/metrics" && echo "PASS admin-unauthorized-metric" ||
	echo "FAIL admin-unauthorized-metric: $(grep admin_unauth "$tmpd/metrics")"
grep -q 'admin request /v1/keys from 127.0.0.1 refused: no valid token' "$bdir/broker.log" &&
	echo "PASS admin-unauthorized-logged" || echo "FAIL admin-unauthorized-logged"
admin GET "/v1/audit?limit=10" > "$tmpd/audit.json"
python3 -c 'import json, sys
rows = json.load(open(sys.argv[1]))
assert sum(r["action"] == "admin:auth" and r["verdict"] == "deny" for r in rows) == 2, rows' "$tmpd/audit.json" &&
	echo "PASS admin-unauthorized-audited" || echo "FAIL admin-unauthorized-audited"

POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [7]}}'
PCRS="{\"sha256\": {\"7\": \"$(printf '%064d' 0)\"}}"
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"c2VjcmV0\", \"policy\": $POLICY}" >/dev/null
codes=
for body in "{\"pcrs\": $PCRS}" "{\"label\": null, \"pcrs\": $PCRS}" "{\"label\": \"\", \"pcrs\": $PCRS}" \
	"{\"label\": \"boot\", \"pcrs\": $PCRS}"; do
	admin POST /v1/keys/disk-1/refsets "$body" >/dev/null
	codes="$codes$http_status "
done
[ "$codes" = "201 201 201 201 " ] && echo "PASS admin-refset-label-optional" ||
	echo "FAIL admin-refset-label-optional: $codes"
admin GET /v1/keys/disk-1/refsets > "$tmpd/sets.json"
python3 -c 'import json, sys
assert [s["label"] for s in json.load(open(sys.argv[1]))] == ["", "", "", "boot"]' "$tmpd/sets.json" &&
	echo "PASS admin-refset-label-listed" || echo "FAIL admin-refset-label-listed: $(cat "$tmpd/sets.json")"
admin POST /v1/keys/disk-1/refsets "{\"label\": 7, \"pcrs\": $PCRS}" >/dev/null
[ "$http_status" = 400 ] && grep -q '"malformed"' "$tmpd/admin.out" && echo "PASS admin-refset-label-not-string-400" ||
	echo "FAIL admin-refset-label-not-string-400: $http_status $(cat "$tmpd/admin.out")"
stop_broker

# Secret files: mode, owner and symbolic links, one rule for the three.
for f in admin.token nonce.secret master.key; do
	chmod 640 "$bdir/$f"
	expect "broker-refuses-group-readable-$f" 1 "$bdir/$f is readable by group or others \\(mode 0640\\)" -- \
		"$BUILD/skr-broker" --config "$bdir/broker.json"
	chmod 604 "$bdir/$f"
	expect "broker-refuses-world-readable-$f" 1 "$bdir/$f is readable by group or others" -- \
		"$BUILD/skr-broker" --config "$bdir/broker.json"
	chmod 600 "$bdir/$f"
	if [ "$(id -u)" = 0 ]; then
		chown 65534 "$bdir/$f"
		expect "broker-refuses-foreign-owner-$f" 1 "$bdir/$f is owned by uid 65534" -- \
			"$BUILD/skr-broker" --config "$bdir/broker.json"
		chown 0 "$bdir/$f"
	fi
	mv "$bdir/$f" "$bdir/$f.real" && ln -s "$bdir/$f.real" "$bdir/$f"
	expect "broker-refuses-symlink-$f" 1 "$bdir/$f is a symbolic link" -- \
		"$BUILD/skr-broker" --config "$bdir/broker.json"
	rm -f "$bdir/$f" && mv "$bdir/$f.real" "$bdir/$f"
done
start_broker "$bdir" && echo "PASS broker-starts-with-private-files" || echo "FAIL broker-starts-with-private-files: $(tail -1 "$bdir/broker.log")"
[ "$fails" -eq 0 ]
