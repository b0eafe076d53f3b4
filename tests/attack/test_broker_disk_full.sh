# The disk fills during a release storm.  The broker's SQLite database sits
# on a small tmpfs this test mounts (size=SKR_DISKFULL_MB, 48 MB); a storm
# (tests/tools/skr-storm, 8 software VMs, SKR_DISKFULL_RELEASES releases,
# default 300, one URL, a 40 s deadline per release, the real client's retry
# rule) runs against one broker; once a quarter of the releases are done a
# filler file takes every free block, stays until at least 10 release
# answers were refused, and is removed.  The test runs as root; a tmpfs that
# cannot be mounted is a FAIL, never a skip.  It is unmounted on every exit
# path (the EXIT trap, and a watchdog for a kill -9 of this shell).
#
# Asserted:
#   - while the disk is full, releases are refused 503 with the reason
#     store_full (no other status or reason), and the broker logs why;
#   - no release is granted without its audit row: every success has exactly
#     one "release" "allow" row (by the SHA-256 of its request body), no
#     refused request has one, and there is no allow row beyond the
#     successes (the broker never died, so no request can be an orphan);
#     used_nonces holds exactly the allow rows' nonces;
#   - the audit chain's seq runs 1..n without a gap and audit_head points at
#     its end; PRAGMA integrity_check is "ok";
#   - after the filler is removed, the same broker process (same pid, never
#     restarted) serves releases again: every storm release ends granted,
#     some of them after the removal, and the replays at the end are refused.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
storm_pid= mnt=$tmpd/disk
pids=$(mktemp)
unmount() { mountpoint -q "$mnt" 2>/dev/null && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }; }
(
	trap '' HUP INT TERM
	while kill -0 $$ 2>/dev/null; do sleep 1; done
	[ -s "$pids" ] && kill -9 $(cat "$pids")
	sleep 0.2
	mountpoint -q "$mnt" && { umount "$mnt" || umount -l "$mnt"; }
	rm -rf "$tmpd" "$out" "$err" "$pids"
) </dev/null >/dev/null 2>&1 &
cleanup() {
	[ -n "$storm_pid" ] && { kill -9 "$storm_pid" 2>/dev/null; wait "$storm_pid" 2>/dev/null; }
	stop_broker KILL
	: > "$pids"
	unmount
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
# sql SQL: on the broker's database (on the tmpfs).
sql() { BROKER_DB_FILE=$mnt/broker.db python3 -c 'import os, sqlite3, sys
c = sqlite3.connect(os.environ["BROKER_DB_FILE"], timeout=10)
for r in c.execute(sys.argv[1]):
    print("|".join(str(x) for x in r))' "$1"; }
check() { [ "$2" = "$3" ] && echo "PASS $1" || { echo "FAIL $1: got \"$2\", wanted \"$3\""; fails=$((fails + 1)); }; }
die() { echo "FAIL $1"; exit 1; }
releases=${SKR_DISKFULL_RELEASES:-300}
bdir=$tmpd/broker sdir=$tmpd/storm
mkdir -p "$bdir" "$sdir" "$mnt"

[ "$(id -u)" = 0 ] || die "tmpfs-mounted: this test runs as root (it mounts a tmpfs)"
mount -t tmpfs -o "size=${SKR_DISKFULL_MB:-48}m,mode=0700" skr-diskfull "$mnt" 2>"$tmpd/mount.err" ||
	die "tmpfs-mounted: $(cat "$tmpd/mount.err")"
mountpoint -q "$mnt" && echo "PASS tmpfs-mounted" || die "tmpfs-mounted: not a mount point"

"$BUILD/tools/skr-storm" --dir "$sdir" --vms 8 --releases "$releases" --deadline-ms 40000 \
	>"$sdir/summary" 2>"$sdir/log" &
storm_pid=$!
echo "$storm_pid" >> "$pids"
wait_storm_trust "$sdir" "$storm_pid" || die "storm-setup: $(cat "$sdir/log")"
make_tls "$bdir" || die tls
SKR_TEST_DB=sqlite
write_broker_config "$bdir" "$sdir/trust.pem" || die config
sed -i "s|\"database\": \"[^\"]*\"|\"database\": \"$mnt/broker.db\"|; s|\"nonce_ttl\": 60|\"nonce_ttl\": 900|" \
	"$bdir/broker.json"
start_broker "$bdir" || die "broker-start: $(cat "$bdir/broker.log")"
pid=$broker_pid
echo "$pid" >> "$pids"
printf '%s\n%s\n%s\n%s\n' "$ADMIN_URL" "$bdir/admin.token" "$bdir/ca.pem" "$RELEASE_URL" \
	> "$sdir/go.tmp" && mv "$sdir/go.tmp" "$sdir/go"

count() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
i=0
while [ "$(count "$sdir/ok.txt")" -lt $((releases / 4)) ]; do
	kill -0 "$storm_pid" 2>/dev/null || die "storm-ran-to-the-fill: $(tail -5 "$sdir/log")"
	i=$((i + 1))
	[ $i -lt 1200 ] || die "storm-ran-to-the-fill: $(count "$sdir/ok.txt") releases in 60 s"
	sleep 0.05
done
# Every free block: dd stops at ENOSPC.
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
sync
full_at=$(count "$sdir/ok.txt")
check disk-full "$(df --output=avail -k "$mnt" | tail -1 | tr -d ' ')" 0
i=0
while [ "$(count "$sdir/refused.txt")" -lt 10 ] && [ $i -lt 300 ]; do
	kill -0 "$storm_pid" 2>/dev/null || break
	sleep 0.05
	i=$((i + 1))
done
refused_while_full=$(count "$sdir/refused.txt")
rm -f "$mnt/filler"
touch "$sdir/mark"
freed_at=$(count "$sdir/ok.txt")
[ "$refused_while_full" -ge 10 ] && echo "PASS releases-refused-while-full" ||
	{ echo "FAIL releases-refused-while-full: $refused_while_full refusals in 15 s"; fails=$((fails + 1)); }

wait "$storm_pid"
rc=$?
storm_pid=
summary=$(cat "$sdir/summary")
echo "# $summary (full at $full_at, freed at $freed_at, $refused_while_full refused while full)"
check storm-exit "$rc" 0
[ "$rc" = 0 ] || sed 's/^/# /' "$sdir/log" | tail -10
check every-release-granted-after-the-disk-freed \
	"$(echo "$summary" | grep -o 'ok=[0-9]* failed=[0-9]*')" "ok=$releases failed=0"
after=$(echo "$summary" | sed -n 's/.* after_mark=\([0-9]*\).*/\1/p')
[ "${after:-0}" -gt 0 ] && echo "PASS same-broker-serves-after-the-disk-freed" ||
	{ echo "FAIL same-broker-serves-after-the-disk-freed: $summary"; fails=$((fails + 1)); }
kill -0 "$pid" 2>/dev/null && [ "$broker_pid" = "$pid" ] && echo "PASS broker-never-restarted" ||
	{ echo "FAIL broker-never-restarted: pid $pid gone"; fails=$((fails + 1)); }
check refusals-are-503-store_full "$(awk '{print $2, $3}' "$sdir/refused.txt" | sort -u | tr '\n' ';')" \
	"503 store_full;"
grep -q 'store_full: .*out of space' "$bdir/broker.log" && echo "PASS broker-logs-store-full" ||
	{ echo "FAIL broker-logs-store-full: $(tail -3 "$bdir/broker.log")"; fails=$((fails + 1)); }

sql "SELECT hex(evidence_digest) FROM audit WHERE action = 'release' AND verdict = 'allow'" \
	| tr 'A-F' 'a-f' > "$sdir/allow.txt" || die audit-query
sql "SELECT verdict || ' ' || coalesce(reason, '') FROM audit
	WHERE action = 'release' AND verdict <> 'allow'" > "$sdir/other.txt" || die audit-query
sql "SELECT hex(nonce_hash) FROM used_nonces" | tr 'A-F' 'a-f' > "$sdir/nonces.txt" ||
	die nonce-query
sql "SELECT seq FROM audit ORDER BY seq" > "$sdir/seq.txt" || die seq-query
sql "SELECT seq FROM audit_head" > "$sdir/head.txt" || die head-query
replayed=$(echo "$summary" | sed -n 's|.* replays_refused=[0-9]*/\([0-9]*\)$|\1|p')
python3 - "$sdir" "${replayed:-0}" <<'PY'
import collections, sys
d, replayed = sys.argv[1], int(sys.argv[2])
ok = [l.split() for l in open(d + "/ok.txt") if l.strip()]
refused = set(l.split()[0] for l in open(d + "/refused.txt") if l.strip())
allow = collections.Counter(l.strip() for l in open(d + "/allow.txt") if l.strip())
other = [l.strip() for l in open(d + "/other.txt") if l.strip()]
nonces = [l.strip() for l in open(d + "/nonces.txt") if l.strip()]
seq = [int(l) for l in open(d + "/seq.txt") if l.strip()]
head = [int(l) for l in open(d + "/head.txt") if l.strip()]
fails = 0
def check(name, cond, why):
    global fails
    print(("PASS %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
    fails += 0 if cond else 1
bodies = [b for b, n, u in ok]
bad = [b for b in bodies if allow[b] != 1]
check("one-allow-row-per-release", not bad and ok, "%d of %d without exactly one allow row"
      % (len(bad), len(ok)))
check("no-allow-row-without-a-granted-release", set(allow) == set(bodies),
      "%d allow rows that no VM received" % len(set(allow) - set(bodies)))
check("refused-requests-have-no-allow-row", not (refused & set(allow)),
      "%d refused requests audited allow" % len(refused & set(allow)))
check("no-release-denied-but-the-replays", other == ["deny nonce_replayed"] * replayed,
      "%s" % other[:3])
check("used-nonces-match-allow-rows", len(nonces) == sum(allow.values()) == len(set(nonces)) and
      set(n for b, n, u in ok) == set(nonces), "%d used nonces, %d allow rows" % (len(nonces), sum(allow.values())))
check("audit-seq-without-gaps", seq == list(range(1, len(seq) + 1)) and head == [len(seq)],
      "seq %s..%s of %d rows, head %s" % (seq[:1], seq[-1:], len(seq), head))
print("# allow rows %d, successes %d, refused %d, rows %d" % (sum(allow.values()), len(ok), len(refused), len(seq)))
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fails=$((fails + 1))
check integrity-check-ok "$(sql "SELECT * FROM pragma_integrity_check")" ok
stop_broker TERM
check integrity-check-ok-after-stop "$(sql "SELECT * FROM pragma_integrity_check")" ok
[ "$fails" -eq 0 ]
