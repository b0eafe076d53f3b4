# The disk fills during a release storm, the broker on PostgreSQL: the
# storm of test_broker_disk_full.sh (tests/attack/disk_full.sh, shared) with
# the broker's database on a private PostgreSQL server (tests/cli/pg.sh)
# whose whole data directory (tables, indexes, pg_wal; initdb
# --wal-segsize=1, so that 1 MB WAL segments keep it small) sits on a tmpfs
# this test mounts (size=SKR_DISKFULL_MB, 64 MB).  The server is stopped and
# the tmpfs unmounted on every exit path (the EXIT trap; a watchdog, after a
# kill -9 of this shell, sends the postmaster SIGQUIT, waits for it, then
# unmounts).
#
# What PostgreSQL 15 does when its disk is full, and what is asserted of it:
#   1. a table or index that must grow fails the statement with ERROR 53100
#      ("could not extend file ...: No space left on device"): the
#      transaction rolls back, the server and the connection stay.  The
#      broker answers 503 store_full (its detail names SQLSTATE 53100);
#   2. a WAL segment that cannot be made inside a critical section is a
#      PANIC ("could not write to file pg_wal/xlogtemp.N"): the postmaster
#      kills every backend, runs crash recovery and accepts connections
#      again, on the still-full disk (recovery recycles old segments).  The
#      storm alone writes too little WAL while refused to reach the next
#      segment, so the test makes it: once the filler is in place and
#      releases are refused, WAL messages (pg_logical_emit_message, 256 kB
#      each) until the server log shows the PANIC.  Requests under way then
#      lose their connection: 503 store_unavailable (the server is
#      restarting); the broker's pooled connections are all dead and it
#      opens new ones by itself, and while the disk is still full its
#      answers are store_full again.
# Asserted: the filler takes every block; releases are refused while full,
# only ever 503 store_full or 503 store_unavailable, store_full among them
# (and again after the PANIC: the broker reconnected); the broker logs
# store_full with SQLSTATE 53100; the server logged both the ERROR and the
# PANIC and came back by itself; no release is granted without exactly one
# audit "allow" row, no request refused store_full has one, an allow row
# beyond the successes can only be a request whose answer was lost (a
# commit under way at the PANIC may have reached the WAL); used_nonces
# holds exactly the allow rows' nonces; the audit seq runs 1..n, each
# row's prev is the hash before it and audit_head holds the last seq and hash; amcheck finds every table and index of the
# broker's database sound; once the filler is removed the same broker
# process (same pid) grants every storm release.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
. "$(dirname "$0")/disk_full.sh"
sql() { broker_sql "$bdir" "$1"; }
# pg_ready: the server answers a query (not starting, not in recovery).
pg_ready() { PG_DB=postgres pg_sql "SELECT 1" >/dev/null 2>&1; }
postmaster() { head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null; }

df_mount "${SKR_DISKFULL_MB:-64}"
# The data directory on the tmpfs, the server's log and socket beside the
# test's other files: a log on the full disk would lose the very lines that
# say what happened.  nobody (the server's user) must get through to it.
mkdir -p "$tmpd/pg" "$mnt/data"
chown nobody "$mnt/data"
chmod 700 "$mnt/data"
chmod 711 "$tmpd" "$mnt"
ln -s "$mnt/data" "$tmpd/pg/data"
PG_INITDB_OPTS=--wal-segsize=1 start_pg "$tmpd/pg" || die "pg-start"
postmaster_pid=$(postmaster)
df_storm
SKR_TEST_DB=postgresql
write_broker_config "$bdir" "$sdir/trust.pem" || die config
sed -i "s|\"nonce_ttl\": 60|\"nonce_ttl\": 900|" "$bdir/broker.json"
start_broker "$bdir" || die "broker-start: $(cat "$bdir/broker.log")"
df_go
df_fill

# 1. Tables and indexes cannot grow.
df_wait_refused 5 20 && echo "PASS releases-refused-while-full" ||
	{ echo "FAIL releases-refused-while-full: $(df_count "$sdir/refused.txt") refusals in 20 s"; fails=$((fails + 1)); }
grep -q 'ERROR:  could not extend file .*No space left on device' "$PG_DIR/postgres.log" &&
	echo "PASS postgres-error-on-extension" ||
	{ echo "FAIL postgres-error-on-extension: $(grep -v STATEMENT "$PG_DIR/postgres.log" | tail -3)"; fails=$((fails + 1)); }

# 2. A WAL segment cannot be made: PANIC, every backend killed, crash
# recovery: which may end on the full disk (the server is back by itself) or
# fail there (the postmaster shuts down: "startup process failure").
i=0
while ! grep -q 'PANIC: .*No space left on device' "$PG_DIR/postgres.log" && [ $i -lt 200 ]; do
	pg_sql "SELECT pg_logical_emit_message(false, 'skr-test', repeat('x', 262144))" >/dev/null 2>&1
	i=$((i + 1))
done
grep -q 'PANIC: .*No space left on device' "$PG_DIR/postgres.log" && echo "PASS postgres-panics-on-wal-write" ||
	{ echo "FAIL postgres-panics-on-wal-write: $(grep -v STATEMENT "$PG_DIR/postgres.log" | tail -3)"; fails=$((fails + 1)); }
logged=$(wc -l < "$bdir/broker.log")
i=0
until pg_ready || [ $i -ge 300 ]; do
	kill -0 "$postmaster_pid" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
if pg_ready; then pg_state="back by itself on the full disk"
elif kill -0 "$postmaster_pid" 2>/dev/null; then pg_state="still recovering after 30 s"
else pg_state="shut down: crash recovery failed on the full disk"
fi
# The broker keeps refusing with a reason: store_full from a server back on
# the full disk (it opened new connections by itself), store_unavailable
# while the server restarts or is down.
i=0
while [ "$(tail -n +$((logged + 1)) "$bdir/broker.log" | grep -c 'skr-broker: store_\(full\|unavailable\): ')" -lt 3 ] &&
	[ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
tail -n +$((logged + 1)) "$bdir/broker.log" | grep -o 'skr-broker: store_[a-z]*' | sort | uniq -c |
	sed 's/^ */# broker log after the PANIC: /'
n=$(tail -n +$((logged + 1)) "$bdir/broker.log" | grep -c 'skr-broker: store_\(full\|unavailable\): ')
[ "$n" -ge 3 ] && echo "PASS refusing-with-a-reason-after-the-panic" ||
	{ echo "FAIL refusing-with-a-reason-after-the-panic: $n store_full/store_unavailable refusals logged in 10 s: $(tail -n +$((logged + 1)) "$bdir/broker.log" | tail -2)"; fails=$((fails + 1)); }
df_free
# A server that did not come back is restarted once there is space, as its
# service manager or operator would; the broker reconnects by itself.
echo "# PostgreSQL after the PANIC: $pg_state"
[ "$pg_state" = "back by itself on the full disk" ] ||
	{ pg_down 2>/dev/null; pg_up || die "pg-restart: $(tail -3 "$PG_DIR/postgres.log")"; }
pg_ready && echo "PASS postgres-back" || { echo "FAIL postgres-back: $(tail -3 "$PG_DIR/postgres.log")"; fails=$((fails + 1)); }

df_storm_end
refusals=$(awk '{print $2, $3}' "$sdir/refused.txt" | sort | uniq -c | awk '{print $2, $3 "=" $1}' | tr '\n' ' ')
echo "# refusals: $refusals"
check refusals-are-503-store_full-or-store_unavailable \
	"$(awk '$2 != 503 || ($3 != "store_full" && $3 != "store_unavailable")' "$sdir/refused.txt" | head -3)" ""
grep -q 'store_full: .*out of space: disk full, SQLSTATE 53100' "$bdir/broker.log" &&
	echo "PASS broker-logs-store-full-53100" ||
	{ echo "FAIL broker-logs-store-full-53100: $(tail -3 "$bdir/broker.log")"; fails=$((fails + 1)); }
df_audit_check "encode(%s, 'hex')" 1
sql "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null || die amcheck
check amcheck-tables-sound "$(sql "SELECT count(*) FROM pg_class c, verify_heapam(c.oid)
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'")" 0
# bt_index_check raises an error on a damaged index; each one checked counts.
check amcheck-indexes-sound "$(sql "SELECT count(bt_index_check(c.oid, true)) = count(*) AND count(*) > 0
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'i' AND a.amname = 'btree'" 2>&1)" t
stop_broker TERM
[ "$fails" -eq 0 ]
