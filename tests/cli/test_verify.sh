# CLI tests of the offline verifiers: snp verify, hcl show, quote verify,
# evidence verify.  Exit status contract: 0 valid, 1 refused, 2 usage/unreadable.
. "$(dirname "$0")/lib.sh"

V=$VECTORS
fx=$tmpd/fx
mkdir -p "$fx"
"$BUILD/tools/gen-fixtures" "$fx" || { echo "FAIL gen-fixtures"; exit 1; }
TA="--trust-anchor $fx/chain.pem"
NONCE=$(cat "$fx/nonce.hex")
REAL_ND=982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef

# --- snp verify -----------------------------------------------------------
expect snp-real-hex 0 'valid' -- $SKRCTL snp verify "$V/snp/milan-report.hex" --vcek "$V/snp/milan-vcek.der"
xxd -r -p "$V/snp/milan-report.hex" > "$tmpd/milan.bin"
expect snp-real-binary 0 'Milan' -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$V/snp/milan-vcek.der"
openssl x509 -inform der -in "$V/snp/milan-vcek.der" -out "$tmpd/vcek.pem"
expect snp-real-pem-vcek 0 -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$tmpd/vcek.pem"
cat "$V/amd/milan-ask.pem" "$V/amd/milan-ark.pem" > "$tmpd/milan-chain.pem"
expect snp-real-presented-chain 0 -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$tmpd/vcek.pem" --chain "$tmpd/milan-chain.pem"
expect snp-real-json 0 '"valid": true' -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$tmpd/vcek.pem" --json
# Every stable key, each checked on its own (an alternation passes on any one).
for k in valid report version product policy measurement reported_tcb chip_id; do
	expect_stdout "snp-json-stable-key-$k" "\"$k\":"
done
cp "$tmpd/milan.bin" "$tmpd/flip.bin"
printf '\001' | dd of="$tmpd/flip.bin" bs=1 seek=$((0x90)) conv=notrunc 2>/dev/null
expect snp-bit-flip 1 'snp_signature_invalid' -- $SKRCTL snp verify "$tmpd/flip.bin" --vcek "$tmpd/vcek.pem"
expect snp-bit-flip-json 1 '"reason": "snp_signature_invalid"' -- $SKRCTL snp verify "$tmpd/flip.bin" --vcek "$tmpd/vcek.pem" --json
expect snp-wrong-product 1 'vcek_product_mismatch' -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$tmpd/vcek.pem" --product turin
expect snp-generated 0 'valid' -- $SKRCTL snp verify "$fx/report.bin" --vcek "$fx/vcek.der" $TA
expect snp-generated-untrusted 1 'chain_signature_invalid' -- $SKRCTL snp verify "$fx/report.bin" --vcek "$fx/vcek.der"
expect snp-foreign-ark 1 'chain_untrusted' -- $SKRCTL snp verify "$fx/report.bin" --vcek "$fx/vcek.der" $TA --chain "$fx/foreign-chain.pem"
expect snp-debug 1 'snp_debug_enabled' -- $SKRCTL snp verify "$fx/report-debug.bin" --vcek "$fx/vcek.der" $TA
expect snp-debug-allowed 0 'debug on' -- $SKRCTL snp verify "$fx/report-debug.bin" --vcek "$fx/vcek.der" $TA --allow-debug
expect snp-tcb 1 'vcek_tcb_mismatch.*snp SPL 8 differs.* 9' -- $SKRCTL snp verify "$fx/report-tcb.bin" --vcek "$fx/vcek.der" $TA
expect snp-chip 1 'vcek_chip_mismatch' -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$fx/vcek.der" $TA --product milan
head -c 1000 "$tmpd/milan.bin" > "$tmpd/short.bin"
expect snp-truncated 2 'malformed.*1000 bytes' -- $SKRCTL snp verify "$tmpd/short.bin" --vcek "$tmpd/vcek.pem"
expect snp-missing-file 2 'io' -- $SKRCTL snp verify "$tmpd/nope.bin" --vcek "$tmpd/vcek.pem"
expect snp-no-vcek 2 'usage' -- $SKRCTL snp verify "$tmpd/milan.bin"
expect snp-bad-vcek 2 'not a DER or PEM' -- $SKRCTL snp verify "$tmpd/milan.bin" --vcek "$tmpd/milan.bin"

# --- hcl show -------------------------------------------------------------
python3 -c "import json,base64,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],'wb').write(base64.urlsafe_b64decode(d['hcl_report']+'=='))" \
	"$V/azure/milan-evidence.json" "$tmpd/hcl.bin"
expect hcl-real 0 'binding holds' -- $SKRCTL hcl show "$tmpd/hcl.bin"
expect hcl-real-json 0 '"kid": "HCLAkPub"' -- $SKRCTL hcl show "$tmpd/hcl.bin" --json
expect_stdout hcl-json-ak-bits '"bits": 2048'
sed 's/7DF7B373/8DF7B373/' "$tmpd/hcl.bin" > "$tmpd/hcl-tampered.bin"
expect hcl-tampered 1 'hcl_claims_hash_mismatch' -- $SKRCTL hcl show "$tmpd/hcl-tampered.bin"
expect hcl-tampered-shows-claims 1 '8DF7B373' -- $SKRCTL hcl show "$tmpd/hcl-tampered.bin"
expect hcl-generated 0 'binding holds' -- $SKRCTL hcl show "$fx/hcl.bin"
head -c 1200 "$tmpd/hcl.bin" > "$tmpd/hcl-short.bin"
expect hcl-truncated 2 'malformed' -- $SKRCTL hcl show "$tmpd/hcl-short.bin"

# --- quote verify -----------------------------------------------------------
Q="--message $fx/quote.msg --signature $fx/quote.sig --ak $fx/ak.pem"
expect quote-valid 0 'valid' -- $SKRCTL quote verify $Q --nonce "$NONCE" --pcrs "$fx/pcrs.json"
expect quote-json 0 '"pcr_select": "sha256:0,4,7"' -- $SKRCTL quote verify $Q --json
expect quote-other-nonce 1 'quote_nonce_mismatch' -- $SKRCTL quote verify $Q --nonce 00ff
sed 's/"7": "./"7": "f/' "$fx/pcrs.json" > "$tmpd/pcrs-bad.json"
expect quote-pcr-digest 1 'quote_pcr_digest_mismatch' -- $SKRCTL quote verify $Q --pcrs "$tmpd/pcrs-bad.json"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout > "$tmpd/other-ak.pem"
expect quote-other-ak 1 'quote_signature_invalid' -- $SKRCTL quote verify --message "$fx/quote.msg" --signature "$fx/quote.sig" --ak "$tmpd/other-ak.pem"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); q=d['tpm_quote']; open(sys.argv[2],'w').write(q['message']); open(sys.argv[3],'w').write(q['signature'])" \
	"$V/azure/milan-evidence.json" "$tmpd/real.msg" "$tmpd/real.sig"
$SKRCTL hcl show "$tmpd/hcl.bin" --json >/dev/null
python3 - "$tmpd/hcl.bin" "$tmpd/real-ak.pem" <<'PY'
import sys, json, base64, struct, subprocess
h = open(sys.argv[1], 'rb').read()
n = struct.unpack('<I', h[1232:1236])[0]
claims = json.loads(h[1236:1236 + n])
ak = [k for k in claims['keys'] if k['kid'] == 'HCLAkPub'][0]
b = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + '=='), 'big')
der = subprocess.run(['openssl', 'asn1parse', '-genconf', '/dev/stdin', '-noout', '-out', '/dev/stdout'],
    input=('asn1=SEQUENCE:pk\n[pk]\nn=INTEGER:%d\ne=INTEGER:%d\n' % (b(ak['n']), b(ak['e']))).encode(),
    capture_output=True, check=True).stdout
pem = subprocess.run(['openssl', 'rsa', '-RSAPublicKey_in', '-inform', 'der', '-pubout'],
    input=der, capture_output=True, check=True).stdout
open(sys.argv[2], 'wb').write(pem)
PY
expect quote-real-raw-rsassa 0 'valid' -- $SKRCTL quote verify --message "$tmpd/real.msg" --signature "$tmpd/real.sig" --ak "$tmpd/real-ak.pem" --nonce "$REAL_ND"
expect quote-usage 2 'usage' -- $SKRCTL quote verify --message "$fx/quote.msg"

# --- evidence verify --------------------------------------------------------
expect evidence-real 0 'valid' -- $SKRCTL evidence verify "$V/azure/milan-evidence.json"
expect evidence-real-nonce 0 'nonce' -- $SKRCTL evidence verify "$V/azure/milan-evidence.json" --nonce "$REAL_ND"
expect evidence-real-json 0 '"format": "trustee-az-snp-vtpm"' -- $SKRCTL evidence verify "$V/azure/milan-evidence.json" --json
sed 's/"version": 2/"version": 1/' "$V/azure/milan-evidence.json" > "$tmpd/ev-v1.json"
expect evidence-real-as-v1 0 'valid' -- $SKRCTL evidence verify "$tmpd/ev-v1.json"
expect evidence-real-wrong-nonce 1 'quote_nonce_mismatch' -- $SKRCTL evidence verify "$V/azure/milan-evidence.json" --nonce "$NONCE"
expect evidence-generated 0 'valid' -- $SKRCTL evidence verify "$fx/evidence.json" $TA --nonce "$NONCE"
expect evidence-swapped-ak 1 'quote_signature_invalid' -- $SKRCTL evidence verify "$fx/evidence-swapped-ak.json" $TA
expect evidence-untrusted 1 'chain_' -- $SKRCTL evidence verify "$fx/evidence.json"
printf '{"tee": "az-snp-vtpm", "hcl_report": 5}' > "$tmpd/bad.json"
expect evidence-malformed 2 'malformed' -- $SKRCTL evidence verify "$tmpd/bad.json"
printf '{not json' > "$tmpd/bad2.json"
expect evidence-not-json 2 'not valid JSON' -- $SKRCTL evidence verify "$tmpd/bad2.json"

[ "$fails" -eq 0 ]
