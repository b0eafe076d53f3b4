# Connection exhaustion: one client (127.0.0.1) opens 600 idle TCP
# connections and 50 stalled TLS handshakes and holds them.  Other clients
# (127.0.0.2) must still be served at once — /healthz and a challenge — since
# a client address gets at most per_client_connections (here 16) and an idle
# connection, handshake included, is closed after connection_timeout (here
# 5 s).  "At once" is judged against that timeout, not a fixed time: a broker
# that let one client take every slot would serve the others only when the
# timeout frees one, so every request of theirs must finish before it.  The
# times with and without the attack, and their ratio, are printed.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; rm -rf "$out" "$err" "$tmpd"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

bdir=$tmpd/broker
mkdir -p "$bdir"
make_tls "$bdir" || { echo "FAIL tls-setup"; exit 1; }
write_broker_config "$bdir"
sed -i 's|"threads": 2|"threads": 2, "per_client_connections": 16, "connection_timeout": 5|' "$bdir/broker.json"
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }
read -r rport aport < "$bdir/ports"
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": {\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [7]}}}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL connections-setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }

python3 "$here/hold_connections.py" 127.0.0.1 "$rport" "$bdir/ca.pem" disk-1 600 50 5 > "$tmpd/report.json" ||
	{ echo "FAIL connections-attack-client"; exit 1; }
python3 - "$tmpd/report.json" 5 > "$tmpd/verdicts" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
timeout_ms = int(sys.argv[2]) * 1000
h, c, a = r["healthz_other_client"], r["challenge_other_client"], r["healthz_attacker_address"]
hb, cb = r["baseline"]["healthz_other_client"], r["baseline"]["challenge_other_client"]
print(f"connections: /healthz from 127.0.0.2 without the attack: {hb['ok']}/{hb['of']} served, "
      f"median {hb['median_ms']} ms; under it {h['median_ms'] / hb['median_ms']:.2f}x that"
      if hb["median_ms"] and h["median_ms"] else "connections: no baseline")
print(f"connections: {r['attempted']} opened from 127.0.0.1, {r['held_after_1s']} still held "
      f"after 1 s, {r['held_after_timeout']} after the idle timeout")
print(f"connections: /healthz from 127.0.0.2 under the attack: {h['ok']}/{h['of']} served, "
      f"median {h['median_ms']} ms, max {h['max_ms']} ms")
print(f"connections: /v1/challenge from 127.0.0.2 under the attack: {c['ok']}/{c['of']} served, "
      f"median {c['median_ms']} ms")
print(f"connections: /healthz from the attacker's address 127.0.0.1: {a['ok']}/{a['of']} served "
      f"({', '.join(a['statuses'])}); after the timeout: "
      f"{r['healthz_attacker_after_timeout']['ok']}/3")
def check(name, ok, why):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + why))
check("connections-per-client-limit", r["held_after_1s"] <= 16,
      f"{r['held_after_1s']} connections of one client held")
# The baseline must be served too, else the attack proves nothing.
check("connections-healthz-served", hb["ok"] == hb["of"] and h["ok"] == h["of"] and
      h["max_ms"] < timeout_ms, json.dumps({"baseline": hb, "attack": h, "timeout_ms": timeout_ms}))
check("connections-challenge-served", cb["ok"] == cb["of"] and c["ok"] == c["of"] and
      c["max_ms"] < timeout_ms, json.dumps({"baseline": cb, "attack": c, "timeout_ms": timeout_ms}))
check("connections-idle-closed", r["held_after_timeout"] == 0,
      f"{r['held_after_timeout']} idle connections survived the timeout")
check("connections-attacker-served-after-timeout",
      r["healthz_attacker_after_timeout"]["ok"] == 3, json.dumps(r["healthz_attacker_after_timeout"]))
PY
cat "$tmpd/verdicts"
# Refusals are counted, and logged at most every 10 s (no log flood on demand).
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
n=$(sed -n 's/^skr_connections_refused_total //p' "$tmpd/metrics")
lines=$(grep -c 'connection limit reached' "$bdir/broker.log")
echo "connections: $n refused (skr_connections_refused_total), $lines log lines"
[ "${n:-0}" -ge 600 ] && echo "PASS connections-refusals-counted" || echo "FAIL connections-refusals-counted: ${n:-none}"
[ "$lines" -ge 1 ] && [ "$lines" -le 3 ] && echo "PASS connections-refusals-logged-bounded" ||
	echo "FAIL connections-refusals-logged-bounded: $lines lines"
[ "$fails" -eq 0 ] && [ "${n:-0}" -ge 600 ] && [ "$lines" -ge 1 ] && [ "$lines" -le 3 ] &&
	grep -q '^PASS' "$tmpd/verdicts" && ! grep -q '^FAIL' "$tmpd/verdicts"
