# swtpm for CLI tests.  Source after lib.sh:
#
#   start_swtpm     starts a private swtpm on a free pair of loopback ports and
#                   sets SWTPM_PORT, SWTPM_TCTI ("swtpm:host=127.0.0.1,port=P"),
#                   SWTPM_PID and SWTPM_DIR (its state directory); returns 1
#                   (with a message on stderr) if it cannot
#   stop_swtpm      stops the instance started last (SIGTERM, SIGKILL after
#                   2 s, state removed); a no-op when none is running
#   stop_all_swtpm  stops every instance this script started
#
# Sourcing installs an EXIT trap that stops every instance and also does
# lib.sh's cleanup (rm of $out $err $tmpd), and INT/TERM/HUP traps that exit
# through it.  A watchdog per instance kills swtpm should the script itself
# be killed (SIGKILL runs no trap).

_swtpm_all=""	# "pid:watchdog:dir" entries

_swtpm_listening() {
	ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

_swtpm_kill() {	# pid watchdog dir
	kill "$2" 2>/dev/null
	if kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null
		i=0
		while kill -0 "$1" 2>/dev/null && [ $i -lt 20 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	wait "$2" 2>/dev/null
	rm -rf "$3"
}

start_swtpm() {
	command -v swtpm >/dev/null 2>&1 || { echo "swtpm is not installed" >&2; return 1; }
	SWTPM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/skr-swtpm.XXXXXX") || return 1
	attempt=0
	while [ $attempt -lt 20 ]; do
		attempt=$((attempt + 1))
		SWTPM_PORT=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 + 20000 ))
		if _swtpm_listening "$SWTPM_PORT" || _swtpm_listening $((SWTPM_PORT + 1)); then
			continue
		fi
		swtpm socket --tpm2 --tpmstate dir="$SWTPM_DIR" \
			--server type=tcp,port="$SWTPM_PORT",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((SWTPM_PORT + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			</dev/null >/dev/null 2>>"$SWTPM_DIR/swtpm.log" &
		SWTPM_PID=$!
		# Kill swtpm if this script goes away without running its traps.
		( while kill -0 $$ 2>/dev/null && kill -0 "$SWTPM_PID" 2>/dev/null; do sleep 1; done
		  kill -KILL "$SWTPM_PID" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
		watchdog=$!
		i=0
		while [ $i -lt 100 ] && kill -0 "$SWTPM_PID" 2>/dev/null; do
			if _swtpm_listening "$SWTPM_PORT" && _swtpm_listening $((SWTPM_PORT + 1)); then
				# A swtpm that lost its ports to another process exits at once.
				sleep 0.05
				if kill -0 "$SWTPM_PID" 2>/dev/null; then
					SWTPM_TCTI="swtpm:host=127.0.0.1,port=$SWTPM_PORT"
					_swtpm_all="$_swtpm_all $SWTPM_PID:$watchdog:$SWTPM_DIR"
					return 0
				fi
				break
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill "$watchdog" 2>/dev/null
		kill -KILL "$SWTPM_PID" 2>/dev/null
		wait "$SWTPM_PID" 2>/dev/null
		wait "$watchdog" 2>/dev/null
	done
	echo "swtpm did not start: $(head -c 300 "$SWTPM_DIR/swtpm.log" 2>/dev/null)" >&2
	rm -rf "$SWTPM_DIR"
	SWTPM_PID= SWTPM_TCTI= SWTPM_PORT= SWTPM_DIR=
	return 1
}

stop_swtpm() {
	[ -n "${SWTPM_PID:-}" ] || return 0
	rest=
	for e in $_swtpm_all; do
		case "$e" in
		"$SWTPM_PID":*)
			IFS=: read -r p w d <<EOF
$e
EOF
			_swtpm_kill "$p" "$w" "$d"
			;;
		*) rest="$rest $e" ;;
		esac
	done
	_swtpm_all=$rest
	SWTPM_PID= SWTPM_TCTI= SWTPM_PORT= SWTPM_DIR=
}

stop_all_swtpm() {
	for e in $_swtpm_all; do
		IFS=: read -r p w d <<EOF
$e
EOF
		_swtpm_kill "$p" "$w" "$d"
	done
	_swtpm_all=
	SWTPM_PID= SWTPM_TCTI= SWTPM_PORT= SWTPM_DIR=
}

trap 'stop_all_swtpm; rm -rf "${out:-}" "${err:-}" "${tmpd:-}"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
