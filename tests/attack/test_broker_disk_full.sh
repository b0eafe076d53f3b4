# The disk fills during a release storm.  The broker's SQLite database sits
# on a small tmpfs this test mounts (size=SKR_DISKFULL_MB, 48 MB); a storm
# (tests/tools/skr-storm, 8 software VMs, SKR_DISKFULL_RELEASES releases,
# default 300, one URL, a 40 s deadline per release, the real client's retry
# rule) runs against one broker; once a quarter of the releases are done a
# filler file takes every free block, stays until at least 10 release
# answers were refused, and is removed.  The test runs as root; a tmpfs that
# cannot be mounted is a FAIL, never a skip.  It is unmounted on every exit
# path (the EXIT trap, and a watchdog for a kill -9 of this shell).  The
# storm, the filler and the audit assertions are tests/attack/disk_full.sh,
# shared with test_broker_disk_full_pg.sh (the same storm on PostgreSQL).
#
# Asserted:
#   - while the disk is full, releases are refused 503 with the reason
#     store_full (no other status or reason), and the broker logs why;
#   - no release is granted without its audit row: every success has exactly
#     one "release" "allow" row (by the SHA-256 of its request body), no
#     refused request has one, and there is no allow row beyond the
#     successes (the broker never died, so no request can be an orphan);
#     used_nonces holds exactly the allow rows' nonces;
#   - the audit chain's seq runs 1..n without a gap, each row's prev is the
#     hash of the row before, and audit_head holds the last seq and hash; PRAGMA integrity_check is "ok";
#   - after the filler is removed, the same broker process (same pid, never
#     restarted) serves releases again: every storm release ends granted,
#     some of them after the removal, and the replays at the end are refused.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
. "$(dirname "$0")/disk_full.sh"
# sql SQL: on the broker's database (on the tmpfs).
sql() { BROKER_DB_FILE=$mnt/broker.db python3 -c 'import os, sqlite3, sys
c = sqlite3.connect(os.environ["BROKER_DB_FILE"], timeout=10)
for r in c.execute(sys.argv[1]):
    print("|".join(str(x) for x in r))' "$1"; }

df_mount "${SKR_DISKFULL_MB:-48}"
df_storm
SKR_TEST_DB=sqlite
write_broker_config "$bdir" "$sdir/trust.pem" || die config
sed -i "s|\"database\": \"[^\"]*\"|\"database\": \"$mnt/broker.db\"|; s|\"nonce_ttl\": 60|\"nonce_ttl\": 900|" \
	"$bdir/broker.json"
start_broker "$bdir" || die "broker-start: $(cat "$bdir/broker.log")"
df_go
df_fill
df_wait_refused 10 15
df_free
[ "$refused_while_full" -ge 10 ] && echo "PASS releases-refused-while-full" ||
	{ echo "FAIL releases-refused-while-full: $refused_while_full refusals in 15 s"; fails=$((fails + 1)); }

df_storm_end
check refusals-are-503-store_full "$(awk '{print $2, $3}' "$sdir/refused.txt" | sort -u | tr '\n' ';')" \
	"503 store_full;"
grep -q 'store_full: .*out of space' "$bdir/broker.log" && echo "PASS broker-logs-store-full" ||
	{ echo "FAIL broker-logs-store-full: $(tail -3 "$bdir/broker.log")"; fails=$((fails + 1)); }
# The broker never died: no allow row can be in doubt.
df_audit_check "hex(%s)" 0
check integrity-check-ok "$(sql "SELECT * FROM pragma_integrity_check")" ok
stop_broker TERM
check integrity-check-ok-after-stop "$(sql "SELECT * FROM pragma_integrity_check")" ok
[ "$fails" -eq 0 ]
