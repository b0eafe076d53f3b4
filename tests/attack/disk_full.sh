# The disk-full storm that test_broker_disk_full.sh (SQLite) and
# test_broker_disk_full_pg.sh (PostgreSQL) share.  Source after
# tests/cli/lib.sh and tests/cli/broker.sh.
#
#   df_mount MB      mounts a tmpfs of MB megabytes at $mnt (as root; a FAIL,
#                    never a skip, when it cannot), with the watchdog and EXIT
#                    trap that unmount it on every exit path, a kill -9 of the
#                    test's shell included.  Processes whose pids are appended
#                    to $df_pids are killed (-9) first; a PostgreSQL server
#                    whose data directory is $mnt/data is stopped (the trap:
#                    stop_pg; the watchdog: SIGQUIT, immediate shutdown, and
#                    a bounded wait for the postmaster to go) before the
#                    tmpfs is unmounted.
#   df_storm         starts tests/tools/skr-storm (8 software VMs, $releases
#                    releases, a 40 s deadline each) in $sdir, waits for its
#                    trust anchors; the caller then writes the broker's
#                    configuration (trust: $sdir/trust.pem), starts it and
#                    calls df_go.
#   df_go            hands the storm the broker's URLs; waits until a quarter
#                    of the releases are done.
#   df_fill          a filler file takes every free block of $mnt; check
#                    disk-full.
#   df_wait_refused N SECONDS  waits until the storm saw N refusals in all
#                    (or it ended, or the time is up); 1 if fewer.
#   df_free          removes the filler, marks the storm (after_mark).
#   df_storm_end     waits for the storm and checks that it ended with every
#                    release granted, some after the disk was freed, by the
#                    same broker process.
#   df_audit_check   the audit rows against the storm's results (below).
# Callers set fails, check() and die() come from here.
check() { [ "$2" = "$3" ] && echo "PASS $1" || { echo "FAIL $1: got \"$2\", wanted \"$3\""; fails=$((fails + 1)); }; }
die() { echo "FAIL $1"; exit 1; }
releases=${SKR_DISKFULL_RELEASES:-300}
storm_pid= mnt=$tmpd/disk
bdir=$tmpd/broker sdir=$tmpd/storm
df_pids=$(mktemp)
mkdir -p "$bdir" "$sdir" "$mnt"

df_unmount() { mountpoint -q "$mnt" 2>/dev/null && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }; }

# df_pg_quit: the postmaster of a server under $mnt stopped at once (SIGQUIT)
# and waited for (20 s at most): the watchdog's way, when no trap ran.
df_pg_quit() {
	_p=$(head -n 1 "$mnt/data/postmaster.pid" 2>/dev/null) && [ -n "$_p" ] || return 0
	kill -QUIT "$_p" 2>/dev/null
	_i=0
	while kill -0 "$_p" 2>/dev/null && [ $_i -lt 200 ]; do sleep 0.1; _i=$((_i + 1)); done
}

df_cleanup() {
	[ -n "$storm_pid" ] && { kill -9 "$storm_pid" 2>/dev/null; wait "$storm_pid" 2>/dev/null; }
	stop_broker KILL
	: > "$df_pids"
	if [ -n "$PG_DIR" ]; then
		stop_pg 2>/dev/null
		df_pg_quit
	fi
	df_unmount
	rm -rf "$out" "$err" "$tmpd" "$df_pids"
}

df_mount() {
	(
		trap '' HUP INT TERM
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		[ -s "$df_pids" ] && kill -9 $(cat "$df_pids")
		df_pg_quit
		sleep 0.2
		mountpoint -q "$mnt" && { umount "$mnt" || umount -l "$mnt"; }
		rm -rf "$tmpd" "$out" "$err" "$df_pids"
	) </dev/null >/dev/null 2>&1 &
	trap df_cleanup EXIT
	trap 'exit 1' HUP INT TERM
	[ "$(id -u)" = 0 ] || die "tmpfs-mounted: this test runs as root (it mounts a tmpfs)"
	mount -t tmpfs -o "size=${1}m,mode=0700" skr-diskfull "$mnt" 2>"$tmpd/mount.err" ||
		die "tmpfs-mounted: $(cat "$tmpd/mount.err")"
	mountpoint -q "$mnt" && echo "PASS tmpfs-mounted" || die "tmpfs-mounted: not a mount point"
}

df_count() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

df_storm() {
	"$BUILD/tools/skr-storm" --dir "$sdir" --vms 8 --releases "$releases" --deadline-ms 40000 \
		>"$sdir/summary" 2>"$sdir/log" &
	storm_pid=$!
	echo "$storm_pid" >> "$df_pids"
	wait_storm_trust "$sdir" "$storm_pid" || die "storm-setup: $(cat "$sdir/log")"
	make_tls "$bdir" || die tls
}

df_go() {
	pid=$broker_pid
	echo "$pid" >> "$df_pids"
	printf '%s\n%s\n%s\n%s\n' "$ADMIN_URL" "$bdir/admin.token" "$bdir/ca.pem" "$RELEASE_URL" \
		> "$sdir/go.tmp" && mv "$sdir/go.tmp" "$sdir/go"
	_i=0
	while [ "$(df_count "$sdir/ok.txt")" -lt $((releases / 4)) ]; do
		kill -0 "$storm_pid" 2>/dev/null || die "storm-ran-to-the-fill: $(tail -5 "$sdir/log")"
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || die "storm-ran-to-the-fill: $(df_count "$sdir/ok.txt") releases in 60 s"
		sleep 0.05
	done
}

df_fill() {
	# Every free block: dd stops at ENOSPC.
	dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
	sync
	full_at=$(df_count "$sdir/ok.txt")
	check disk-full "$(df --output=avail -k "$mnt" | tail -1 | tr -d ' ')" 0
}

df_wait_refused() {
	_i=0
	while [ "$(df_count "$sdir/refused.txt")" -lt "$1" ] && [ $_i -lt $(($2 * 20)) ]; do
		kill -0 "$storm_pid" 2>/dev/null || break
		sleep 0.05
		_i=$((_i + 1))
	done
	[ "$(df_count "$sdir/refused.txt")" -ge "$1" ]
}

df_free() {
	refused_while_full=$(df_count "$sdir/refused.txt")
	rm -f "$mnt/filler"
	touch "$sdir/mark"
	freed_at=$(df_count "$sdir/ok.txt")
}

df_storm_end() {
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
}

# df_audit_check HEX IN_DOUBT: the audit rows (read with the test's sql(); HEX
# names the SQL function that makes a bytea/blob column lowercase or
# uppercase hex: "hex" for SQLite, "encode(%s, 'hex')"-like for PostgreSQL,
# given as a printf format) against the storm's results:
#   - every success has exactly one "release" "allow" row (by the SHA-256 of
#     its request body), and no request refused store_full has one;
#   - with IN_DOUBT 0 (the store never went away) there is no allow row
#     beyond the successes; with IN_DOUBT 1 (the server crashed and
#     restarted: a commit under way may have reached the WAL while its
#     answer was lost) an allow row beyond the successes must be a request
#     the storm lost (no answer, or a 5xx other than store_full);
#   - no release was denied but the replays at the end, and refusals for
#     the store (store_full, store_unavailable) that were audited after all;
#     used_nonces holds exactly the allow rows' nonces;
#   - the audit chain's seq runs 1..n without a gap, each row's prev is the
#     hash of the row before (zeros for the first), and audit_head holds the
#     last row's seq and hash.
df_audit_check() {
	# shellcheck disable=SC2059
	sql "SELECT $(printf "$1" evidence_digest) FROM audit WHERE action = 'release' AND verdict = 'allow'" \
		| tr 'A-F' 'a-f' > "$sdir/allow.txt" || die audit-query
	sql "SELECT verdict || ' ' || coalesce(reason, '') FROM audit
		WHERE action = 'release' AND verdict <> 'allow'" > "$sdir/other.txt" || die audit-query
	# shellcheck disable=SC2059
	sql "SELECT $(printf "$1" nonce_hash) FROM used_nonces" | tr 'A-F' 'a-f' > "$sdir/nonces.txt" ||
		die nonce-query
	# shellcheck disable=SC2059
	sql "SELECT seq, $(printf "$1" prev), $(printf "$1" hash) FROM audit ORDER BY seq" |
		tr 'A-F' 'a-f' > "$sdir/seq.txt" || die seq-query
	# shellcheck disable=SC2059
	sql "SELECT seq, $(printf "$1" hash) FROM audit_head" | tr 'A-F' 'a-f' > "$sdir/head.txt" ||
		die head-query
	replayed=$(echo "$summary" | sed -n 's|.* replays_refused=[0-9]*/\([0-9]*\)$|\1|p')
	python3 - "$sdir" "${replayed:-0}" "$2" <<'PY'
import collections, sys
d, replayed, in_doubt = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ok = [l.split() for l in open(d + "/ok.txt") if l.strip()]
refused = [l.split() for l in open(d + "/refused.txt") if l.strip()]
full = set(r[0] for r in refused if r[2:3] == ["store_full"])
lost = set(l.split()[0] for l in open(d + "/lost.txt") if l.strip()) - full
allow = collections.Counter(l.strip() for l in open(d + "/allow.txt") if l.strip())
other = [l.strip() for l in open(d + "/other.txt") if l.strip()]
nonces = [l.strip() for l in open(d + "/nonces.txt") if l.strip()]
chain = [l.strip().split("|") for l in open(d + "/seq.txt") if l.strip()]
seq = [int(r[0]) for r in chain]
head = [l.strip().split("|") for l in open(d + "/head.txt") if l.strip()]
fails = 0
def check(name, cond, why):
    global fails
    print(("PASS %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
    fails += 0 if cond else 1
bodies = [b for b, n, u in ok]
bad = [b for b in bodies if allow[b] != 1]
check("one-allow-row-per-release", not bad and ok, "%d of %d without exactly one allow row"
      % (len(bad), len(ok)))
orphans = set(allow) - set(bodies)
stray = orphans - lost if in_doubt else orphans
check("no-allow-row-without-a-granted-release", not stray,
      "%d allow rows that no VM received%s" % (len(stray), " and no request lost" if in_doubt else ""))
check("refused-store_full-requests-have-no-allow-row", not (full & set(allow)),
      "%d requests refused store_full audited allow" % len(full & set(allow)))
# A release refused because of the store is audited as such when the store
# takes the row (e.g. refused while PostgreSQL restarted, audited once back).
store = ["deny store_full", "deny store_unavailable"]
check("no-release-denied-but-the-replays", other.count("deny nonce_replayed") == replayed and
      all(o in store for o in other if o != "deny nonce_replayed"),
      "%s" % [o for o in other if o not in store][:3])
check("used-nonces-match-allow-rows", len(nonces) == sum(allow.values()) == len(set(nonces)) and
      set(n for b, n, u in ok) <= set(nonces), "%d used nonces, %d allow rows" % (len(nonces), sum(allow.values())))
check("audit-seq-without-gaps", seq == list(range(1, len(seq) + 1)) and
      [int(h[0]) for h in head] == [len(seq)],
      "seq %s..%s of %d rows, head %s" % (seq[:1], seq[-1:], len(seq), [h[0] for h in head]))
links = [i for i in range(len(chain)) if chain[i][1] != (chain[i - 1][2] if i else "0" * 64)]
check("audit-chain-linked-to-its-head", chain and not links and len(head) == 1 and
      head[0][1] == chain[-1][2], "%d rows whose prev is not the hash before (first at seq %s), "
      "head hash %s, last row's %s" % (len(links), chain[links[0]][0] if links else "-",
      head[0][1][:16] if head else "-", chain[-1][2][:16] if chain else "-"))
print("# allow rows %d, successes %d, in-doubt allow rows %d, refused %d (store_full %d), "
      "store refusals audited %d, rows %d" % (sum(allow.values()), len(ok), len(orphans),
      len(refused), len(full), len([o for o in other if o in store]), len(seq)))
sys.exit(1 if fails else 0)
PY
	[ $? = 0 ] || fails=$((fails + 1))
}
