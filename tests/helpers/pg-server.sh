#!/bin/sh
# The private PostgreSQL of tests/cli/pg.sh for a test program (the unit
# tests: tests/helpers/pgserver.c runs this):
#   pg-server.sh start DIR WATCH_PID   prints "PORT" once the server runs; the
#                                      server goes when WATCH_PID does
#   pg-server.sh down|up|stop DIR PORT
set -u
. "$(dirname "$0")/../cli/pg.sh"
cmd=$1 dir=$2
case $cmd in
start)
	PG_WATCH_PID=$3
	start_pg "$dir" || exit 1
	echo "$PG_PORT" ;;
down|up|stop)
	PG_DIR=$dir PG_PORT=$3
	PG_BIN=$(pg_bindir) || exit 1
	case $cmd in
	down) pg_down ;;
	up) pg_up ;;
	stop) stop_pg ;;
	esac ;;
*)
	echo "usage: pg-server.sh start DIR WATCH_PID | down|up|stop DIR PORT" >&2
	exit 2 ;;
esac
