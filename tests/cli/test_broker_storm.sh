# A boot storm on three broker replicas sharing one PostgreSQL (a private
# server, tests/cli/pg.sh), one of them killed with -9 midway and restarted
# on the same port.  The replicas share the database, master key, nonce
# secret, admin token and TLS files, as a fleet deploys them.
#
# The load: tests/tools/skr-storm, 8 software VMs (tests/helpers/softvm.h,
# evidence the broker accepts on a test AMD chain), SKR_STORM_RELEASES
# releases in all (default 500), each VM given all three URLs and following
# the real client's rule (src/vm/release_client.c): connection failure,
# TLS failure, timeout or 5xx -> the next URL with a fresh challenge, under
# one deadline per release.  Replica B is killed once a third of the
# releases are done, and started again after 0.5 s.
#
# What a request in flight at B when it dies may leave behind: either B had
# not committed (no row, no used nonce; the VM tries the next URL with a
# fresh challenge), or B had committed the nonce and the "allow" row in one
# transaction and died before its answer left: the VM never saw that answer
# (the secret in it is wrapped to that attempt's key, which only the VM
# holds) and retries elsewhere.  Such an orphan row is legitimate (the
# release was allowed and is on record), but it belongs to a request the
# VM saw fail at B.  So, asserted:
#   - zero failed releases, every secret equal to the registered one byte
#     for byte (skr-storm checks, and exits 1 otherwise);
#   - every successful release has exactly one "release" "allow" audit row
#     (matched by the SHA-256 of its request body, the row's evidence_digest);
#   - every other allow row is an orphan: its request went to B and got no
#     answer (skr-storm's lost.txt), and there are at most 8 (one per VM);
#   - no "release" row other than "allow" (no VM was refused), but the
#     "deny nonce_replayed" rows of the replays below;
#   - no nonce accepted twice: allow rows have distinct digests, used_nonces
#     (primary key: a nonce's hash) holds exactly as many rows as there are
#     allow rows and holds every successful release's nonce; the last
#     successful requests posted again to every replica are refused
#     403 nonce_replayed;
#   - B was really killed during the storm and served releases before the
#     kill and after the restart; every replica is up at the end.
. "$(dirname "$0")/lib.sh"
SKR_TEST_DB=postgresql
. "$(dirname "$0")/broker.sh"
storm_pid= pid_a= pid_b= pid_c=
# Every process started here goes in $pids; the EXIT trap (INT, TERM and HUP
# exit through it) kills them, and a watchdog kills them within a second of
# this shell's death by kill -9, which runs no trap, and removes its files
# (pg.sh's does the same for PostgreSQL).
pids=$(mktemp)
(
	trap '' HUP INT TERM
	while kill -0 $$ 2>/dev/null; do sleep 1; done
	if [ -s "$pids" ]; then
		kill -9 $(cat "$pids")
		rm -rf "$tmpd" "$out" "$err"
	fi
	rm -f "$pids"
) </dev/null >/dev/null 2>&1 &
cleanup() {
	for p in $storm_pid $pid_a $pid_b $pid_c; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	: > "$pids"
	stop_pg
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
releases=${SKR_STORM_RELEASES:-500}
vms=8
bdir=$tmpd/broker sdir=$tmpd/storm
mkdir -p "$bdir" "$sdir"
check() { [ "$2" = "$3" ] && echo "PASS $1" || { echo "FAIL $1: got \"$2\", wanted \"$3\""; fails=$((fails + 1)); }; }
die() { echo "FAIL $1"; fails=$((fails + 1)); exit 1; }

# The load generator makes its VMs first: the brokers must trust their CA.
"$BUILD/tools/skr-storm" --dir "$sdir" --vms $vms --releases "$releases" --deadline-ms 30000 \
	>"$sdir/summary" 2>"$sdir/log" &
storm_pid=$!
echo "$storm_pid" >> "$pids"
wait_storm_trust "$sdir" "$storm_pid" || die "storm-setup: $(cat "$sdir/log")"
make_tls "$bdir" || die tls
write_broker_config "$bdir" "$sdir/trust.pem" || die config
# Nonces must not expire (and be pruned) during the run: the checks count them.
sed -i 's|"nonce_ttl": 60|"nonce_ttl": 900|' "$bdir/broker.json"

# replica NAME: its directory with the shared configuration on a fixed
# release port (a restart must come back where the VMs' lists point).
replica() {
	mkdir -p "$tmpd/$1"
	sed "s|\"listen\": \"127.0.0.1:0\"|\"listen\": \"127.0.0.1:$(pg_free_port)\"|" \
		"$bdir/broker.json" > "$tmpd/$1/broker.json"
	start_broker "$tmpd/$1" || die "replica-$1-start: $(cat "$tmpd/$1/broker.log")"
	echo "$broker_pid" >> "$pids"
}
replica a; pid_a=$broker_pid URL_A=$RELEASE_URL ADMIN_A=$ADMIN_URL
replica b; pid_b=$broker_pid URL_B=$RELEASE_URL
replica c; pid_c=$broker_pid URL_C=$RELEASE_URL
broker_pid=
printf '%s\n%s\n%s\n%s\n%s\n%s\n' "$ADMIN_A" "$bdir/admin.token" "$bdir/ca.pem" \
	"$URL_A" "$URL_B" "$URL_C" > "$sdir/go.tmp" && mv "$sdir/go.tmp" "$sdir/go"
t0=$(date +%s)

# Midway: B killed -9, then started again on the same port.
done_at() { if [ -f "$sdir/ok.txt" ]; then wc -l < "$sdir/ok.txt"; else echo 0; fi; }
while [ "$(done_at)" -lt $((releases / 3)) ]; do
	kill -0 "$storm_pid" 2>/dev/null || die "storm-ran-to-the-kill: $(tail -5 "$sdir/log")"
	sleep 0.05
done
sed -i "/^$pid_b\$/d" "$pids"
kill -9 "$pid_b"
wait "$pid_b" 2>/dev/null
killed_at=$(done_at)
kill -0 "$storm_pid" 2>/dev/null && [ "$killed_at" -lt "$releases" ] &&
	echo "PASS storm-replica-killed-midway" || die "storm-replica-killed-midway: $killed_at done"
sleep 0.5
start_broker "$tmpd/b" || die "replica-b-restart: $(tail -5 "$tmpd/b/broker.log")"
pid_b=$broker_pid broker_pid=
echo "$pid_b" >> "$pids"
check replica-b-same-url "$RELEASE_URL" "$URL_B"
touch "$sdir/mark"
restarted_at=$(done_at)

wait "$storm_pid"
rc=$?
storm_pid=
wall=$(($(date +%s) - t0))
summary=$(cat "$sdir/summary")
echo "# $summary (kill at $killed_at, back at $restarted_at, ${wall} s)"
check storm-exit "$rc" 0
[ "$rc" = 0 ] || sed 's/^/# /' "$sdir/log" | tail -20
check storm-zero-failures "$(echo "$summary" | grep -o 'ok=[0-9]* failed=[0-9]*')" \
	"ok=$releases failed=0"
per_url=$(echo "$summary" | sed -n 's/.* per_url=\([0-9,]*\).*/\1/p')
after=$(echo "$summary" | sed -n 's/.* after_mark=\([0-9,]*\).*/\1/p')
b_total=$(echo "$per_url" | cut -d, -f2) b_after=$(echo "$after" | cut -d, -f2)
[ "${b_total:-0}" -gt "${b_after:-0}" ] && echo "PASS replica-b-served-before-kill" ||
	{ echo "FAIL replica-b-served-before-kill: $per_url / $after"; fails=$((fails + 1)); }
[ "${b_after:-0}" -gt 0 ] && echo "PASS replica-b-served-after-restart" ||
	{ echo "FAIL replica-b-served-after-restart: $per_url / $after"; fails=$((fails + 1)); }
kill -0 "$pid_a" && kill -0 "$pid_b" && kill -0 "$pid_c" && echo "PASS replicas-up-at-end" ||
	{ echo "FAIL replicas-up-at-end"; fails=$((fails + 1)); }
echo "$summary" | grep -Eq 'replays_refused=([1-9][0-9]*)/\1$' && echo "PASS replays-refused-everywhere" ||
	{ echo "FAIL replays-refused-everywhere: $summary"; fails=$((fails + 1)); }

# The database's side: one allow row per success, orphans only from B's crash.
broker_sql "$bdir" "SELECT encode(evidence_digest, 'hex') FROM audit
	WHERE action = 'release' AND verdict = 'allow'" > "$sdir/allow.txt" || die audit-query
broker_sql "$bdir" "SELECT verdict || ' ' || coalesce(reason, '') FROM audit
	WHERE action = 'release' AND verdict <> 'allow'" > "$sdir/other.txt" || die audit-query
broker_sql "$bdir" "SELECT encode(nonce_hash, 'hex') FROM used_nonces" > "$sdir/nonces.txt" ||
	die nonce-query
replayed=$(echo "$summary" | sed -n 's|.* replays_refused=[0-9]*/\([0-9]*\)$|\1|p')
python3 - "$sdir" $vms "${replayed:-0}" <<'PY'
import collections, sys
d, vms, replayed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = [l.split() for l in open(d + "/ok.txt") if l.strip()]
lost = {}
for l in open(d + "/lost.txt"):
    if l.strip():
        h, u = l.split()
        lost.setdefault(h, set()).add(int(u))
allow = collections.Counter(l.strip() for l in open(d + "/allow.txt") if l.strip())
other = [l.strip() for l in open(d + "/other.txt") if l.strip()]
nonces = [l.strip() for l in open(d + "/nonces.txt") if l.strip()]
fails = 0
def check(name, cond, why):
    global fails
    print(("PASS %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
    fails += 0 if cond else 1
ok_bodies = [b for b, n, u in ok]
bad = [b for b in ok_bodies if allow[b] != 1]
check("one-allow-row-per-release", not bad and len(ok) > 0,
      "%d of %d successful releases without exactly one allow row (e.g. %s: %d)"
      % (len(bad), len(ok), bad[0] if bad else "-", allow[bad[0]] if bad else 0))
orphans = [b for b in allow if b not in set(ok_bodies)]
stray = [b for b in orphans if 1 not in lost.get(b, set())]
check("extra-allow-rows-are-unanswered-at-killed-replica", not stray,
      "%d allow row(s) neither a success nor a request lost at B" % len(stray))
check("orphans-at-most-one-per-vm", len(orphans) <= vms, "%d orphan rows" % len(orphans))
# The replays after the storm are the only refusals.
check("no-release-denied-but-the-replays", other == ["deny nonce_replayed"] * replayed,
      "%d other than the %d replays: %s" % (len(other), replayed,
      [o for o in other if o != "deny nonce_replayed"][:3] or other[:3]))
check("allow-rows-distinct", all(c == 1 for c in allow.values()),
      "a request body audited allow twice")
check("successes-used-distinct-nonces", len(set(n for b, n, u in ok)) == len(ok),
      "a nonce released twice to the VMs")
check("used-nonces-one-per-allow-row", len(nonces) == sum(allow.values()) and
      len(set(nonces)) == len(nonces), "%d used nonces, %d allow rows" % (len(nonces), sum(allow.values())))
check("every-success-nonce-recorded", set(n for b, n, u in ok) <= set(nonces),
      "%d success nonces not in used_nonces" % len(set(n for b, n, u in ok) - set(nonces)))
print("# allow rows %d, successes %d, orphans %d, lost requests %d, used nonces %d"
      % (sum(allow.values()), len(ok), len(orphans), sum(len(v) for v in lost.values()), len(nonces)))
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fails=$((fails + 1))
[ "$fails" -eq 0 ]
