# Bare SEV-SNP ("snp", no vTPM) end to end on loopback: skr-fake-tsm (the
# configfs-tsm stand-in, tests/helpers/faketsm.h: a directory whose FIFOs a
# thread serves with reports signed by a test AMD chain; it stands in for
# the kernel interface only), skr-broker trusting that chain, and
# `skrctl release` with no TPM, so that it takes the snp path and makes its
# report through configfs-tsm.  Then each way to get the key without being
# that guest, refused with its own reason; the wrap-key swap is made on the
# wire by a TLS proxy (record_proxy.py with a patch file).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid=
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_fake_tsm; stop_broker KILL; stop_pg; rm -rf "$out" "$err" "$tmpd"' EXIT

here=$(cd "$(dirname "$0")" && pwd)
t=$tmpd/tsm bdir=$tmpd/broker
mkdir -p "$t" "$bdir" "$tmpd/rec"
start_fake_tsm "$t" || { echo "FAIL fake-tsm-start"; exit 1; }

make_tls "$bdir" && write_broker_config "$bdir" "$t/trust.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
POLICY="{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"$(cat "$t/measurement")\"], \"min_tcb\": {\"bootloader\": 3, \"tee\": 0, \"snp\": 8, \"microcode\": 115}}}"
admin POST /v1/keys "{\"key_id\": \"snp-1\", \"secret\": \"$SECRET_B64\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS snp-key-create" || echo "FAIL snp-key-create: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys "{\"key_id\": \"snp-weak\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"snp\"}}" >/dev/null
[ "$http_status" = 400 ] && grep -q binding_too_weak "$tmpd/admin.out" && echo "PASS snp-key-needs-measurement" ||
	echo "FAIL snp-key-needs-measurement: $http_status $(cat "$tmpd/admin.out")"
# The same guest's key with a minimum TCB above the platform's (the VCEK certifies snp 8).
admin POST /v1/keys "{\"key_id\": \"snp-tcb9\", \"secret\": \"$SECRET_B64\", \"policy\": $(echo "$POLICY" | sed 's/"snp": 8/"snp": 9/')}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS snp-tcb9-key-create" || echo "FAIL snp-tcb9-key-create: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys "{\"key_id\": \"cvm-1\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [7]}}}" >/dev/null

read -r rport aport < "$bdir/ports"
start_record_proxy "$tmpd/rec" "$tmpd/patch.json" || { echo "FAIL proxy-start"; exit 1; }

# No TPM at all: the client must take the configfs-tsm path.
rel() {	# KEY_ID [URL]
	$SKRCTL release --key-id "$1" --broker "${2:-$RELEASE_URL}" --ca "$bdir/ca.pem" \
		--tcti "device:$tmpd/no-tpm" --timeout 20 --out "$tmpd/secret.$1"
}

# ---- the good path ----------------------------------------------------------
expect snp-release 0 'released 32 bytes' -- rel snp-1
[ "$(base64 -w0 < "$tmpd/secret.snp-1" 2>/dev/null)" = "$SECRET_B64" ] && echo "PASS snp-secret-equals-stored" ||
	echo "FAIL snp-secret-equals-stored"
rm -f "$tmpd/secret.snp-1"
ls "$SKR_TSM_ROOT" | grep -q . && echo "FAIL snp-entry-removed: $(ls "$SKR_TSM_ROOT")" || echo "PASS snp-entry-removed"

# ---- refusals, each with its reason ------------------------------------------
refused() {	# NAME REASON [KNOB [KEY_ID [URL [CODE]]]]
	if [ -n "${3:-}" ]; then echo "$3" > "$t/knobs"; else rm -f "$t/knobs"; fi
	expect "$1" "${6:-1}" "$2" -- rel "${4:-snp-1}" "${5:-$RELEASE_URL}"
	[ ! -e "$tmpd/secret.${4:-snp-1}" ] && echo "PASS $1-writes-nothing" || echo "FAIL $1-writes-nothing"
	rm -f "$tmpd/secret.${4:-snp-1}" "$t/knobs"
}
refused snp-debug-guest snp_debug_enabled debug
refused snp-tcb-below-minimum snp_tcb_too_low "" snp-tcb9
# A report whose REPORTED_TCB is below what its VCEK certifies (a lower TCB on the same chip).
refused snp-tcb-below-vcek vcek_tcb_mismatch tcb_snp=7
refused snp-measurement-not-pinned snp_measurement_not_allowed measurement_flip
refused snp-signed-by-another-chip snp_signature_invalid other_signer
refused snp-malformed-cert-table snp_certs_malformed bad_table
refused snp-generation-changed tsm_generation_changed bump_generation snp-1 "$RELEASE_URL" 2
refused snp-evidence-for-cvm-key tee_mismatch "" cvm-1

# REPORT_DATA bound to another key: an attacker on the path swaps the wrap key.
python3 - "$tmpd/patch.json" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
k = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
json.dump({"wrap_key": {"epk": base64.b64encode(k).decode()}}, open(sys.argv[1], "w"))
PY
refused snp-report-data-other-key report_data_mismatch "" snp-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"

# REPORT_DATA bound to another nonce: the recorded evidence replayed with a fresh nonce.
expect snp-release-recorded 0 'released' -- rel snp-1 "$PROXY_URL"
rm -f "$tmpd/secret.snp-1"
last=$(ls "$tmpd/rec" | grep -- '-release.json$' | sort -n | tail -1)
python3 - "$tmpd/rec/$last" "$tmpd/replay.json" "$RELEASE_URL" "$bdir/ca.pem" <<'PY'
import json, ssl, sys, urllib.request
rec, outp, url, ca = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
body = json.load(open(rec))
_, ch = post("/v1/challenge", {"key_id": body["key_id"]})
body["nonce"] = ch["nonce"]
status, ans = post("/v1/release", body)
json.dump({"status": status, "body": ans}, open(outp, "w"))
PY
grep -q '"status": 403' "$tmpd/replay.json" && grep -q report_data_mismatch "$tmpd/replay.json" &&
	echo "PASS snp-report-data-other-nonce" || echo "FAIL snp-report-data-other-nonce: $(cat "$tmpd/replay.json")"

[ "$fails" -eq 0 ]
