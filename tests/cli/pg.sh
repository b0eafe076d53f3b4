# Shell helpers for tests that need a real PostgreSQL server: a private one
# per test, started here from Debian's server binaries (initdb + pg_ctl) in a
# temporary directory, listening on a loopback port it picks and on a Unix
# socket in that directory, never on anything else.
#
#   start_pg DIR     initdb (as nobody when run as root: postgres refuses
#                    root), start, create database "skr"; sets PG_DIR,
#                    PG_PORT, PG_CONNINFO (libpq key=value) and PG_URI
#                    (postgresql://...), exported.  PG_INITDB_OPTS: more
#                    initdb options (e.g. --wal-segsize=1).
#   pg_down / pg_up  pg_ctl stop (fast) / start again on the same port and
#                    data: what a database outage looks like to a broker.
#   pg_createdb NAME another database on the same server (prints its URI).
#   pg_sql SQL       runs SQL with psql on database skr (PG_DB overrides).
#   stop_pg          stops the server and removes DIR; a no-op when none.
#   pg_sql_at DIR PORT SQL  pg_sql on another server (a standby).
# Streaming replication (tests/cli/test_broker_pg_failover.sh):
#   start_pg_standby DIR NAME  a streaming standby of that server in DIR
#                    (pg_basebackup -R as the replication role "replicator",
#                    made here; application_name NAME; its own loopback port
#                    and socket); sets SB_DIR, SB_PORT, exported.
#   pg_sync_standby NAME  synchronous_standby_names = NAME, synchronous_commit
#                    on; waits until pg_stat_replication shows NAME
#                    "streaming" and "sync".
#   pg_promote_standby / stop_pg_standby  pg_ctl promote / stop, remove SB_DIR.
# fsync is off (tests are not about power loss) unless PG_FSYNC=on.
#
# Every server is stopped on every exit path: the test's EXIT trap calls
# stop_pg, and a watchdog started with the server stops it (immediate mode)
# and removes DIR as soon as the test's shell ($$, or PG_WATCH_PID) is gone,
# even after a kill -9 that runs no trap.

PG_DIR= PG_PORT= PG_BIN=

pg_bindir() {
	for d in "${SKR_PG_BINDIR:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -n "$d" ] && [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

# as_pg CMD...: the server's commands run as nobody when we are root.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- env LC_ALL=C "$@"
	else
		env LC_ALL=C "$@"
	fi
}

pg_free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pg_start_at DIR PORT: the server whose data is DIR/data, on PORT and a socket in DIR.
pg_start_at() {
	as_pg "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $2 -k $1 -c fsync=${PG_FSYNC:-off}" start >/dev/null
}

pg_up() {
	pg_start_at "$PG_DIR" "$PG_PORT"
}

pg_down() {
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

pg_sql() {
	pg_sql_at "$PG_DIR" "$PG_PORT" "$1"
}

# pg_sql_at DIR PORT SQL: pg_sql on the server with its socket in DIR (a standby).
pg_sql_at() {
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U skr \
		-d "${PG_DB:-skr}" -At -c "$3"
}

pg_createdb() {
	pg_sql "CREATE DATABASE $1" >/dev/null || return 1
	echo "postgresql://skr@127.0.0.1:$PG_PORT/$1"
}

# pg_watch DIR: the watchdog of the server whose data is DIR/data: once the
# test's shell ($$, or PG_WATCH_PID) is gone, it stops the postmaster
# (immediate mode) and removes DIR.  The postmaster's pid is remembered (it
# changes with pg_down/pg_up): the test's trap may have removed the data
# directory that pg_ctl would need.
pg_watch() {
	watch=${PG_WATCH_PID:-$$}
	(
		trap '' HUP INT TERM
		pid=
		while kill -0 "$watch" 2>/dev/null; do
			p=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) && [ -n "$p" ] && pid=$p
			sleep 1
		done
		[ -n "$pid" ] && kill -QUIT "$pid"
		rm -rf "$1"
	) </dev/null >/dev/null 2>&1 &
}

# pg_own DIR: DIR made for the server's user (nobody when we are root).
pg_own() {
	mkdir -p "$1" || return 1
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$1"
		# The test's own temporary directory (0700) must let nobody through.
		as_pg test -x "$1" || chmod 711 "$(dirname "$1")"
		as_pg test -x "$1" ||
			{ echo "pg: user nobody cannot reach $1 (set TMPDIR to a directory it can)" >&2; return 1; }
	fi
	chmod 755 "$1"
}

start_pg() {
	PG_DIR=$1
	PG_BIN=$(pg_bindir) || { echo "start_pg: no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin; sh tools/deps.sh test installs it" >&2; return 1; }
	pg_own "$PG_DIR" || return 1
	as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U skr -A trust -E UTF8 --no-locale --no-sync \
		${PG_INITDB_OPTS:-} >"$PG_DIR/initdb.log" 2>&1 ||
		{ echo "start_pg: initdb failed: $(tail -3 "$PG_DIR/initdb.log")" >&2; return 1; }
	pg_watch "$PG_DIR"
	# The port is free when picked; another process may take it first: try again.
	for attempt in 1 2 3 4 5; do
		PG_PORT=$(pg_free_port)
		pg_up && break
		PG_PORT=
	done
	[ -n "$PG_PORT" ] || { echo "start_pg: postgres did not start: $(tail -3 "$PG_DIR/postgres.log")" >&2; return 1; }
	PG_DB=postgres pg_sql "CREATE DATABASE skr" >/dev/null || return 1
	PG_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=skr user=skr"
	PG_URI="postgresql://skr@127.0.0.1:$PG_PORT/skr"
	export PG_DIR PG_PORT PG_CONNINFO PG_URI
}

stop_pg() {
	[ -n "$PG_DIR" ] || return 0
	[ -f "$PG_DIR/data/postmaster.pid" ] && pg_down 2>/dev/null
	rm -rf "$PG_DIR"
	PG_DIR=
}

SB_DIR= SB_PORT=
start_pg_standby() {
	SB_DIR=$1
	pg_own "$SB_DIR" || return 1
	pg_sql "CREATE ROLE replicator WITH REPLICATION LOGIN" >/dev/null || return 1
	# initdb's pg_hba.conf lets replication connections in from loopback.
	as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U replicator -D "$SB_DIR/data" \
		-R -X stream -c fast --no-sync >"$SB_DIR/basebackup.log" 2>&1 ||
		{ echo "start_pg_standby: pg_basebackup failed: $(tail -3 "$SB_DIR/basebackup.log")" >&2; return 1; }
	pg_watch "$SB_DIR"
	# The last primary_conninfo in the file wins: -R's, with the standby's name.
	printf "primary_conninfo = 'host=127.0.0.1 port=%s user=replicator application_name=%s'\n" \
		"$PG_PORT" "$2" | as_pg tee -a "$SB_DIR/data/postgresql.auto.conf" >/dev/null
	for attempt in 1 2 3 4 5; do
		SB_PORT=$(pg_free_port)
		pg_start_at "$SB_DIR" "$SB_PORT" && break
		SB_PORT=
	done
	[ -n "$SB_PORT" ] || { echo "start_pg_standby: postgres did not start: $(tail -3 "$SB_DIR/postgres.log")" >&2; return 1; }
	export SB_DIR SB_PORT
}

pg_sync_standby() {
	pg_sql "ALTER SYSTEM SET synchronous_standby_names = '$1'" >/dev/null &&
		pg_sql "ALTER SYSTEM SET synchronous_commit = on" >/dev/null &&
		pg_sql "SELECT pg_reload_conf()" >/dev/null || return 1
	i=0
	while [ $i -lt 300 ]; do
		[ "$(pg_sql "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '$1'")" = "streaming sync" ] &&
			return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "pg_sync_standby: $1 is not a streaming synchronous standby: $(pg_sql 'SELECT application_name, state, sync_state FROM pg_stat_replication')" >&2
	return 1
}

pg_promote_standby() {
	as_pg "$PG_BIN/pg_ctl" -D "$SB_DIR/data" -w -t 60 promote >/dev/null
}

stop_pg_standby() {
	[ -n "$SB_DIR" ] || return 0
	[ -f "$SB_DIR/data/postmaster.pid" ] &&
		as_pg "$PG_BIN/pg_ctl" -D "$SB_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1
	rm -rf "$SB_DIR"
	SB_DIR=
}
