# PostgreSQL failover under running brokers (issue 14): a private primary
# with one streaming standby, synchronous (synchronous_commit on,
# synchronous_standby_names = the standby), and two brokers whose database
# is the libpq multi-host string "host=127.0.0.1,127.0.0.1 port=P,S ...
# target_session_attrs=read-write".  Releases run with the real client
# (skrctl against a swtpm fake Azure vTPM, both broker URLs given); the
# primary's postmaster is killed with -9 while they run, the standby is
# promoted, and then:
#   - releases continue on the same broker processes (they reconnect through
#     the multi-host string), after a bounded number of refusals during the
#     switch, and none before it;
#   - every audit "release allow" row the primary held just before the kill
#     is on the promoted server (same id, same evidence digest), and there
#     are at least as many such rows as acknowledged releases (exit 0 and
#     the stored secret), at most one per exchange;
#   - the key and its reference set are intact, and a release request
#     recorded before the kill, replayed after it, is refused nonce_replayed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
here=$(cd "$(dirname "$0")" && pwd)
proxy_pid= pid_b= loop_pid=
trap '[ -n "$loop_pid" ] && { touch "$tmpd/stop"; kill "$loop_pid" 2>/dev/null; wait "$loop_pid" 2>/dev/null; }
[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; [ -n "$pid_b" ] && kill -9 "$pid_b" 2>/dev/null
stop_broker KILL; stop_pg_standby; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
check() { [ "$2" = "$3" ] && echo "PASS $1" || { echo "FAIL $1: got \"$2\", wanted \"$3\""; fails=$((fails + 1)); }; }
ok() { if [ "$2" ]; then echo "PASS $1"; else echo "FAIL $1: $3"; fails=$((fails + 1)); fi; }

# The servers: a primary, a standby streaming from it, synchronously.
start_pg "$tmpd/pg" || { echo "FAIL primary-start"; exit 1; }
start_pg_standby "$tmpd/pg-standby" skr_standby || { echo "FAIL standby-start"; exit 1; }
pg_sync_standby skr_standby || { echo "FAIL standby-streaming-sync"; exit 1; }
echo "PASS standby-streaming-sync"
check primary-synchronous-commit "$(pg_sql 'SHOW synchronous_commit')" on
check standby-in-recovery "$(pg_sql_at "$SB_DIR" "$SB_PORT" 'SELECT pg_is_in_recovery()')" t
primary_pid=$(head -n 1 "$PG_DIR/data/postmaster.pid")

BROKER_DATABASE="host=127.0.0.1,127.0.0.1 port=$PG_PORT,$SB_PORT dbname=skr user=skr target_session_attrs=read-write"
start_stack || exit 1
pid_a=$broker_pid URL_A=$RELEASE_URL
grep -q "\"database\": \"host=127.0.0.1,127.0.0.1 port=$PG_PORT,$SB_PORT" "$bdir/broker.json" &&
	echo "PASS broker-multi-host-database" || echo "FAIL broker-multi-host-database: $(grep database "$bdir/broker.json")"
SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$SECRET_B64\", \"policy\": $POLICY}" >/dev/null
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }
b2=$tmpd/broker-b
mkdir -p "$b2"
cp "$bdir/broker.json" "$b2/broker.json"
start_broker "$b2" || { echo "FAIL broker-b-start: $(cat "$b2/broker.log")"; exit 1; }
pid_b=$broker_pid URL_B=$RELEASE_URL
broker_pid=$pid_a RELEASE_URL=$URL_A
watch_pids "$pid_a" "$pid_b" "$vtpm_pid"

# release URL... : one release (the client moves to the next URL on a 503,
# round and round with a backoff until its 5 s deadline); acknowledged when
# it exits 0 with the stored secret.  attempts: how many brokers it asked.
release() {
	rm -f "$tmpd/secret"
	urls=
	for u in "$@"; do urls="$urls --broker $u"; done
	# shellcheck disable=SC2086
	"$SKRCTL" release --key-id disk-1 $urls --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 5 \
		--out "$tmpd/secret" --json >"$tmpd/release.json" 2>>"$tmpd/release.err" &&
		[ "$(base64 -w0 < "$tmpd/secret")" = "$SECRET_B64" ]
}
attempts() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["attempts"])' "$tmpd/release.json" 2>/dev/null ||
		echo 1
}
allow_rows() {
	pg_sql_at "$1" "$2" "SELECT id || ' ' || encode(evidence_digest, 'hex') FROM audit
		WHERE action = 'release' AND verdict = 'allow' ORDER BY id"
}

# 1. Before the failure: one release through a recording proxy (replayed
#    later), then one at each broker.
mkdir -p "$tmpd/rec"
read -r rport aport < "$bdir/ports"
python3 "$here/../attack/record_proxy.py" "$bdir/server.pem" "$bdir/server.key" "$bdir/ca.pem" \
	"$rport" "$tmpd/proxy.port" "$tmpd/rec" &
proxy_pid=$!
i=0
while [ ! -s "$tmpd/proxy.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
acked=0
release "https://127.0.0.1:$(cat "$tmpd/proxy.port")" && acked=$((acked + 1))
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=
req=$(ls "$tmpd"/rec/*-release.json 2>/dev/null | head -n 1)
release "$URL_A" && acked=$((acked + 1))
release "$URL_B" && acked=$((acked + 1))
check before-releases-acknowledged "$acked" 3
ok before-release-recorded "$req" "no recorded release request"
check before-standby-has-rows "$(allow_rows "$SB_DIR" "$SB_PORT" | wc -l)" 3

# 2. Releases run in the background, at both brokers; the primary is killed
#    with -9 between them, the standby promoted.  Each release is a line:
#    "ok" (acknowledged) or "fail", and the brokers it asked.
loop() {
	# It ends with the test, even one killed -9 that runs no trap.
	while [ ! -e "$tmpd/stop" ] && kill -0 $$ 2>/dev/null; do
		if release "$URL_A" "$URL_B"; then
			echo "ok $(attempts)" >> "$tmpd/loop.log"
		else
			echo "fail $(attempts)" >> "$tmpd/loop.log"
			sleep 0.2
		fi
	done
}
# wait_oks N FROM: until N "ok" lines after line FROM of the log (30 s at most).
wait_oks() {
	i=0
	while [ "$(tail -n +$(($2 + 1)) "$tmpd/loop.log" 2>/dev/null | grep -c '^ok')" -lt "$1" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ $i -lt 300 ]
}
: > "$tmpd/loop.log"
loop &
loop_pid=$!
wait_oks 2 0 || echo "FAIL loop-starts: $(cat "$tmpd/loop.log")"
# What the primary holds just before the kill: every acknowledged release so far is in it.
acked_before=$(grep -c '^ok' "$tmpd/loop.log")
allow_rows "$PG_DIR" "$PG_PORT" > "$tmpd/rows.before"
lines_at_kill=$(wc -l < "$tmpd/loop.log")
kill -9 "$primary_pid"
check before-kill-no-refusal "$(head -n "$lines_at_kill" "$tmpd/loop.log" | grep -vc '^ok 1$')" 0
[ "$(wc -l < "$tmpd/rows.before")" -ge $((acked + acked_before)) ] &&
	echo "PASS before-kill-rows-cover-acks" ||
	{ echo "FAIL before-kill-rows-cover-acks: $(wc -l < "$tmpd/rows.before") rows, $((acked + acked_before)) acknowledged"; fails=$((fails + 1)); }
sleep 1
pg_promote_standby && echo "PASS standby-promoted" || { echo "FAIL standby-promoted"; fails=$((fails + 1)); }
lines_at_promote=$(wc -l < "$tmpd/loop.log")
wait_oks 4 "$lines_at_promote" && echo "PASS after-promote-releases-continue" ||
	{ echo "FAIL after-promote-releases-continue: $(tail -n +$((lines_at_promote + 1)) "$tmpd/loop.log" | tr '\n' ' ') $(tail -c 300 "$tmpd/release.err")"; fails=$((fails + 1)); }
touch "$tmpd/stop"
wait "$loop_pid"
loop_pid=
attempts=$(wc -l < "$tmpd/loop.log")
acked_loop=$(grep -c '^ok' "$tmpd/loop.log")
failed=$(grep -c '^fail' "$tmpd/loop.log")
# The client met the switch (a broker answered 503 and it asked the next),
# and was refused a bounded number of times: the switch (1 s, then the
# promotion) takes a few seconds, the client's backoff grows.
refused=$(awk '$1 == "ok" { r += $2 - 1 } $1 == "fail" { r += $2 } END { print r + 0 }' "$tmpd/loop.log")
[ "$refused" -ge 1 ] && echo "PASS switch-met-by-client-retries" ||
	{ echo "FAIL switch-met-by-client-retries: $(tr '\n' ' ' < "$tmpd/loop.log")"; fails=$((fails + 1)); }
[ "$refused" -le 40 ] && [ "$failed" -le 5 ] && echo "PASS switch-refusals-bounded" ||
	{ echo "FAIL switch-refusals-bounded: $refused refused attempts, $failed failed releases"; fails=$((fails + 1)); }
# Once a release succeeds on the new primary, the next ones succeed at once.
first_ok=$(tail -n +$((lines_at_promote + 1)) "$tmpd/loop.log" | grep -n '^ok' | head -n 1 | cut -d: -f1)
check after-first-release-no-refusal \
	"$(tail -n +$((lines_at_promote + ${first_ok:-1} + 1)) "$tmpd/loop.log" | grep -vc '^ok 1$')" 0
kill -0 "$pid_a" 2>/dev/null && kill -0 "$pid_b" 2>/dev/null && echo "PASS brokers-same-processes" ||
	{ echo "FAIL brokers-same-processes"; fails=$((fails + 1)); }
grep -q store_unavailable "$bdir/broker.log" "$b2/broker.log" && echo "PASS brokers-saw-the-outage" ||
	{ echo "FAIL brokers-saw-the-outage"; fails=$((fails + 1)); }

# 3. Nothing acknowledged is lost on the promoted server.
check promoted-is-primary "$(pg_sql_at "$SB_DIR" "$SB_PORT" 'SELECT pg_is_in_recovery()')" f
allow_rows "$SB_DIR" "$SB_PORT" > "$tmpd/rows.after"
missing=$(sort "$tmpd/rows.before" | comm -23 - "$(sort "$tmpd/rows.after" > "$tmpd/rows.after.s"; echo "$tmpd/rows.after.s")")
ok promoted-has-every-row-before-kill "$(test -s "$tmpd/rows.before" && [ -z "$missing" ] && echo y)" \
	"missing: $missing"
rows=$(wc -l < "$tmpd/rows.after")
total_acked=$((acked + acked_loop))
# At most one row per exchange a broker answered, or whose answer the kill
# cut off after the commit (that client asked again): releases + refusals.
[ "$rows" -ge "$total_acked" ] && [ "$rows" -le $((3 + attempts + refused)) ] && echo "PASS promoted-rows-cover-acks" ||
	{ echo "FAIL promoted-rows-cover-acks: $rows rows, $total_acked acknowledged, $((3 + attempts)) releases, $refused refusals"; fails=$((fails + 1)); }
nonces=$(pg_sql_at "$SB_DIR" "$SB_PORT" 'SELECT count(*) FROM used_nonces')
[ "$nonces" -ge "$total_acked" ] && echo "PASS promoted-used-nonces" ||
	{ echo "FAIL promoted-used-nonces: $nonces rows, $total_acked acknowledged"; fails=$((fails + 1)); }
code=$(curl -sS -o "$tmpd/post.out" -w '%{http_code}' --cacert "$bdir/ca.pem" \
	-H 'Content-Type: application/json' --data-binary "@$req" "$URL_B/v1/release")
check replay-after-failover-refused "$code $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("reason"))' "$tmpd/post.out" 2>/dev/null)" "403 nonce_replayed"
grep -q '"wrapped"' "$tmpd/post.out" && { echo "FAIL replay-no-secret"; fails=$((fails + 1)); } || echo "PASS replay-no-secret"
admin GET /v1/keys/disk-1 > "$tmpd/key.json"
python3 - "$tmpd/key.json" <<'PY' && echo "PASS promoted-key-and-refset-intact" || { echo "FAIL promoted-key-and-refset-intact: $http_status $(cat "$tmpd/key.json")"; fails=$((fails + 1)); }
import json, sys
k = json.load(open(sys.argv[1]))
assert k["key_id"] == "disk-1" and k["policy"]["tee"] == "az-snp-vtpm", k
assert [(r["label"], r["state"]) for r in k["refsets"]] == [("boot-1", "current")], k
PY
release "$URL_A" && echo "PASS after-release-a" || { echo "FAIL after-release-a: $(tail -c 300 "$tmpd/release.err")"; fails=$((fails + 1)); }
release "$URL_B" && echo "PASS after-release-b" || { echo "FAIL after-release-b: $(tail -c 300 "$tmpd/release.err")"; fails=$((fails + 1)); }
echo "note: $attempts releases in the loop, $acked_loop acknowledged, $failed failed, $refused broker refusals; $rows allow rows" >&2
[ "$fails" -eq 0 ]
