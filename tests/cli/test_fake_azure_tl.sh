# skr-fake-azure provision-tl makes a swtpm look like Azure's Trusted Launch
# vTPM; the result is checked with tpm2-tools and openssl, independently of
# libskr's TPM code.  Then the VM side against it: the mode detected by
# itself, and the evidence `skrctl release` sends (read on the wire by a
# recording TLS proxy in front of a real broker) checked member by member.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
proxy_pid=
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

FA=$BUILD/tools/skr-fake-azure
d=$tmpd/tl ca=$tmpd/ca
mkdir -p "$d"
start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-start"; exit 1; }
export TPM2TOOLS_TCTI="$TCTI"

# ---- provisioning ---------------------------------------------------------
# A vTPM that was a Confidential VM's first: provision-tl removes its HCL report.
expect tl-was-cvm 0 'HCL report of' -- "$FA" --tcti "$TCTI" --out "$d"
expect tl-provision 0 'Trusted Launch: AK at 0x81000003; AK certificate in NV 0x01c101d0; no HCL report' -- \
	"$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca"
expect tl-ca-made 0 -- test -s "$ca/root.pem" -a -s "$ca/root.key" -a -s "$ca/intermediate.pem" -a -s "$ca/intermediate.key"
expect tl-ca-keys-private 0 '^600 600$' -- sh -c "echo \$(stat -c %a '$ca/root.key' '$ca/intermediate.key')"
expect tl-nv-list 0 '0x1c101d0:' -- tpm2_nvreadpublic
expect tl-no-hcl 0 -- sh -c '! tpm2_nvreadpublic | grep -q 0x1400001'
expect tl-nvread 0 -- tpm2_nvread -C o -o "$tmpd/nv.der" 0x1c101d0
expect tl-nv-equals-cert 0 -- cmp "$tmpd/nv.der" "$d/akcert.der"
expect tl-chain-verifies 0 ': OK' -- openssl verify -CAfile "$ca/root.pem" -untrusted "$ca/intermediate.pem" "$d/akcert.pem"
expect tl-intermediate-needed 2 'unable to get local issuer' -- openssl verify -CAfile "$ca/root.pem" "$d/akcert.pem"
expect tl-cert-text 0 -- openssl x509 -in "$tmpd/nv.der" -inform DER -noout -text
expect_stdout tl-cert-subject 'Subject: CN ?= ?6d2b6c6a-0e51-4c3e-9a3b-5b1f2f0c7e11\.TrustedVM\.Azure\.windows\.net'
expect_stdout tl-cert-eku '2\.23\.133\.8\.3'
expect tl-cert-no-aia 0 -- sh -c "! grep -q 'Authority Information Access' '$out'"
expect tl-ak-readpublic 0 -- tpm2_readpublic -c 0x81000003
expect_stdout tl-ak-attributes 'value: fixedtpm\|fixedparent\|sensitivedataorigin\|userwithauth\|noda\|restricted\|sign$'
expect_stdout tl-ak-scheme 'rsassa'
expect tl-ak-pem 0 -- tpm2_readpublic -c 0x81000003 -f pem -o "$tmpd/tpm-ak.pem"
expect tl-ak-pem-matches 0 -- cmp "$tmpd/tpm-ak.pem" "$d/ak.pem"
openssl x509 -in "$d/akcert.pem" -noout -pubkey > "$tmpd/cert-key.pem" 2>/dev/null
expect tl-cert-key-is-ak 0 -- cmp "$tmpd/cert-key.pem" "$d/ak.pem"
cp "$ca/root.pem" "$tmpd/root-first.pem"

# The same CA directory is reused, not made again.
expect tl-reprovision 0 'AK certificate in' -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --subject other-vm.TrustedVM.Azure.windows.net
expect tl-ca-reused 0 -- cmp "$ca/root.pem" "$tmpd/root-first.pem"
expect tl-subject-option 0 'CN ?= ?other-vm\.TrustedVM' -- openssl x509 -in "$d/akcert.pem" -noout -subject

# The variants a verifier must refuse.
expect tl-expired 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --expired
expect tl-expired-refused 2 'certificate has expired' -- openssl verify -CAfile "$ca/root.pem" -untrusted "$ca/intermediate.pem" "$d/akcert.pem"
expect tl-other-key 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --cert-other-key
openssl x509 -in "$d/akcert.pem" -noout -pubkey > "$tmpd/cert-key.pem" 2>/dev/null
expect tl-other-key-differs 1 -- cmp -s "$tmpd/cert-key.pem" "$d/ak.pem"
expect tl-other-key-chain-ok 0 ': OK' -- openssl verify -CAfile "$ca/root.pem" -untrusted "$ca/intermediate.pem" "$d/akcert.pem"
expect tl-unrestricted 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --ak unrestricted
expect tl-unrestricted-public 0 -- tpm2_readpublic -c 0x81000003
expect_stdout tl-unrestricted-attrs 'value: fixedtpm\|fixedparent\|sensitivedataorigin\|userwithauth\|noda\|sign$'
expect tl-rsapss 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --ak rsapss
expect tl-rsapss-public 0 'rsapss' -- tpm2_readpublic -c 0x81000003
expect tl-foreign 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$tmpd/foreign-ca"
expect tl-foreign-refused 2 'unable to get local issuer' -- openssl verify -CAfile "$ca/root.pem" -untrusted "$ca/intermediate.pem" "$d/akcert.pem"
expect tl-foreign-own-root 0 ': OK' -- openssl verify -CAfile "$tmpd/foreign-ca/root.pem" -untrusted "$tmpd/foreign-ca/intermediate.pem" "$d/akcert.pem"
expect tl-usage-no-ca 2 'usage' -- "$FA" provision-tl --tcti "$TCTI" --out "$d"
expect tl-usage-ak 2 'azure, unrestricted or rsapss' -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --ak ecc

# ---- the VM side ----------------------------------------------------------
# A broker behind a recording proxy; the request skrctl release makes is
# read.  The broker trusts no test root and its key is an az-snp-vtpm one:
# it refuses, but only after the evidence went (test_release_tl.sh releases).
bdir=$tmpd/broker
mkdir -p "$bdir" "$tmpd/rec"
make_tls "$bdir" && write_broker_config "$bdir" && start_broker "$bdir" ||
	{ echo "FAIL broker-start: $(cat "$bdir/broker.log" 2>/dev/null)"; exit 1; }
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": {\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7]}}}" >/dev/null
[ "$http_status" = 201 ] || echo "FAIL tl-key-create: $http_status $(cat "$tmpd/admin.out")"
read -r rport aport < "$bdir/ports"
python3 "$(cd "$(dirname "$0")" && pwd)/../attack/record_proxy.py" "$bdir/server.pem" "$bdir/server.key" "$bdir/ca.pem" "$rport" "$tmpd/proxy.port" "$tmpd/rec" &
proxy_pid=$!
i=0
while [ ! -s "$tmpd/proxy.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
# The last release request the proxy recorded.
last_req() {
	n=$(ls "$tmpd/rec" | sed -n 's/^\([0-9]*\)-release\.json$/\1/p' | sort -n | tail -1)
	[ -n "$n" ] && echo "$tmpd/rec/$n-release.json"
}
REL="$SKRCTL release --key-id disk-1 --broker https://127.0.0.1:$(cat "$tmpd/proxy.port") --ca $bdir/ca.pem --tcti $TCTI --timeout 10 --out $tmpd/secret"

expect tl-vm-provision 0 -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca"
# The key is for a Confidential VM: refused, and not for want of evidence.
$REL >"$out" 2>"$err"
rc=$?
[ "$rc" -eq 1 ] && grep -q 'refused' "$err" && ! grep -q 'tpm_' "$err" && echo "PASS tl-vm-release-refused-by-broker" ||
	echo "FAIL tl-vm-release-refused-by-broker: exit $rc: $(head -c 300 "$err")"
req=$(last_req)
[ -n "$req" ] && echo "PASS tl-vm-request-recorded" || echo "FAIL tl-vm-request-recorded"
python3 - "$req" "$tmpd/ev" <<'PY' && echo "PASS tl-vm-evidence-members" || echo "FAIL tl-vm-evidence-members"
import base64, json, os, sys
r = json.load(open(sys.argv[1]))
ev = r["evidence"]
assert ev["tee"] == "azure-tl", ev["tee"]
want = {"tee", "ak_cert", "ak_public", "quote", "pcrs", "wrap_key"}
assert set(ev) == want, sorted(ev)
assert set(ev["quote"]) == {"attest", "signature"}, ev["quote"]
assert set(ev["wrap_key"]) == {"public", "certify_attest", "certify_signature"}, ev["wrap_key"]
os.makedirs(sys.argv[2], exist_ok=True)
def put(name, b64):
    open(os.path.join(sys.argv[2], name), "wb").write(base64.b64decode(b64))
put("ak_cert.der", ev["ak_cert"])
put("ak_public.bin", ev["ak_public"])
put("quote.attest", ev["quote"]["attest"])
put("quote.sig", ev["quote"]["signature"])
put("certify.attest", ev["wrap_key"]["certify_attest"])
put("certify.sig", ev["wrap_key"]["certify_signature"])
open(os.path.join(sys.argv[2], "nonce.hex"), "w").write(base64.b64decode(r["nonce"]).hex())
json.dump(ev["pcrs"], open(os.path.join(sys.argv[2], "pcrs.json"), "w"))
PY
expect tl-vm-ak-cert-is-nv 0 -- cmp "$tmpd/ev/ak_cert.der" "$d/akcert.der"
expect tl-vm-ak-public-is-tpm 0 -- cmp "$tmpd/ev/ak_public.bin" "$d/ak.pub"
expect tl-vm-quote-by-ak 0 'valid' -- $SKRCTL quote verify --message "$tmpd/ev/quote.attest" \
	--signature "$tmpd/ev/quote.sig" --ak "$d/ak.pem" --nonce "$(cat "$tmpd/ev/nonce.hex")" --pcrs "$tmpd/ev/pcrs.json"
# The wrap key's certify, by openssl alone: a TPMT_SIGNATURE is sigAlg, hash,
# size (2 bytes each), then the RSASSA signature over the attestation.
python3 -c 'import sys; b = open(sys.argv[1], "rb").read(); assert b[:4] == bytes.fromhex("0014000b"), b[:4].hex(); open(sys.argv[2], "wb").write(b[6:6 + int.from_bytes(b[4:6], "big")])' \
	"$tmpd/ev/certify.sig" "$tmpd/ev/certify.raw"
expect tl-vm-certify-by-ak 0 'Verified OK' -- openssl dgst -sha256 -verify "$d/ak.pem" -signature "$tmpd/ev/certify.raw" "$tmpd/ev/certify.attest"
expect tl-vm-certify-nonce 0 -- python3 -c 'import sys
a = open(sys.argv[1], "rb").read(); n = bytes.fromhex(open(sys.argv[2]).read())
# TPMS_ATTEST: magic, type (TPM_ST_ATTEST_CERTIFY), qualifiedSigner (TPM2B), extraData (TPM2B) = the nonce
assert a[:4] == bytes.fromhex("ff544347") and a[4:6] == bytes.fromhex("8017"), a[:6].hex()
o = 6; l = int.from_bytes(a[o:o + 2], "big"); o += 2 + l
l = int.from_bytes(a[o:o + 2], "big"); assert a[o + 2:o + 2 + l] == n' "$tmpd/ev/certify.attest" "$tmpd/ev/nonce.hex"

# Neither index: a clear error before any evidence leaves.
expect tl-vm-neither 0 'not in NV' -- "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --no-cert
n=$(ls "$tmpd"/rec/*-release.json | wc -l)
expect tl-vm-neither-refused 2 'tpm_nv_undefined.*neither an HCL report \(NV 0x01400001.*nor an AK certificate \(NV 0x01c101d0' -- $REL
[ "$(ls "$tmpd"/rec/*-release.json | wc -l)" = "$n" ] && echo "PASS tl-vm-neither-sends-nothing" || echo "FAIL tl-vm-neither-sends-nothing"

# A Confidential VM's vTPM is still one: the HCL report wins.
mkdir -p "$tmpd/cvm"
expect tl-vm-cvm-again 0 -- "$FA" --tcti "$TCTI" --out "$tmpd/cvm"
$REL >"$out" 2>"$err"
req=$(last_req)
python3 -c 'import json, sys; ev = json.load(open(sys.argv[1]))["evidence"]; assert ev["tee"] == "az-snp-vtpm" and "hcl_report" in ev and "ak_cert" not in ev, sorted(ev)' "$req" &&
	echo "PASS tl-vm-cvm-evidence" || echo "FAIL tl-vm-cvm-evidence: $(head -c 300 "$err")"

[ "$fails" -eq 0 ]
