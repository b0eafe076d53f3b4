# The broker's wall clock jumps a day forward and a day back while it runs.
#
# The broker runs under libfaketime (package faketime): LD_PRELOAD of
# libfaketimeMT with FAKETIME_TIMESTAMP_FILE, a file holding the offset from
# the real time ("+0", "-1d", "+1d") that the test rewrites between steps,
# FAKETIME_NO_CACHE=1 so every clock call reads it, and
# FAKETIME_DONT_FAKE_MONOTONIC=1 so that only the wall clock (time(),
# CLOCK_REALTIME) jumps while CLOCK_MONOTONIC runs on, as on a host whose
# clock is stepped.  Only the broker is preloaded; the VM side
# (tests/tools/skr-storm --steps, one software VM driven step by step over
# a pipe) and this script run on the real clock.
#
# What the design says (docs/DESIGN.md, "Clock steps"): nonces are stateless
# MAC'd tokens carrying their expiry in Unix seconds, so replicas sharing the
# nonce secret agree on them; each broker judges them on its own wall clock
# that never steps back (common/util.h skr_steady_time: the larger of the
# wall clock and the last value advanced by the monotonic clock).  So:
#   - after a backward jump the broker's time keeps running on the monotonic
#     clock: a nonce issued before the jump is accepted within its TTL, a
#     new challenge's expiry is real time + TTL, a nonce that expired stays
#     expired (it is not made valid again), a used nonce stays refused;
#   - a forward jump is followed (it cannot be told from time passing): a
#     nonce in flight across it expires (nonce_expired; the client's next
#     attempt takes a fresh challenge, which is accepted at once), replays
#     stay refused;
#   - when the forward jump is undone, the broker's time does not step back
#     either: it serves on, with expiries a day ahead, until the wall clock
#     catches up (or the broker restarts);
#   - audit rows keep their seq 1..n without gaps and their times never
#     decrease; checkpoints (every second, on the monotonic clock) go on
#     through the jumps, in order, and cover the last row.
# nonce_ttl is 6 s so that a nonce can expire within the test.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
vm_pid= broker_pid=
cleanup() {
	exec 3>&- 4<&- 2>/dev/null
	[ -n "$vm_pid" ] && { kill -9 "$vm_pid" 2>/dev/null; wait "$vm_pid" 2>/dev/null; }
	stop_broker KILL
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
check() { [ "$2" = "$3" ] && echo "PASS $1" || { echo "FAIL $1: got \"$2\", wanted \"$3\""; fails=$((fails + 1)); }; }
die() { echo "FAIL $1"; exit 1; }
ttl=6
bdir=$tmpd/broker sdir=$tmpd/vm
mkdir -p "$bdir" "$sdir"

lib=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$lib" ] || die "libfaketime-present: no libfaketimeMT.so.1 (apt-get install faketime)"
clockf=$tmpd/clock
jump() { printf '%s\n' "$1" > "$clockf.tmp" && mv "$clockf.tmp" "$clockf"; }
jump +0

mkfifo "$sdir/in" "$sdir/out"
"$BUILD/tools/skr-storm" --dir "$sdir" --steps <"$sdir/in" >"$sdir/out" 2>"$sdir/log" &
vm_pid=$!
exec 3>"$sdir/in" 4<"$sdir/out"
watch_pids "$vm_pid"
wait_storm_trust "$sdir" "$vm_pid" || die "vm-setup: $(cat "$sdir/log")"
make_tls "$bdir" || die tls
SKR_TEST_DB=sqlite
write_broker_config "$bdir" "$sdir/trust.pem" || die config
openssl ecparam -name prime256v1 -genkey -noout -out "$bdir/audit.key" 2>/dev/null && chmod 600 "$bdir/audit.key"
sed -i "s|\"nonce_ttl\": 60|\"nonce_ttl\": $ttl, \"audit_signing_key\": \"$bdir/audit.key\", \"audit_checkpoint_interval\": 1|" \
	"$bdir/broker.json"
# start_broker's steps, with libfaketime preloaded for the broker alone.
LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$clockf FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	"$BUILD/skr-broker" --config "$bdir/broker.json" --port-file "$bdir/ports" 2>>"$bdir/broker.log" &
broker_pid=$!
watch_pids "$broker_pid"
i=0
while [ ! -s "$bdir/ports" ] && [ $i -lt 100 ]; do
	kill -0 "$broker_pid" 2>/dev/null || die "broker-start: $(cat "$bdir/broker.log")"
	sleep 0.1
	i=$((i + 1))
done
read -r rport aport < "$bdir/ports" || die "broker-start: no ports"
printf '%s\n%s\n%s\n%s\n' "https://127.0.0.1:$aport" "$bdir/admin.token" "$bdir/ca.pem" \
	"https://127.0.0.1:$rport" > "$sdir/go.tmp" && mv "$sdir/go.tmp" "$sdir/go"

# step VERB NAME: one step of the VM; its answer line in $answer.
step() {
	echo "$1 $2" >&3
	answer=
	read -r answer <&4 || die "vm-answers: $(tail -3 "$sdir/log")"
}
# released NAME CHECK / refused NAME REASON CHECK
released() { step release "$1"; check "$2" "$answer" "release $1 200"; }
refused() { step release "$1"; check "$3" "$answer" "release $1 403 $2"; }
# gone NAME CHECK: a used nonce sent again is refused, as replayed or, once
# past its expiry on the broker's clock, as expired.
gone() {
	step release "$1"
	case $answer in
	"release $1 403 nonce_replayed" | "release $1 403 nonce_expired") echo "PASS $2" ;;
	*) echo "FAIL $2: $answer"; fails=$((fails + 1)) ;;
	esac
}
# challenged NAME: the expiry it was given, minus the real time now.
challenged() { step challenge "$1"; lead=$((${answer##*expires=} - $(date +%s))); }
near() { [ "$2" -ge $(($3 - 3)) ] && [ "$2" -le $(($3 + 2)) ] && echo "PASS $1" ||
	{ echo "FAIL $1: expires in $2 s, wanted about $3"; fails=$((fails + 1)); }; }

# On the real time.
challenged a
near challenge-expiry-is-now-plus-ttl "$lead" $ttl
released a release-on-time
refused a nonce_replayed replay-refused
challenged e	# left to expire
challenged b

# A day back.
jump -1d
released b nonce-from-before-backward-jump-accepted
challenged c
near challenge-expiry-ignores-backward-jump "$lead" $ttl
released c release-after-backward-jump
gone a replay-refused-after-backward-jump
gone b replay-of-jump-nonce-refused-after-backward-jump
sleep $((ttl + 2))
refused e nonce_expired expired-nonce-stays-expired-after-backward-jump

# Back to the real time, then a day forward.
jump +0
challenged f
released f release-after-clock-restored
challenged g
jump +1d
refused g nonce_expired nonce-in-flight-across-forward-jump-expires
challenged h
near challenge-expiry-follows-forward-jump "$lead" $((86400 + ttl))
released h fresh-challenge-after-forward-jump-released
gone h replay-refused-after-forward-jump
gone f old-replay-refused-after-forward-jump

# The forward jump undone: the broker's time does not step back.
jump +0
challenged i
[ "$lead" -ge 86000 ] && echo "PASS broker-time-does-not-step-back-after-forward-jump-undone" ||
	{ echo "FAIL broker-time-does-not-step-back-after-forward-jump-undone: expires in $lead s"; fails=$((fails + 1)); }
released i release-after-forward-jump-undone
gone h replay-refused-after-forward-jump-undone
kill -0 "$broker_pid" && echo "PASS broker-up-through-the-jumps" ||
	{ echo "FAIL broker-up-through-the-jumps: $(tail -3 "$bdir/broker.log")"; fails=$((fails + 1)); }

# The record: rows, their times, the checkpoints.
sleep 2.5	# a checkpoint covers the last row
python3 - "$bdir/broker.db" "$sdir/ok.txt" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
fails = 0
def check(name, cond, why):
    global fails
    print(("PASS %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
    fails += 0 if cond else 1
rows = c.execute("SELECT id, seq, time, action, verdict, coalesce(reason, ''), "
                 "lower(hex(evidence_digest)) FROM audit ORDER BY id").fetchall()
seq = [r[1] for r in rows]
head = c.execute("SELECT seq FROM audit_head").fetchone()[0]
check("audit-seq-in-order-without-gaps", seq == list(range(1, len(rows) + 1)) and head == len(rows),
      "seq %s, head %d" % (seq, head))
times = [r[2] for r in rows]
check("audit-times-never-decrease", all(a <= b for a, b in zip(times, times[1:])),
      "times %s" % times)
ok = [l.split()[0] for l in open(sys.argv[2]) if l.strip()]
allow = [r[6] for r in rows if r[3] == "release" and r[4] == "allow"]
check("one-allow-row-per-release", sorted(ok) == sorted(allow) and len(ok) == 6,
      "%d releases, %d allow rows" % (len(ok), len(allow)))
denied = sorted(r[5] for r in rows if r[3] == "release" and r[4] == "deny")
check("every-refusal-audited", len(denied) == 8 and set(denied) <= {"nonce_replayed", "nonce_expired"},
      "%s" % denied)
cps = c.execute("SELECT seq, time FROM audit_checkpoints ORDER BY id").fetchall()
check("checkpoints-in-order", len(cps) >= 2 and
      all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(cps, cps[1:])), "%s" % cps)
check("last-checkpoint-covers-head", cps and cps[-1][0] == head, "%s, head %d" % (cps[-1:], head))
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fails=$((fails + 1))
[ "$fails" -eq 0 ]
