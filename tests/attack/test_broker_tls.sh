# TLS downgrade: both broker listeners must refuse TLS 1.0 and 1.1 and
# TLS 1.2 without an AEAD cipher or without ECDHE, and serve TLS 1.3 (and
# TLS 1.2 with ECDHE + AES-GCM/ChaCha20).  The attack client is openssl
# s_client, allowed to offer the old protocols (SECLEVEL=0).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; rm -rf "$out" "$err" "$tmpd"' EXIT

bdir=$tmpd/broker
mkdir -p "$bdir"
make_tls "$bdir" || { echo "FAIL tls-setup"; exit 1; }
write_broker_config "$bdir"
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }
read -r rport aport < "$bdir/ports"

# handshake NAME PORT OPTIONS...: prints the negotiated "PROTOCOL CIPHER", or
# "none" when the handshake failed.
handshake() {
	port=$1
	shift
	res=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$bdir/ca.pem" \
		-verify_return_error "$@" 2>/dev/null |
		sed -n 's/^New, \(TLSv1[.0-9]*\), Cipher is \(.*\)$/\1 \2/p' | head -n 1)
	echo "${res:-none}"
}

# refuse NAME PORT OPTIONS...: the handshake must fail.
refuse() {
	name=$1
	shift
	got=$(handshake "$@")
	if [ "$got" = none ]; then echo "PASS $name"; else echo "FAIL $name: negotiated $got"; fi
}

# accept NAME REGEX PORT OPTIONS...: the handshake must succeed, matching REGEX.
accept() {
	name=$1 want=$2
	shift 2
	got=$(handshake "$@")
	if echo "$got" | grep -Eq "$want"; then echo "PASS $name ($got)"; else echo "FAIL $name: $got"; fi
}

old='-cipher DEFAULT@SECLEVEL=0'
for l in "release $rport" "admin $aport"; do
	set -- $l
	refuse "$1-tls1.0-refused" "$2" -tls1 $old
	refuse "$1-tls1.1-refused" "$2" -tls1_1 $old
	refuse "$1-tls1.2-cbc-refused" "$2" -tls1_2 -cipher 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA@SECLEVEL=0'
	refuse "$1-tls1.2-no-ecdhe-refused" "$2" -tls1_2 -cipher 'AES128-GCM-SHA256:AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256@SECLEVEL=0'
	accept "$1-tls1.3-served" '^TLSv1\.3 TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)' "$2"
	accept "$1-tls1.2-aead-served" '^TLSv1\.2 ECDHE-ECDSA-(AES(128|256)-GCM|CHACHA20)' "$2" -tls1_2
done
# With every version offered, the broker picks TLS 1.3.
accept release-prefers-tls1.3 '^TLSv1\.3 ' "$rport" $old
[ "$fails" -eq 0 ]
