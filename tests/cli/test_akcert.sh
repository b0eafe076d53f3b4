# skrctl akcert verify: Azure vTPM AK certificates (Trusted Launch).
# The real "Global Virtual TPM CA - 03" against the built-in Azure root, a
# tampered copy of it, and a test PKI made here with openssl (a root, an
# intermediate WITHOUT AIA as Azure's CA-03, a leaf named like Azure's AK
# certificates): each refusal asserts its own reason.  Exit status: 0 valid,
# 1 refused, 2 usage or unreadable input.
. "$(dirname "$0")/lib.sh"

V=$VECTORS/azure-vtpm
D=$tmpd/pki
mkdir -p "$D"
# Within CA-03's validity (2025-04-24 .. 2027-04-24): the test does not expire with it.
AT_CA03=1780000000

# --- the real Azure certificates --------------------------------------------
expect ca03-built-in-root 0 'Global Virtual TPM CA - 03.*valid' -- \
	$SKRCTL akcert verify "$V/global-vtpm-ca-03.pem" --at $AT_CA03
expect ca03-json 0 '"issuer": "Azure Virtual TPM Root Certificate Authority 2023"' -- \
	$SKRCTL akcert verify "$V/global-vtpm-ca-03.pem" --at $AT_CA03 --json
expect_stdout ca03-json-valid '"valid": true'
openssl x509 -in "$V/global-vtpm-ca-03.pem" -outform der -out "$D/ca03.der"
expect ca03-der 0 'valid' -- $SKRCTL akcert verify "$D/ca03.der" --at $AT_CA03
# One byte of the signature flipped (the DER's last byte): the signature no longer verifies.
cp "$D/ca03.der" "$D/ca03-tampered.der"
size=$(wc -c < "$D/ca03.der")
last=$(tail -c 1 "$D/ca03.der" | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(( (last + 1) % 256 )))" |
	dd of="$D/ca03-tampered.der" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
expect ca03-tampered 1 'akcert_invalid.*signature' -- \
	$SKRCTL akcert verify "$D/ca03-tampered.der" --at $AT_CA03
expect ca03-tampered-json 1 '"reason": "akcert_invalid"' -- \
	$SKRCTL akcert verify "$D/ca03-tampered.der" --at $AT_CA03 --json
expect ca03-expired 1 'akcert_expired' -- \
	$SKRCTL akcert verify "$V/global-vtpm-ca-03.pem" --at 1900000000

# --- a test PKI: root -> intermediate (no AIA) -> leaf ------------------------
cat > "$D/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
authorityKeyIdentifier = keyid
CNF
key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
sign() { # SUBJECT_CN KEY ISSUER_CERT ISSUER_KEY EXT DAYS OUT
	openssl req -new -key "$2" -subj "/CN=$1" -out "$D/req.csr" &&
	openssl x509 -req -in "$D/req.csr" -CA "$3" -CAkey "$4" -CAcreateserial \
		-extfile "$D/ext.cnf" -extensions "$5" -days "$6" -out "$7" 2>/dev/null
}
ID=4ad2f6b1-5b42-4c2b-9a3e-0d6c1f7e2a90
LEAF_CN=$ID.TrustedVM.Azure.windows.net
key "$D/root.key"; key "$D/int.key"; key "$D/ak.key"; key "$D/other.key"; key "$D/foreign.key"
openssl req -x509 -new -key "$D/root.key" -subj "/CN=skr test vTPM root" -days 30 \
	-out "$D/root.pem" 2>/dev/null
openssl req -x509 -new -key "$D/foreign.key" -subj "/CN=skr test vTPM root" -days 30 \
	-out "$D/foreign-root.pem" 2>/dev/null
sign "skr test Virtual TPM CA - 03" "$D/int.key" "$D/root.pem" "$D/root.key" ca 30 "$D/int.pem"
sign "$LEAF_CN" "$D/ak.key" "$D/int.pem" "$D/int.key" leaf 1 "$D/leaf.pem"
openssl x509 -in "$D/leaf.pem" -outform der -out "$D/leaf.der"
openssl pkey -in "$D/ak.key" -pubout -out "$D/ak.pub.pem"
openssl pkey -in "$D/other.key" -pubout -out "$D/other.pub.pem"
if openssl x509 -in "$D/int.pem" -noout -ext authorityInfoAccess 2>/dev/null | grep -q 'CA Issuers'; then
	echo "FAIL test-intermediate-has-aia"; fails=$((fails + 1))
fi

expect leaf-valid 0 "$LEAF_CN.*valid" -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem"
expect leaf-valid-json 0 "\"subject\": \"$LEAF_CN\"" -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem" --json
expect leaf-intermediate-missing 1 'akcert_intermediate_missing' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem"
expect leaf-untrusted-root 1 'akcert_untrusted' -- \
	$SKRCTL akcert verify "$D/leaf.der" --chain "$D/int.pem"
# The intermediate and a root of the same name, but another key: not ours.
cat "$D/int.pem" "$D/foreign-root.pem" > "$D/foreign-chain.pem"
expect leaf-foreign-root 1 'akcert_untrusted' -- \
	$SKRCTL akcert verify "$D/leaf.der" --chain "$D/foreign-chain.pem"
expect leaf-foreign-root-configured 1 'akcert_untrusted' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/foreign-root.pem" --chain "$D/int.pem"
expect leaf-expired 1 'akcert_expired' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem" \
	--at $(( $(date +%s) + 5 * 86400 ))
expect leaf-not-yet-valid 1 'akcert_expired' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem" \
	--at $(( $(date +%s) - 5 * 86400 ))

# --- the AK: its key, and its public area (CVE-2025-49707) -------------------
expect ak-matches 0 'its key is the AK' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem" --ak "$D/ak.pub.pem"
expect ak-mismatch 1 'akcert_key_mismatch' -- \
	$SKRCTL akcert verify "$D/leaf.der" --roots "$D/root.pem" --chain "$D/int.pem" --ak "$D/other.pub.pem"
mod=$(openssl rsa -in "$D/ak.key" -noout -modulus 2>/dev/null | sed 's/^Modulus=//')
other_mod=$(openssl rsa -in "$D/other.key" -noout -modulus 2>/dev/null | sed 's/^Modulus=//')
PY="python3 $(dirname "$0")/ak_public.py"
$PY "$mod" "$D/ak.pub.tpm"
$PY "$other_mod" "$D/other.pub.tpm"
$PY "$mod" "$D/unrestricted.tpm" --unrestricted
$PY "$mod" "$D/decrypt.tpm" --decrypt
$PY "$mod" "$D/nofixed.tpm" --no-fixedtpm
$PY "$mod" "$D/sha1.tpm" --sha1-scheme
C="$D/leaf.der --roots $D/root.pem --chain $D/int.pem"
expect ak-public-matches 0 'its key is the AK' -- $SKRCTL akcert verify $C --ak-public "$D/ak.pub.tpm"
expect ak-public-json 0 '"ak_checked": true' -- $SKRCTL akcert verify $C --ak-public "$D/ak.pub.tpm" --json
expect ak-public-mismatch 1 'akcert_key_mismatch' -- $SKRCTL akcert verify $C --ak-public "$D/other.pub.tpm"
expect ak-public-unrestricted 1 'ak_not_restricted' -- $SKRCTL akcert verify $C --ak-public "$D/unrestricted.tpm"
expect ak-public-decrypt 1 'ak_attributes.*decrypt' -- $SKRCTL akcert verify $C --ak-public "$D/decrypt.tpm"
expect ak-public-not-fixedtpm 1 'ak_attributes.*fixedTPM' -- $SKRCTL akcert verify $C --ak-public "$D/nofixed.tpm"
expect ak-public-sha1 1 'ak_attributes.*RSASSA/SHA-256' -- $SKRCTL akcert verify $C --ak-public "$D/sha1.tpm"
head -c 40 "$D/ak.pub.tpm" > "$D/short.tpm"
expect ak-public-truncated 2 'malformed' -- $SKRCTL akcert verify $C --ak-public "$D/short.tpm"

# --- bad input ----------------------------------------------------------------
printf 'not a certificate' > "$D/junk.der"
expect cert-junk 1 'akcert_invalid' -- $SKRCTL akcert verify "$D/junk.der"
expect cert-missing 2 'io' -- $SKRCTL akcert verify "$D/nope.der"
expect roots-missing 2 'io' -- $SKRCTL akcert verify "$D/leaf.der" --roots "$D/nope.pem"
expect roots-no-pem 2 'no PEM certificate' -- $SKRCTL akcert verify "$D/leaf.der" --roots "$D/junk.der"
expect usage-no-cert 2 'usage' -- $SKRCTL akcert verify
expect usage-both-aks 2 'usage' -- $SKRCTL akcert verify $C --ak "$D/ak.pub.pem" --ak-public "$D/ak.pub.tpm"
expect usage-bad-at 2 'usage' -- $SKRCTL akcert verify "$D/leaf.der" --at yesterday
expect help 0 'akcert verify CERT' -- $SKRCTL akcert verify --help

# --- skr-broker's "ak_roots" and "ak_intermediates" -------------------------
# A real broker: it starts with the test PKI as configured trust, and refuses
# to start (naming the file) with a file it cannot use: no release is ever
# judged against a trust the operator did not get.
. "$(dirname "$0")/broker.sh"
trap 'stop_broker KILL; rm -rf "$out" "$err" "$tmpd"' EXIT
bd=$tmpd/broker
mkdir -p "$bd"
make_tls "$bd" && write_broker_config "$bd" || { echo "FAIL broker-setup"; exit 1; }
cp "$bd/broker.json" "$bd/base.json"
# broker_ak_config ROOTS INTERMEDIATES: the base configuration with these two paths.
broker_ak_config() {
	python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["ak_roots"] = sys.argv[2]; c["ak_intermediates"] = sys.argv[3]
json.dump(c, open(sys.argv[4], "w"))' "$bd/base.json" "$1" "$2" "$bd/broker.json"
}
broker_ak_config "$D/root.pem" "$D/int.pem"
if start_broker "$bd" && curl -sf --cacert "$bd/ca.pem" "$RELEASE_URL/healthz" >/dev/null; then
	echo "PASS broker-ak-trust-configured"
else
	echo "FAIL broker-ak-trust-configured: $(tail -c 300 "$bd/broker.log")"; fails=$((fails + 1))
fi
stop_broker
broker_ak_config "$D/nope.pem" "$D/int.pem"
expect broker-ak-roots-missing 1 "skr-broker: io: .*$D/nope.pem" -- "$BUILD/skr-broker" --config "$bd/broker.json"
broker_ak_config "$D/root.pem" "$D/junk.der"
expect broker-ak-intermediates-junk 1 "skr-broker: malformed: $D/junk.der holds no PEM certificate" -- \
	"$BUILD/skr-broker" --config "$bd/broker.json"

[ "$fails" -eq 0 ]
