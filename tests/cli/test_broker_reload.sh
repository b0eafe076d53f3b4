# skr-broker reloads its TLS certificate and key on SIGHUP (real broker,
# real TLS on loopback): a keep-alive connection opened before the reload
# completes a request after it, on the same connection; new connections on
# both listeners get the new certificate; a pair that is missing, mismatched
# or not PEM is refused with its reason logged and the old pair serves on;
# the broker's pid never changes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'stop_broker KILL; [ -n "${holder:-}" ] && kill "$holder" 2>/dev/null; rm -rf "$out" "$err" "$tmpd"' EXIT
trap '' PIPE	# a holder that died early must fail a check, not end the script

bdir=$tmpd/broker
mkdir -p "$bdir"
make_tls "$bdir" || { echo "FAIL tls-setup"; exit 1; }
write_broker_config "$bdir"
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }
read -r rport aport < "$bdir/ports"
pid0=$broker_pid

# A second server certificate from the same CA (clients trust both).
new_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$1.key" -out "$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$1.csr" -CA "$bdir/ca.pem" -CAkey "$bdir/ca.key" -CAcreateserial \
		-days 2 -extfile "$bdir/san.ext" -out "$1.pem" 2>/dev/null
}
fp_file() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
# fp_served PORT: the SHA-256 of the certificate a new connection gets.
fp_served() {
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -CAfile "$bdir/ca.pem" \
		-verify_return_error 2>/dev/null | openssl x509 -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1
}
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1: $3"; fails=$((fails + 1)); fi; }
# hup: SIGHUP, then wait (up to 5 s) for the broker's answer in its log.
hup() {
	n=$(grep -c 'SIGHUP' "$bdir/broker.log")
	kill -HUP "$broker_pid"
	i=0
	while [ "$(grep -c 'SIGHUP' "$bdir/broker.log")" -le "$n" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

fp_old=$(fp_file "$bdir/server.pem")
threads_before=$(ls "/proc/$broker_pid/task" | wc -l)
check served-cert-before "[ \"\$(fp_served $rport)\" = $fp_old ]" "release listener serves $(fp_served $rport)"

# A keep-alive connection, opened and used before the reload.
mkfifo "$tmpd/go"
python3 "$(dirname "$0")/hold_keepalive.py" "$rport" "$bdir/ca.pem" /healthz < "$tmpd/go" > "$tmpd/hold.out" 2>&1 &
holder=$!
exec 8>"$tmpd/go"
i=0
while ! grep -q '^first' "$tmpd/hold.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
set -- $(grep '^first' "$tmpd/hold.out")
check keepalive-first-request "[ \"${2:-}\" = 200 ] && [ \"${3:-}\" = $fp_old ]" "$(cat "$tmpd/hold.out")"
hold_port=${4:-}

# The new pair in place of the old files, then SIGHUP.
new_cert "$tmpd/new" || { echo "FAIL new-cert"; exit 1; }
cp "$tmpd/new.pem" "$bdir/server.pem"
cp "$tmpd/new.key" "$bdir/server.key"
fp_new=$(fp_file "$tmpd/new.pem")
hup
check reload-logged "grep -q 'SIGHUP: TLS certificate .* (SHA-256 $fp_new) serves new' \"$bdir/broker.log\"" "$(tail -n 3 "$bdir/broker.log")"
check release-new-cert "[ \"\$(fp_served $rport)\" = $fp_new ]" "release listener serves $(fp_served $rport), wanted $fp_new"
check admin-new-cert "[ \"\$(fp_served $aport)\" = $fp_new ]" "admin listener serves $(fp_served $aport), wanted $fp_new"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$bdir/ca.pem" "https://127.0.0.1:$rport/healthz")
check new-connection-request "[ \"$code\" = 200 ]" "GET /healthz gave $code"

# The connection from before the reload: same TCP connection, same (old) session.
echo go >&8
exec 8>&-
wait "$holder"
holder=
set -- $(grep '^second' "$tmpd/hold.out")
check keepalive-survives-reload "[ \"${2:-}\" = 200 ] && [ \"${3:-}\" = $fp_old ] && [ \"${4:-}\" = \"$hold_port\" ]" "$(cat "$tmpd/hold.out")"

# Bad pairs: each refused with its reason; the new pair keeps serving.
refused() {
	name=$1 reason=$2
	hup
	check "$name-refused" "tail -n 1 \"$bdir/broker.log\" | grep -q 'refused, the old one stays in use: .*$reason'" "$(tail -n 1 "$bdir/broker.log")"
	check "$name-old-cert-serves" "[ \"\$(fp_served $rport)\" = $fp_new ] && [ \"\$(fp_served $aport)\" = $fp_new ]" "serves $(fp_served $rport) / $(fp_served $aport)"
}
new_cert "$tmpd/other" || { echo "FAIL other-cert"; exit 1; }
cp "$tmpd/other.key" "$bdir/server.key"
refused mismatched-key 'does not match the certificate'
cp "$tmpd/new.key" "$bdir/server.key"
rm -f "$bdir/server.pem"
refused missing-cert "server.pem"
echo 'not a certificate' > "$bdir/server.pem"
refused garbage-cert 'not a PEM certificate'
cp "$tmpd/new.pem" "$bdir/server.pem"
echo 'not a key' > "$bdir/server.key"
refused garbage-key 'not a PEM private key'
check broker-pid-unchanged "[ \"$broker_pid\" = \"$pid0\" ] && kill -0 $pid0" "pid $broker_pid, was $pid0"

# A good pair again is taken; several reloads leave no daemon behind.
cp "$tmpd/other.key" "$bdir/server.key"
cp "$tmpd/other.pem" "$bdir/server.pem"
hup
hup
check reload-again "[ \"\$(fp_served $rport)\" = $(fp_file "$tmpd/other.pem") ]" "serves $(fp_served $rport)"
# Old daemons without connections are stopped within about a second.
i=0
while [ "$(ls "/proc/$broker_pid/task" | wc -l)" -gt "$threads_before" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
threads_end=$(ls "/proc/$broker_pid/task" | wc -l)
check old-daemons-stopped "[ $threads_end -eq $threads_before ]" "$threads_before threads before the reloads, $threads_end now"
check still-alive "kill -0 $pid0" "broker died: $(tail -n 5 "$bdir/broker.log")"
[ "$fails" -eq 0 ]
