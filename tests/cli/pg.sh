# Shell helpers for tests that need a real PostgreSQL server: a private one
# per test, started here from Debian's server binaries (initdb + pg_ctl) in a
# temporary directory, listening on a loopback port it picks and on a Unix
# socket in that directory, never on anything else.
#
#   start_pg DIR     initdb (as nobody when run as root: postgres refuses
#                    root), start, create database "skr"; sets PG_DIR,
#                    PG_PORT, PG_CONNINFO (libpq key=value) and PG_URI
#                    (postgresql://...), exported.
#   pg_down / pg_up  pg_ctl stop (fast) / start again on the same port and
#                    data: what a database outage looks like to a broker.
#   pg_createdb NAME another database on the same server (prints its URI).
#   pg_sql SQL       runs SQL with psql on database skr (PG_DB overrides).
#   stop_pg          stops the server and removes DIR; a no-op when none.
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

pg_up() {
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=${PG_FSYNC:-off}" start >/dev/null
}

pg_down() {
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null
}

pg_sql() {
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U skr \
		-d "${PG_DB:-skr}" -At -c "$1"
}

pg_createdb() {
	pg_sql "CREATE DATABASE $1" >/dev/null || return 1
	echo "postgresql://skr@127.0.0.1:$PG_PORT/$1"
}

start_pg() {
	PG_DIR=$1
	PG_BIN=$(pg_bindir) || { echo "start_pg: no PostgreSQL server (initdb, postgres) in /usr/lib/postgresql/*/bin; sh tools/deps.sh test installs it" >&2; return 1; }
	mkdir -p "$PG_DIR" || return 1
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$PG_DIR"
		# The test's own temporary directory (0700) must let nobody through.
		as_pg test -x "$PG_DIR" || chmod 711 "$(dirname "$PG_DIR")"
		as_pg test -x "$PG_DIR" ||
			{ echo "start_pg: user nobody cannot reach $PG_DIR (set TMPDIR to a directory it can)" >&2; return 1; }
	fi
	chmod 755 "$PG_DIR"
	as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U skr -A trust -E UTF8 --no-locale --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 ||
		{ echo "start_pg: initdb failed: $(tail -3 "$PG_DIR/initdb.log")" >&2; return 1; }
	watch=${PG_WATCH_PID:-$$}
	# The postmaster's pid is remembered (it changes with pg_down/pg_up): the
	# test's trap may have removed the data directory that pg_ctl would need.
	(
		trap '' HUP INT TERM
		pid=
		while kill -0 "$watch" 2>/dev/null; do
			p=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) && [ -n "$p" ] && pid=$p
			sleep 1
		done
		[ -n "$pid" ] && kill -QUIT "$pid"
		rm -rf "$PG_DIR"
	) </dev/null >/dev/null 2>&1 &
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
