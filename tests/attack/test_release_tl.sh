# Azure Trusted Launch ("azure-tl") end to end, all real parts on loopback: a
# swtpm provisioned like Azure's Trusted Launch vTPM (skr-fake-azure
# provision-tl: test root, intermediate without AIA, AK certificate in NV
# 0x01C101D0, no HCL report), skr-broker trusting the test root (ak_roots)
# and intermediate (ak_intermediates), `skrctl release`.  Then every way to
# get a key without being that VM in an approved boot state, each refused
# with its own reason; the evidence swaps are made on the wire by a TLS proxy
# (record_proxy.py with a patch file), as an attacker on the path would.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid=
trap 'drop_plugin; [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

FA=$BUILD/tools/skr-fake-azure
here=$(cd "$(dirname "$0")" && pwd)
ca=$tmpd/ca d=$tmpd/tl bdir=$tmpd/broker
SUBJECT=6d2b6c6a-0e51-4c3e-9a3b-5b1f2f0c7e11.TrustedVM.Azure.windows.net
mkdir -p "$d" "$bdir" "$tmpd/rec" "$tmpd/vm-b"
provision() { "$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" "$@" >/dev/null; }
# VM B: another vTPM (another endorsement seed, so another AK) certified by
# the same CA for the same subject, whose AK certificate an attacker has.
start_vtpm "$tmpd/tpm-b" || { echo "FAIL swtpm-start"; exit 1; }
"$FA" provision-tl --tcti "$TCTI" --out "$tmpd/vm-b" --ca-dir "$ca" >/dev/null || echo "FAIL vm-b-provision"
stop_vtpm
start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-start"; exit 1; }
provision || { echo "FAIL provision-tl"; exit 1; }

# The broker: the test root as an AK root, the test intermediate as material.
make_tls "$bdir" && write_broker_config "$bdir" || { echo "FAIL broker-config"; exit 1; }
sed -i "s|\"threads\": 2|\"threads\": 2, \"ak_roots\": \"$ca/root.pem\", \"ak_intermediates\": \"$ca/intermediate.pem\"|" "$bdir/broker.json"
cp "$bdir/broker.json" "$bdir/broker.full.json"
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
POLICY="{\"tee\": \"azure-tl\", \"ak_subjects\": [\"$SUBJECT\"], \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"
admin POST /v1/keys "{\"key_id\": \"tl-1\", \"secret\": \"$SECRET_B64\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tl-key-create" || echo "FAIL tl-key-create: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/tl-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tl-refset" || echo "FAIL tl-refset: $http_status $(cat "$tmpd/admin.out")"
# The same VM's key for a Confidential VM.
admin POST /v1/keys "{\"key_id\": \"cvm-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": {\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}}" >/dev/null
admin POST /v1/keys/cvm-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS cvm-key-create" || echo "FAIL cvm-key-create: $http_status $(cat "$tmpd/admin.out")"

# A recording proxy in front of the broker; $tmpd/patch.json, while it
# exists, replaces members of the evidence on the way.
start_proxy() {
	read -r rport aport < "$bdir/ports"
	start_record_proxy "$tmpd/rec" "$tmpd/patch.json"
}
start_proxy
rel() {	# KEY_ID [URL]
	$SKRCTL release --key-id "$1" --broker "${2:-$RELEASE_URL}" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --out "$tmpd/secret.$1"
}

# ---- the good path ----------------------------------------------------------
expect tl-release 0 'released 32 bytes' -- rel tl-1
[ "$(base64 -w0 < "$tmpd/secret.tl-1")" = "$SECRET_B64" ] && echo "PASS tl-secret-equals-stored" ||
	echo "FAIL tl-secret-equals-stored"
rm -f "$tmpd/secret.tl-1"
expect tl-release-through-proxy 0 'released' -- rel tl-1 "$PROXY_URL"
rm -f "$tmpd/secret.tl-1"

# ---- refusals, each with its reason ------------------------------------------
refused() {	# NAME REASON [KEY_ID [URL]]
	expect "$1" 1 "$2" -- rel "${3:-tl-1}" "${4:-$RELEASE_URL}"
	[ ! -e "$tmpd/secret.${3:-tl-1}" ] && echo "PASS $1-writes-nothing" || echo "FAIL $1-writes-nothing"
	rm -f "$tmpd/secret.${3:-tl-1}"
}

# A Trusted Launch VM's evidence for a Confidential VM's key.
refused tl-for-cvm-key 'tee_mismatch' cvm-1

# Another CA: its certificate, and the chain to its own root presented with
# the evidence (ak_chain) — the chain is built, and ends at a root not trusted.
mkdir -p "$tmpd/foreign"
"$FA" provision-tl --tcti "$TCTI" --out "$tmpd/foreign" --ca-dir "$tmpd/foreign-ca" >/dev/null ||
	echo "FAIL tl-foreign-provision"
python3 - "$tmpd/foreign-ca" "$tmpd/patch.json" <<'PY'
import base64, json, ssl, sys
der = b"".join(ssl.PEM_cert_to_DER_cert(open(f"{sys.argv[1]}/{n}.pem").read()) for n in ("intermediate", "root"))
json.dump({"ak_chain": base64.b64encode(der).decode()}, open(sys.argv[2], "w"))
PY
refused tl-foreign-ca 'akcert_untrusted' tl-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
# Without the chain, the foreign intermediate is nowhere.
refused tl-foreign-ca-no-chain 'akcert_intermediate_missing'

# The right PKI, but a broker that does not know the intermediate (there is
# no AIA to fetch it from).
provision
stop_broker
sed "s|, \"ak_intermediates\": \"[^\"]*\"||" "$bdir/broker.full.json" > "$bdir/broker.json"
start_broker "$bdir" || echo "FAIL broker-restart: $(tail -3 "$bdir/broker.log")"
refused tl-intermediate-missing 'akcert_intermediate_missing'
stop_broker
cp "$bdir/broker.full.json" "$bdir/broker.json"
start_broker "$bdir" || echo "FAIL broker-restart: $(tail -3 "$bdir/broker.log")"
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
start_proxy
expect tl-release-intermediate-again 0 'released' -- rel tl-1
rm -f "$tmpd/secret.tl-1"

provision --expired
refused tl-expired 'akcert_expired'
provision --cert-other-key
refused tl-cert-other-key 'akcert_key_mismatch'
provision --ak unrestricted
refused tl-ak-not-restricted 'ak_not_restricted'
provision --ak rsapss
refused tl-ak-attributes 'ak_attributes'
provision --subject another-vm.TrustedVM.Azure.windows.net
refused tl-subject-not-in-policy 'akcert_subject'

# VM B's certified AK (valid chain, its key, the pinned subject) put in this
# VM's evidence: the quote is this VM's AK's, not the certified one's.
provision
expect tl-vm-b-other-ak 1 -- cmp -s "$tmpd/vm-b/ak.pub" "$d/ak.pub"
python3 - "$tmpd/vm-b/akcert.der" "$tmpd/vm-b/ak.pub" "$tmpd/patch.json" <<'PY'
import base64, json, sys
b = lambda p: base64.b64encode(open(p, "rb").read()).decode()
json.dump({"ak_cert": b(sys.argv[1]), "ak_public": b(sys.argv[2])}, open(sys.argv[3], "w"))
PY
refused tl-quote-by-another-key 'quote_signature_invalid' tl-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
expect tl-release-after-swap 0 'released' -- rel tl-1 "$PROXY_URL"
rm -f "$tmpd/secret.tl-1"

# Another boot state.
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
refused tl-pcrs-differ 'pcr_mismatch.*PCR 7: seen'

# Every refusal is audited with its reason.
admin GET "/v1/audit?key_id=tl-1&limit=100" > "$tmpd/audit.json"
python3 - "$tmpd/audit.json" <<'PY' && echo "PASS tl-audit-reasons" || echo "FAIL tl-audit-reasons: $(head -c 400 "$tmpd/audit.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
seen = {r.get("reason") for r in rows if r.get("action") == "release" and r.get("verdict") == "deny"}
want = {"akcert_untrusted", "akcert_intermediate_missing", "akcert_expired", "akcert_key_mismatch",
        "ak_not_restricted", "ak_attributes", "akcert_subject", "quote_signature_invalid", "pcr_mismatch"}
assert want <= seen, sorted(want - seen)
assert sum(1 for r in rows if r.get("action") == "release" and r.get("verdict") == "allow") >= 4, rows
PY

# ---- enrollment and status on a Trusted Launch VM ------------------------------
# enroll detects the mode: an azure-tl policy pinned to this VM's subject.
own_plugin
provision
img=$tmpd/disk.img
head -c 24 /dev/urandom | base64 -w0 > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || echo "FAIL luksFormat"
expect tl-enroll 0 'enrolled .*key tl-disk' -- $SKRCTL enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" \
	--ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" --tcti "$TCTI" \
	--timeout 20 --pcrs 4,7,9 --key-id tl-disk
admin GET /v1/keys/tl-disk > "$tmpd/key.json"
python3 - "$tmpd/key.json" "$SUBJECT" <<'PY' && echo "PASS tl-enroll-policy" || echo "FAIL tl-enroll-policy: $(head -c 400 "$tmpd/key.json")"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["tee"] == "azure-tl" and p["ak_subjects"] == [sys.argv[2]] and "snp" not in p, p
assert p["pcrs"]["indexes"] == [4, 7, 9], p
PY
expect tl-enrolled-release 0 'released 32 bytes' -- rel tl-disk
expect tl-enrolled-secret-opens 0 -- cryptsetup open --test-passphrase --key-file "$tmpd/secret.tl-disk" "$img"
expect tl-status 0 'this VM: azure-tl, Azure Trusted Launch' -- $SKRCTL status "$img" --tcti "$TCTI"
expect_stdout tl-status-would-release 'this boot would be released'
expect tl-status-json 0 -- $SKRCTL status "$img" --tcti "$TCTI" --json
cp "$out" "$tmpd/status.json"
expect tl-status-json-vm 0 -- python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["vm"]; assert v["tee"] == "azure-tl", v' "$tmpd/status.json"
# A vTPM with neither index: status says so, and the dry run fails for that reason.
"$FA" provision-tl --tcti "$TCTI" --out "$d" --ca-dir "$ca" --no-cert >/dev/null
expect tl-status-neither 2 'tpm_nv_undefined' -- $SKRCTL status "$img" --tcti "$TCTI"
expect_stdout tl-status-neither-vm 'this VM: mode unknown: .*neither an HCL report'
expect_stdout tl-status-neither-token 'key tl-disk' 

[ "$fails" -eq 0 ]
