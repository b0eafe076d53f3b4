# Bare SEV-SNP under an SVSM vTPM ("snp-svsm", docs/DESIGN.md 2.3.1) end to
# end on loopback: a swtpm stands in for the SVSM's vTPM (no EK
# certificate: the SVSM's report vouches for its EK), skr-fake-tsm in SVSM
# mode for configfs-tsm (service_provider, manifestblob: a report at VMPL0
# whose REPORT_DATA = SHA-512(inblob || manifest), the manifest's vTPM entry
# that swtpm's EK), skr-broker trusting the stand-in's AMD chain, and
# `skrctl release`: it detects the SVSM, sends the EK and a transient AK
# with the challenge, activates the broker's credential, and sends the
# SVSM's report and manifest with the AK's quote and certify.  Then each
# way to get the key without being that guest on that vTPM, refused with
# its own reason; swaps on the wire go through a TLS proxy (record_proxy.py
# with a patch file).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid=
trap 'drop_plugin; [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_fake_tsm; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

here=$(cd "$(dirname "$0")" && pwd)
t=$tmpd/tsm bdir=$tmpd/broker rec=$tmpd/rec
mkdir -p "$t" "$bdir" "$rec"

# The SVSM's vTPM: its EK of template L-1 (tpm2_createek makes the same
# primary), as the TPMT_PUBLIC COCONUT-SVSM puts in its manifest.
start_vtpm "$tmpd/tpm-a" || { echo "FAIL swtpm-start"; exit 1; }
TPM_A=$TCTI
svsm_ek() {	# OUT: the running vTPM's EK TPMT_PUBLIC
	TPM2TOOLS_TCTI=$TCTI tpm2_createek -G rsa -c "$tmpd/ek.ctx" -u "$tmpd/ek.tpm2b" >/dev/null 2>&1 &&
		TPM2TOOLS_TCTI=$TCTI tpm2_flushcontext -t >/dev/null 2>&1 &&
		tail -c +3 "$tmpd/ek.tpm2b" > "$1" && [ "$(stat -c %s "$1")" -gt 300 ]
}
svsm_ek "$tmpd/ek-a.tpmt" || { echo "FAIL svsm-ek-a"; exit 1; }

start_fake_tsm "$t" --svsm-ek "$tmpd/ek-a.tpmt" || { echo "FAIL fake-tsm-start"; exit 1; }

make_tls "$bdir" && write_broker_config "$bdir" "$t/trust.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
MEAS=$(cat "$t/measurement")
SNP="{\"measurements\": [\"$MEAS\"], \"min_tcb\": {\"bootloader\": 3, \"tee\": 0, \"snp\": 8, \"microcode\": 115}}"
PCRS='{"bank": "sha256", "indexes": [0, 7, 11]}'
key() {	# KEY_ID POLICY: created, with the vTPM's PCRs 0, 7, 11 as its reference set
	admin POST /v1/keys "{\"key_id\": \"$1\", \"secret\": \"$SECRET_B64\", \"policy\": $2}" >/dev/null
	[ "$http_status" = 201 ] || return 1
	admin POST "/v1/keys/$1/refsets" "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
	[ "$http_status" = 201 ]
}
key svsm-1 "{\"tee\": \"snp-svsm\", \"snp\": $SNP, \"pcrs\": $PCRS}" && echo "PASS svsm-key-create" ||
	echo "FAIL svsm-key-create: $http_status $(cat "$tmpd/admin.out")"
# The measurement is optional here (the PCRs bind the boot); the PCRs are not.
key svsm-nomeas "{\"tee\": \"snp-svsm\", \"pcrs\": $PCRS}" && echo "PASS svsm-key-without-measurement" ||
	echo "FAIL svsm-key-without-measurement: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys "{\"key_id\": \"svsm-weak\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"snp-svsm\", \"snp\": $SNP}}" >/dev/null
[ "$http_status" = 400 ] && grep -q binding_too_weak "$tmpd/admin.out" && echo "PASS svsm-key-needs-pcrs" ||
	echo "FAIL svsm-key-needs-pcrs: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys "{\"key_id\": \"svsm-pin\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"snp-svsm\", \"ek_spki_sha256\": [\"$(printf 'a%.0s' $(seq 64))\"], \"pcrs\": $PCRS}}" >/dev/null
[ "$http_status" = 400 ] && grep -q policy_invalid "$tmpd/admin.out" && echo "PASS svsm-key-no-ek-pin" ||
	echo "FAIL svsm-key-no-ek-pin: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys "{\"key_id\": \"snp-1\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"snp\", \"snp\": $SNP}}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS snp-key-create" || echo "FAIL snp-key-create: $http_status $(cat "$tmpd/admin.out")"

read -r rport aport < "$bdir/ports"
start_record_proxy "$rec" "$tmpd/patch.json" || { echo "FAIL proxy-start"; exit 1; }

rel() {	# KEY_ID [URL]
	$SKRCTL release --key-id "$1" --broker "${2:-$RELEASE_URL}" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --out "$tmpd/secret.$1"
}
last() {	# KIND: the newest recorded request of that kind (challenge, release)
	ls "$rec" | grep -- "-$1.json\$" | sort -n | tail -1 | sed "s|^|$rec/|"
}

# ---- the good path ----------------------------------------------------------
expect svsm-release 0 'released 32 bytes' -- rel svsm-1
[ "$(base64 -w0 < "$tmpd/secret.svsm-1" 2>/dev/null)" = "$SECRET_B64" ] && echo "PASS svsm-secret-equals-stored" ||
	echo "FAIL svsm-secret-equals-stored"
rm -f "$tmpd/secret.svsm-1"
[ -z "$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-transient 2>/dev/null)" ] && echo "PASS svsm-no-transient-left" ||
	echo "FAIL svsm-no-transient-left"
expect svsm-release-without-measurement 0 'released 32 bytes' -- rel svsm-nomeas
rm -f "$tmpd/secret.svsm-nomeas"
expect svsm-release-through-proxy 0 'released' -- rel svsm-1 "$PROXY_URL"
rm -f "$tmpd/secret.svsm-1"
cp "$(last release)" "$tmpd/release-a.json"
cp "$(last challenge)" "$tmpd/challenge-a.json"
# What went on the wire: EK and AK with the challenge; the SVSM's report,
# certificates and manifest, the AK, the activation, quote and wrap key in
# the evidence, no EK of the VM's own; the manifest's EK is the vTPM's, the
# one the challenge named.
python3 - "$tmpd/challenge-a.json" "$tmpd/release-a.json" "$tmpd/ek-a.tpmt" <<'PY' && echo "PASS svsm-wire-format" || echo "FAIL svsm-wire-format"
import base64, hashlib, json, sys
ch, rl, ek = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), open(sys.argv[3], "rb").read()
b = lambda s: base64.b64decode(s)
assert set(ch["tpm"]) == {"ek_public", "ak_public"}, ch
assert b(ch["tpm"]["ek_public"])[2:] == ek, "the challenge's EK is not the vTPM's"
ev = rl["evidence"]
assert ev["tee"] == "snp-svsm", ev["tee"]
assert set(ev) == {"tee", "report", "certs", "manifest", "ak_public", "activation", "quote", "pcrs", "wrap_key"}, sorted(ev)
assert ev["ak_public"] == ch["tpm"]["ak_public"]
assert {"vcek", "ask", "ark"} <= set(ev["certs"]), ev["certs"].keys()
report, manifest = b(ev["report"]), b(ev["manifest"])
assert len(report) == 1184 and int.from_bytes(report[0x30:0x34], "little") == 0, "not VMPL 0"
assert manifest[:4] == bytes.fromhex("bb9e8463") and manifest.endswith(ek), "manifest"
svsm_nonce = hashlib.sha512(b"skr-svsm-v1" + b(rl["nonce"])).digest()
assert report[0x50:0x90] == hashlib.sha512(svsm_nonce + manifest).digest(), "REPORT_DATA"
PY
ls "$SKR_TSM_ROOT" | grep -q . && echo "FAIL svsm-entries-removed: $(ls "$SKR_TSM_ROOT")" || echo "PASS svsm-entries-removed"

# ---- refusals, each with its reason ------------------------------------------
refused() {	# NAME REASON [KNOB [KEY_ID [URL]]]
	if [ -n "${3:-}" ]; then echo "$3" > "$t/knobs"; else rm -f "$t/knobs"; fi
	expect "$1" 1 "$2" -- rel "${4:-svsm-1}" "${5:-$RELEASE_URL}"
	[ ! -e "$tmpd/secret.${4:-svsm-1}" ] && echo "PASS $1-writes-nothing" || echo "FAIL $1-writes-nothing"
	rm -f "$tmpd/secret.${4:-svsm-1}" "$t/knobs"
}
# The manifest names another EK than the one the credential was made to.
refused svsm-manifest-other-ek 'activation_failed.*SVSM' svsm_other_ek
refused svsm-manifest-no-vtpm svsm_no_vtpm svsm_no_vtpm
# A report the guest asked for itself (VMPL 1), with a REPORT_DATA it chose.
refused svsm-report-vmpl1 snp_vmpl_not_allowed vmpl=1
refused svsm-report-data-unbound svsm_binding_mismatch svsm_unbound
refused svsm-measurement-not-allowed snp_measurement_not_allowed measurement_flip
refused svsm-signed-by-another-chip snp_signature_invalid other_signer
# This VM asking for a bare snp key: the broker makes no credential.
refused svsm-for-snp-key tee_mismatch "" snp-1
# A manifest swapped on the wire: the report does not bind it.
python3 - "$tmpd/release-a.json" "$tmpd/patch.json" <<'PY'
import base64, json, sys
m = bytearray(base64.b64decode(json.load(open(sys.argv[1]))["evidence"]["manifest"]))
m[-1] ^= 1
json.dump({"manifest": base64.b64encode(bytes(m)).decode()}, open(sys.argv[2], "w"))
PY
refused svsm-manifest-swapped svsm_binding_mismatch "" svsm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
# The evidence replayed with a fresh nonce (the same EK and AK at the
# challenge): the report binds the old one.
replay() {	# KEY_ID OUT: A's recorded release for KEY_ID under a fresh nonce
	python3 - "$tmpd/release-a.json" "$2" "$RELEASE_URL" "$bdir/ca.pem" "$tmpd/challenge-a.json" "$1" <<'PY'
import json, ssl, sys, urllib.request
rec, outp, url, ca, chrec, key_id = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
body = json.load(open(rec))
body["key_id"] = key_id
_, ch = post("/v1/challenge", {"key_id": key_id, "tpm": json.load(open(chrec))["tpm"]})
body["nonce"] = ch["nonce"]
status, ans = post("/v1/release", body)
json.dump({"status": status, "body": ans}, open(outp, "w"))
PY
}
replay svsm-1 "$tmpd/replay.json"
grep -q '"status": 403' "$tmpd/replay.json" && grep -q svsm_binding_mismatch "$tmpd/replay.json" &&
	echo "PASS svsm-replayed-other-nonce" || echo "FAIL svsm-replayed-other-nonce: $(cat "$tmpd/replay.json")"
# The same evidence sent for a bare snp key: the broker refuses the mode.
replay snp-1 "$tmpd/replay.json"
grep -q '"status": 403' "$tmpd/replay.json" && grep -q tee_mismatch "$tmpd/replay.json" &&
	echo "PASS svsm-evidence-for-snp-key-broker" || echo "FAIL svsm-evidence-for-snp-key-broker: $(cat "$tmpd/replay.json")"

# VM B: another TPM, not the SVSM's (the manifest still names A's EK): its
# credential is made to B's EK, the broker expects one made to A's.
stop_vtpm
start_vtpm "$tmpd/tpm-b" || { echo "FAIL swtpm-start-b"; exit 1; }
refused svsm-other-vtpm 'activation_failed' "" svsm-1 "$PROXY_URL"
cp "$(last release)" "$tmpd/release-b.json"
# B claiming the SVSM's EK (A's) with its own AK: the credential is sealed
# to A's EK, B's TPM cannot activate it.
python3 - "$tmpd/challenge-a.json" "$tmpd/patch.json" <<'PY'
import json, sys
json.dump({"tpm": {"ek_public": json.load(open(sys.argv[1]))["tpm"]["ek_public"]}}, open(sys.argv[2], "w"))
PY
refused svsm-other-vtpm-claims-svsm-ek 'ak_not_on_tpm' "" svsm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
stop_vtpm
start_vtpm "$tmpd/tpm-a" || { echo "FAIL swtpm-restart-a"; exit 1; }
# A's evidence with the quote B's TPM made: not A's AK's signature.
python3 - "$tmpd/release-b.json" "$tmpd/patch.json" quote <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["evidence"]
json.dump({k: ev[k] for k in sys.argv[3:]}, open(sys.argv[2], "w"))
PY
refused svsm-quote-from-other-tpm quote_signature_invalid "" svsm-1 "$PROXY_URL"
# ...and with B's AK too: that AK is not the one A's vTPM activated for.
python3 - "$tmpd/release-b.json" "$tmpd/patch.json" quote ak_public pcrs <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["evidence"]
json.dump({k: ev[k] for k in sys.argv[3:]}, open(sys.argv[2], "w"))
PY
refused svsm-quote-and-ak-from-other-tpm activation_failed "" svsm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
expect svsm-release-after-swaps 0 'released 32 bytes' -- rel svsm-1
rm -f "$tmpd/secret.svsm-1"

# A volume opened already (PCR 15 extended): the boot gate.
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 15:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
refused svsm-gate-closed boot_gate_closed
vtpm_reboot || echo "FAIL svsm-vtpm-reboot"
# Another boot state.
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
refused svsm-pcrs-differ 'pcr_mismatch.*PCR 7: seen'

# Every release refusal is audited with its reason.
admin GET "/v1/audit?key_id=svsm-1&limit=100" > "$tmpd/audit.json"
python3 - "$tmpd/audit.json" <<'PY' && echo "PASS svsm-audit-reasons" || echo "FAIL svsm-audit-reasons: $(head -c 400 "$tmpd/audit.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
seen = {r.get("reason") for r in rows if r.get("action") == "release" and r.get("verdict") == "deny"}
want = {"activation_failed", "svsm_no_vtpm", "snp_vmpl_not_allowed", "svsm_binding_mismatch",
        "snp_measurement_not_allowed", "quote_signature_invalid", "boot_gate_closed", "pcr_mismatch"}
assert want <= seen, sorted(want - seen)
PY

# ---- enroll, status and the boot in snp-svsm mode --------------------------------
# enroll takes the launch state from the guest's own report and the PCRs from
# the vTPM; every release then checks the SVSM's VMPL0 report and its EK.
vtpm_reboot || echo "FAIL svsm-vtpm-reboot-2"
own_plugin
img=$tmpd/disk.img
head -c 24 /dev/urandom | base64 -w0 > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || echo "FAIL luksFormat"
expect svsm-enroll 0 'enrolled .*key svsm-disk' -- $SKRCTL enroll "$img" --broker "$RELEASE_URL" \
	--admin "$ADMIN_URL" --ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --timeout 20 --pcrs 4,7,9 --key-id svsm-disk
admin GET /v1/keys/svsm-disk > "$tmpd/key.json"
python3 - "$tmpd/key.json" "$MEAS" <<'PY' && echo "PASS svsm-enroll-policy" || echo "FAIL svsm-enroll-policy: $(head -c 400 "$tmpd/key.json")"
import json, sys
k = json.load(open(sys.argv[1]))
p = k["policy"]
assert p["tee"] == "snp-svsm" and "ek_spki_sha256" not in p and "ak_subjects" not in p, p
assert p["pcrs"]["indexes"] == [4, 7, 9], p
s = p["snp"]
assert s["measurements"] == [sys.argv[2]] and s["max_vmpl"] == 0 and s["allow_debug"] is False, s
assert len(k["refsets"]) == 1, k["refsets"]
PY
expect svsm-enrolled-release 0 'released 32 bytes' -- rel svsm-disk
expect svsm-enrolled-secret-opens 0 -- cryptsetup open --test-passphrase --key-file "$tmpd/secret.svsm-disk" "$img"
expect svsm-status 0 'this boot would be released' -- $SKRCTL status "$img" --tcti "$TCTI"
expect svsm-status-json 0 -- $SKRCTL status "$img" --tcti "$TCTI" --json
cp "$out" "$tmpd/status.json"
expect svsm-status-json-vm 0 -- python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["vm"]; assert v["tee"] == "snp-svsm", v' "$tmpd/status.json"
# The boot: skr-unlock and the token plugin open by release; the gate is PCR 15.
export SKR_CMDLINE=$tmpd/cmdline SKR_KMSG=$tmpd/kmsg
: > "$SKR_CMDLINE"
expect svsm-gate-is-pcr15 0 '^pcr15$' -- "$BUILD/skr-unlock" --gate --tcti "$TCTI"
expect svsm-unlock 0 'checked .* with the key from' -- setsid -w "$BUILD/skr-unlock" --device "$img" \
	--test-passphrase --no-prompt --tcti "$TCTI" </dev/null
vtpm_reboot || echo "FAIL svsm-vtpm-reboot-3"
if [ -n "$installed_plugin" ]; then
	expect svsm-plugin-opens 0 -- cryptsetup open --test-passphrase --token-only --token-type skr "$img"
else
	echo "FAIL svsm-plugin-opens: the token plugin directory is not writable"
fi
vtpm_reboot || echo "FAIL svsm-vtpm-reboot-4"
# The passphrase: measured into PCR 15, after which no release goes through.
echo 'rd.skr=0' > "$SKR_CMDLINE"
expect svsm-unlock-passphrase 0 'checked .* keyslot 0' -- setsid -w "$BUILD/skr-unlock" --device "$img" \
	--test-passphrase --key-file "$tmpd/pass" --tcti "$TCTI" </dev/null
: > "$SKR_CMDLINE"
expect svsm-release-after-passphrase-refused 1 'boot_gate_closed' -- rel svsm-disk

[ "$fails" -eq 0 ]
