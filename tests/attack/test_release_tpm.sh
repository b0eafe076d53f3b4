# Generic TPM mode ("tpm", docs/DESIGN.md 2.2) end to end, all real parts on
# loopback: swtpms whose EK certificate swtpm_setup --create-ek-cert wrote
# (NV 0x01C00002, signed by a local swtpm_localca CA), skr-broker with that
# CA's root as ek_roots and its intermediate as ek_intermediates, `skrctl
# release`: the challenge carries the EK certificate and the EK's and a
# transient AK's public areas, the broker's credential rides on the answer,
# the TPM activates it, the release carries the activation.  Then the ways
# to get a key without being that TPM, each refused with its own reason;
# swaps are made on the wire by a TLS proxy (record_proxy.py with a patch
# file), as an attacker on the path would.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
proxy_pid=
trap 'drop_plugin; [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

here=$(cd "$(dirname "$0")" && pwd)
bdir=$tmpd/broker rec=$tmpd/rec
mkdir -p "$bdir" "$rec"

ca=$tmpd/ca
# VM A (the VM), VM B (another TPM certified by the same CA), VM F (a TPM
# certified by another CA), VM C below.
for vm in a b; do
	ek_provision "$tmpd/tpm-$vm" "$ca" || { echo "FAIL ek-provision-$vm: $(tail -3 "$ca/setup.log")"; exit 1; }
done
ek_provision "$tmpd/tpm-f" "$tmpd/foreign-ca" ||
	{ echo "FAIL ek-provision-f: $(tail -3 "$tmpd/foreign-ca/setup.log")"; exit 1; }
# VM C: certified by a third CA whose root the broker trusts but whose
# intermediate it was never given: only the VM can complete the chain.
ek_provision "$tmpd/tpm-c" "$tmpd/chain-ca" ||
	{ echo "FAIL ek-provision-c: $(tail -3 "$tmpd/chain-ca/setup.log")"; exit 1; }
cat "$ca/swtpm-localca-rootca-cert.pem" "$tmpd/chain-ca/swtpm-localca-rootca-cert.pem" > "$tmpd/ek-roots.pem"

# The broker: the swtpm CA's root (and VM C's CA's) as the only EK anchors,
# the first CA's intermediate as material.
ek_broker_config "$bdir" "$tmpd/ek-roots.pem" "$ca/issuercert.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

start_vtpm "$tmpd/tpm-a" || { echo "FAIL swtpm-start"; exit 1; }
SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
admin POST /v1/keys "{\"key_id\": \"tpm-1\", \"secret\": \"$SECRET_B64\", \"policy\": {\"tee\": \"tpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tpm-key-create" || echo "FAIL tpm-key-create: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/tpm-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tpm-refset" || echo "FAIL tpm-refset: $http_status $(cat "$tmpd/admin.out")"
# A Trusted Launch key with the same boot state.
admin POST /v1/keys "{\"key_id\": \"tl-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": {\"tee\": \"azure-tl\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}}" >/dev/null
admin POST /v1/keys/tl-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tl-key-create" || echo "FAIL tl-key-create: $http_status $(cat "$tmpd/admin.out")"

# A recording proxy in front of the broker; $tmpd/patch.json, while it
# exists, replaces members of the evidence (and, its "tpm" member, of a
# challenge's "tpm") on the way.
read -r rport aport < "$bdir/ports"
start_record_proxy "$rec" "$tmpd/patch.json" || { echo "FAIL proxy-start"; exit 1; }

rel() {	# KEY_ID [URL]
	$SKRCTL release --key-id "$1" --broker "${2:-$RELEASE_URL}" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --out "$tmpd/secret.$1"
}
handles() {	# KIND: the TPM's handles of that kind (persistent, transient)
	TPM2TOOLS_TCTI=$TCTI tpm2_getcap "handles-$1" 2>/dev/null
}
# last_identity VM: the "tpm" identity of the last recorded challenge, saved as VM's.
last_identity() {
	python3 - "$rec" "$tmpd/identity-$1.json" <<'PY'
import glob, json, os, sys
rec, dst = sys.argv[1:3]
names = sorted(glob.glob(os.path.join(rec, "*-challenge.json")), key=lambda p: int(os.path.basename(p).split("-")[0]))
json.dump(json.load(open(names[-1]))["tpm"], open(dst, "w"))
PY
}

# ---- the good path ----------------------------------------------------------
handles persistent > "$tmpd/persistent.before"
expect tpm-release 0 'released 32 bytes' -- rel tpm-1
[ "$(base64 -w0 < "$tmpd/secret.tpm-1")" = "$SECRET_B64" ] && echo "PASS tpm-secret-equals-stored" ||
	echo "FAIL tpm-secret-equals-stored"
rm -f "$tmpd/secret.tpm-1"
handles persistent > "$tmpd/persistent.after"
cmp -s "$tmpd/persistent.before" "$tmpd/persistent.after" && echo "PASS tpm-ak-not-persisted" ||
	echo "FAIL tpm-ak-not-persisted: $(cat "$tmpd/persistent.after")"
[ -z "$(handles transient)" ] && echo "PASS tpm-no-transient-left" ||
	echo "FAIL tpm-no-transient-left: $(handles transient)"
expect tpm-release-through-proxy 0 'released' -- rel tpm-1 "$PROXY_URL"
rm -f "$tmpd/secret.tpm-1"
last_identity a
# What went on the wire: the identity with the challenge, the credential
# with the nonce, and the same identity with the activation in the evidence.
python3 - "$rec" <<'PY' && echo "PASS tpm-wire-format" || echo "FAIL tpm-wire-format"
import base64, glob, json, os, sys
rec = sys.argv[1]
n = lambda p: int(os.path.basename(p).split("-")[0])
ch = sorted(glob.glob(os.path.join(rec, "*-challenge.json")), key=n)[-1]
rl = sorted(glob.glob(os.path.join(rec, "*-release.json")), key=n)[-1]
req, rel = json.load(open(ch)), json.load(open(rl))
ans = json.loads(json.load(open(ch.replace(".json", ".answer.json")))["body"])
assert set(req["tpm"]) == {"ek_cert", "ek_public", "ak_public"}, req
assert set(ans["credential"]) == {"blob", "secret"} and ans["nonce"] == rel["nonce"], ans
ev = rel["evidence"]
assert ev["tee"] == "tpm" and len(base64.b64decode(ev["activation"])) == 32, ev.keys()
assert all(ev[k] == req["tpm"][k] for k in req["tpm"]), "identity differs"
assert not {"hcl_report", "vcek", "ak_cert"} & set(ev), ev.keys()
assert {"quote", "pcrs", "wrap_key"} <= set(ev), ev.keys()
PY

# ek_pin VM: the SHA-256 of VM's EK certificate's SubjectPublicKeyInfo, as an
# operator computes it with openssl alone (skr-policy(5)).
ek_pin() {
	python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["ek_cert"]))' \
		"$tmpd/identity-$1.json" | openssl x509 -inform DER -noout -pubkey |
		openssl pkey -pubin -outform DER | sha256sum | cut -c1-64
}
PIN_A=$(ek_pin a)
# A key pinned to VM A's EK, and the pins a policy refuses.
pinned_policy() {	# PINS_JSON [TEE]
	echo "{\"tee\": \"${2:-tpm}\", \"ek_spki_sha256\": $1, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}"
}
admin POST /v1/keys "{\"key_id\": \"tpm-pinned\", \"secret\": \"$SECRET_B64\", \"policy\": $(pinned_policy "[\"$PIN_A\"]")}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS tpm-pinned-key-create" || echo "FAIL tpm-pinned-key-create: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/tpm-pinned/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
for bad in "tl:[\"$PIN_A\"]:azure-tl" "short:[\"abcd\"]" "empty:[]" "not-hex:[\"$(printf 'z%.0s' $(seq 64))\"]" "string:\"$PIN_A\""; do
	name=${bad%%:*} rest=${bad#*:} tee=tpm
	case $rest in *:azure-tl) rest=${rest%:azure-tl} tee=azure-tl ;; esac
	admin POST /v1/keys "{\"key_id\": \"tpm-bad-pin\", \"secret\": \"$SECRET_B64\", \"policy\": $(pinned_policy "$rest" "$tee")}" >/dev/null
	[ "$http_status" = 400 ] && grep -q 'policy_invalid' "$tmpd/admin.out" && echo "PASS tpm-pin-refused-$name" ||
		echo "FAIL tpm-pin-refused-$name: $http_status $(cat "$tmpd/admin.out")"
done
expect tpm-pinned-releases-to-its-ek 0 'released 32 bytes' -- rel tpm-pinned
rm -f "$tmpd/secret.tpm-pinned"

# ---- refusals, each with its reason ------------------------------------------
refused() {	# NAME REASON [KEY_ID [URL]]
	expect "$1" 1 "$2" -- rel "${3:-tpm-1}" "${4:-$RELEASE_URL}"
	[ ! -e "$tmpd/secret.${3:-tpm-1}" ] && echo "PASS $1-writes-nothing" || echo "FAIL $1-writes-nothing"
	rm -f "$tmpd/secret.${3:-tpm-1}"
}

# A generic TPM asking for a Trusted Launch key: the broker makes no credential.
refused tpm-for-tl-key 'tee_mismatch' tl-1

# A forged activation answer: the release's "activation" is not the credential.
python3 -c 'import base64, json, os, sys; json.dump({"activation": base64.b64encode(os.urandom(32)).decode()}, open(sys.argv[1], "w"))' "$tmpd/patch.json"
refused tpm-activation-forged 'activation_failed' tpm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"

# VM B: another TPM certified by the same CA.  With the same boot state it
# gets an unpinned key too (the CA certifies a fleet)...
stop_vtpm
start_vtpm "$tmpd/tpm-b" || { echo "FAIL swtpm-start-b"; exit 1; }
expect tpm-vm-b-same-ca-releases-unpinned 0 'released' -- rel tpm-1 "$PROXY_URL"
rm -f "$tmpd/secret.tpm-1"
last_identity b
expect tpm-vm-b-other-ek 1 -- cmp -s "$tmpd/identity-a.json" "$tmpd/identity-b.json"
# ...but not a key pinned to A's EK: refused at the challenge, no credential made.
refused tpm-vm-b-pinned-key 'ek_not_pinned.*not among the policy' tpm-pinned "$PROXY_URL"
python3 - "$rec" <<'PY' && echo "PASS tpm-vm-b-pinned-no-credential" || echo "FAIL tpm-vm-b-pinned-no-credential"
import glob, json, os
rec = __import__("sys").argv[1]
n = lambda p: int(os.path.basename(p).split("-")[0])
ch = sorted(glob.glob(os.path.join(rec, "*-challenge.json")), key=n)[-1]
ans = json.load(open(ch.replace(".json", ".answer.json")))
assert ans["status"] == 403 and "credential" not in ans["body"] and "ek_not_pinned" in ans["body"], ans
PY
# VM B's AK passed off as on VM A's certified TPM: B presents A's EK
# certificate and EK with its own AK; the credential is sealed to A's EK,
# B's TPM cannot activate it.
python3 - "$tmpd/identity-a.json" "$tmpd/patch.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
json.dump({"tpm": {"ek_cert": a["ek_cert"], "ek_public": a["ek_public"]}}, open(sys.argv[2], "w"))
PY
refused tpm-ak-not-on-ek-tpm 'ak_not_on_tpm' tpm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"

# VM F: an EK certificate from a CA the broker does not trust.
stop_vtpm
start_vtpm "$tmpd/tpm-f" || { echo "FAIL swtpm-start-f"; exit 1; }
refused tpm-ek-foreign-ca 'ekcert_untrusted'

# VM C: the broker lacks its EK certificate's issuer; the VM sends it
# ("ek_chain": the client's ek_chain file, else the TPM's chain NV indices).
stop_vtpm
start_vtpm "$tmpd/tpm-c" || { echo "FAIL swtpm-start-c"; exit 1; }
refused tpm-ek-chain-missing 'ekcert_untrusted.*issuer .* of the EK certificate .* is neither built in, configured nor presented'
rel_chain() {	# CHAIN_FILE [URL]
	$SKRCTL release --key-id tpm-1 --broker "${2:-$RELEASE_URL}" --ca "$bdir/ca.pem" --tcti "$TCTI" \
		--timeout 20 --ek-chain "$1" --out "$tmpd/secret.tpm-1"
}
cp "$tmpd/chain-ca/issuercert.pem" "$tmpd/ek-chain.pem"
chmod 0644 "$tmpd/ek-chain.pem"
expect tpm-ek-chain-file-releases 0 'released 32 bytes' -- rel_chain "$tmpd/ek-chain.pem" "$PROXY_URL"
rm -f "$tmpd/secret.tpm-1"
python3 - "$rec" "$tmpd/chain-ca/issuercert.pem" <<'PY' && echo "PASS tpm-ek-chain-on-the-wire" || echo "FAIL tpm-ek-chain-on-the-wire"
import base64, glob, json, os, ssl, sys
rec, pem = sys.argv[1:3]
n = lambda p: int(os.path.basename(p).split("-")[0])
ch = sorted(glob.glob(os.path.join(rec, "*-challenge.json")), key=n)[-1]
rl = sorted(glob.glob(os.path.join(rec, "*-release.json")), key=n)[-1]
want = ssl.PEM_cert_to_DER_cert(open(pem).read())
assert base64.b64decode(json.load(open(ch))["tpm"]["ek_chain"]) == want
assert base64.b64decode(json.load(open(rl))["evidence"]["ek_chain"]) == want
PY
printf 'garbage, not a certificate\n' > "$tmpd/ek-chain-bad.pem"
expect tpm-ek-chain-file-garbage 2 'malformed.*"ek_chain" .*ek-chain-bad.pem: no PEM certificate' -- \
	rel_chain "$tmpd/ek-chain-bad.pem"
cp "$tmpd/ek-chain.pem" "$tmpd/ek-chain-gw.pem"
chmod 0664 "$tmpd/ek-chain-gw.pem"
expect tpm-ek-chain-file-group-writable 2 'untrusted_config.*ek-chain-gw.pem is writable by its group' -- \
	rel_chain "$tmpd/ek-chain-gw.pem"
# The TPM's own chain: the intermediate in NV 0x01C00100, as a
# manufacturer provisions it (platform hierarchy, swtpm's empty auth).
nv_put() {	# INDEX FILE: FILE's bytes as NV INDEX (redefined), as a manufacturer writes it
	TPM2TOOLS_TCTI=$TCTI tpm2_nvundefine "$1" -C p >/dev/null 2>&1
	TPM2TOOLS_TCTI=$TCTI tpm2_nvdefine "$1" -C p -s "$(stat -c %s "$2")" \
		-a 'ppwrite|ppread|ownerread|authread|no_da|platformcreate' >/dev/null 2>&1 &&
		TPM2TOOLS_TCTI=$TCTI tpm2_nvwrite "$1" -C p -i "$2" >/dev/null 2>&1
}
nv_chain() { nv_put 0x01C00100 "$1"; }
openssl x509 -in "$tmpd/ek-chain.pem" -outform DER -out "$tmpd/ek-chain.der"
nv_chain "$tmpd/ek-chain.der" || echo "FAIL tpm-ek-chain-nv-define"
expect tpm-ek-chain-nv-releases 0 'released 32 bytes' -- rel tpm-1
rm -f "$tmpd/secret.tpm-1"
# The file, when configured, wins over the NV: a garbage file is refused.
expect tpm-ek-chain-file-wins 2 'no PEM certificate' -- rel_chain "$tmpd/ek-chain-bad.pem"
# The NV's bytes are the TPM's: garbage there is the broker's to refuse.
head -c 600 /dev/urandom > "$tmpd/ek-chain-junk"
nv_chain "$tmpd/ek-chain-junk" || echo "FAIL tpm-ek-chain-nv-junk-define"
refused tpm-ek-chain-nv-junk 'ekcert_untrusted.*EK chain is not concatenated DER'
TPM2TOOLS_TCTI=$TCTI tpm2_nvundefine 0x01C00100 -C p >/dev/null 2>&1

# VM E: a TPM with only an ECC P-256 EK certificate (NV 0x01C0000A): the
# EK from the profile's template L-2 (tpm2_createek -G ecc makes the same
# key), certified here by the first CA's intermediate (swtpm_setup 0.7
# certifies a P-384 EK in the high range instead), MakeCredential by ECDH.
stop_vtpm
start_vtpm "$tmpd/tpm-e" || { echo "FAIL swtpm-start-e"; exit 1; }
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyAgreement\n' > "$tmpd/ecc-ek.ext"
TPM2TOOLS_TCTI=$TCTI tpm2_createek -G ecc -c "$tmpd/ecc-ek.ctx" -u "$tmpd/ecc-ek.pem" -f pem >/dev/null 2>&1 &&
	TPM2TOOLS_TCTI=$TCTI tpm2_flushcontext -t >/dev/null 2>&1 &&
	openssl x509 -new -force_pubkey "$tmpd/ecc-ek.pem" -subj "/CN=skr test ECC EK" \
		-CA "$ca/issuercert.pem" -CAkey "$ca/signkey.pem" -days 2 -extfile "$tmpd/ecc-ek.ext" \
		-outform DER -out "$tmpd/ecc-ek.der" 2>/dev/null &&
	nv_put 0x01C0000A "$tmpd/ecc-ek.der" || echo "FAIL tpm-ecc-ek-provision"
[ -z "$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-nv-index 2>/dev/null | grep -i 0x1c00002)" ] &&
	echo "PASS tpm-ecc-only" || echo "FAIL tpm-ecc-only: an RSA EK certificate"
expect tpm-ecc-ek-releases 0 'released 32 bytes' -- rel tpm-1 "$PROXY_URL"
[ "$(base64 -w0 < "$tmpd/secret.tpm-1")" = "$SECRET_B64" ] && echo "PASS tpm-ecc-ek-secret" ||
	echo "FAIL tpm-ecc-ek-secret"
rm -f "$tmpd/secret.tpm-1"
last_identity e
python3 - "$tmpd/identity-e.json" "$tmpd/ecc-ek.der" <<'PY' && echo "PASS tpm-ecc-ek-wire" || echo "FAIL tpm-ecc-ek-wire"
import base64, json, sys
e = json.load(open(sys.argv[1]))
pub = base64.b64decode(e["ek_public"])
assert pub[2:4] == b"\x00\x23", pub[:8].hex()	# TPMT_PUBLIC.type = TPM_ALG_ECC
assert base64.b64decode(e["ek_cert"]) == open(sys.argv[2], "rb").read()
PY
# The ECC certificate with VM A's RSA EK: the certificate does not certify it.
python3 - "$tmpd/identity-a.json" "$tmpd/patch.json" <<'PY'
import json, sys
json.dump({"tpm": {"ek_public": json.load(open(sys.argv[1]))["ek_public"]}}, open(sys.argv[2], "w"))
PY
refused tpm-ecc-cert-rsa-ek 'ekcert_untrusted.*another key' tpm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"

stop_vtpm
start_vtpm "$tmpd/tpm-a" || { echo "FAIL swtpm-restart-a"; exit 1; }
expect tpm-release-again 0 'released' -- rel tpm-1
rm -f "$tmpd/secret.tpm-1"
# A's certificate with B's EK: the certificate does not certify that key.
python3 - "$tmpd/identity-b.json" "$tmpd/patch.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
json.dump({"tpm": {"ek_public": b["ek_public"]}}, open(sys.argv[2], "w"))
PY
refused tpm-ek-cert-other-key 'ekcert_untrusted' tpm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
# B's AK put in A's evidence after A's activation: the credential was made
# for A's AK, so the broker's recomputed one differs.
python3 - "$tmpd/identity-b.json" "$tmpd/patch.json" <<'PY'
import json, sys
json.dump({"ak_public": json.load(open(sys.argv[1]))["ak_public"]}, open(sys.argv[2], "w"))
PY
refused tpm-evidence-other-ak 'activation_failed' tpm-1 "$PROXY_URL"
rm -f "$tmpd/patch.json"
# B's certified EK put in A's release for the pinned key (after A's
# challenge passed the pin): the release checks the pin again.
python3 - "$tmpd/identity-b.json" "$tmpd/patch.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
json.dump({"ek_cert": b["ek_cert"], "ek_public": b["ek_public"]}, open(sys.argv[2], "w"))
PY
refused tpm-release-other-ek-pinned 'ek_not_pinned' tpm-pinned "$PROXY_URL"
rm -f "$tmpd/patch.json"
expect tpm-release-after-swaps 0 'released' -- rel tpm-1 "$PROXY_URL"
rm -f "$tmpd/secret.tpm-1"

# Another boot state.
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
refused tpm-pcrs-differ 'pcr_mismatch.*PCR 7: seen'

# Every release refusal is audited with its reason.
admin GET "/v1/audit?key_id=tpm-1&limit=100" > "$tmpd/audit.json"
python3 - "$tmpd/audit.json" <<'PY' && echo "PASS tpm-audit-reasons" || echo "FAIL tpm-audit-reasons: $(head -c 400 "$tmpd/audit.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
seen = {r.get("reason") for r in rows if r.get("action") == "release" and r.get("verdict") == "deny"}
want = {"activation_failed", "pcr_mismatch"}
assert want <= seen, sorted(want - seen)
assert sum(1 for r in rows if r.get("action") == "release" and r.get("verdict") == "allow") >= 5, rows
PY

# ---- enrollment and status in tpm mode ----------------------------------------
own_plugin
img=$tmpd/disk.img
head -c 24 /dev/urandom | base64 -w0 > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || echo "FAIL luksFormat"
expect tpm-enroll 0 'enrolled .*key tpm-disk' -- $SKRCTL enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" \
	--ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" --tcti "$TCTI" \
	--timeout 20 --pcrs 4,7,9 --key-id tpm-disk
admin GET /v1/keys/tpm-disk > "$tmpd/key.json"
python3 - "$tmpd/key.json" "$PIN_A" <<'PY' && echo "PASS tpm-enroll-policy" || echo "FAIL tpm-enroll-policy: $(head -c 400 "$tmpd/key.json")"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["tee"] == "tpm" and "snp" not in p and "ak_subjects" not in p, p
assert p["pcrs"]["indexes"] == [4, 7, 9], p
assert p["ek_spki_sha256"] == [sys.argv[2]], (p, sys.argv[2])
PY
expect tpm-enrolled-release 0 'released 32 bytes' -- rel tpm-disk
expect tpm-enrolled-secret-opens 0 -- cryptsetup open --test-passphrase --key-file "$tmpd/secret.tpm-disk" "$img"
expect tpm-status 0 'this VM: tpm, generic TPM' -- $SKRCTL status "$img" --tcti "$TCTI"
expect_stdout tpm-status-would-release 'this boot would be released'
expect tpm-status-json 0 -- $SKRCTL status "$img" --tcti "$TCTI" --json
cp "$out" "$tmpd/status.json"
expect tpm-status-json-vm 0 -- python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))["vm"]; assert v["tee"] == "tpm", v' "$tmpd/status.json"
# The client configuration's "ek_chain" (skr-client.json(5)) goes with the
# identity; held to the CA's rule: group-writable, the configuration is refused.
cp "$SKR_CONFIG" "$tmpd/client.json.good"
python3 - "$SKR_CONFIG" "$tmpd/ek-chain.pem" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["ek_chain"] = sys.argv[2]; json.dump(c, open(sys.argv[1], "w"))
PY
expect tpm-status-with-ek-chain 0 'this boot would be released' -- $SKRCTL status "$img" --tcti "$TCTI"
expect tpm-config-files-ek-chain 0 "^$tmpd/ek-chain.pem\$" -- "$BUILD/skr-unlock" --config-files
chmod 0664 "$tmpd/ek-chain.pem"
expect tpm-config-ek-chain-group-writable 2 'untrusted_config.*ek-chain.pem is writable by its group' -- \
	$SKRCTL status "$img" --tcti "$TCTI"
chmod 0644 "$tmpd/ek-chain.pem"
cp "$tmpd/client.json.good" "$SKR_CONFIG"

# The forgery activation must stop: an AK whose private part lives in
# software, its public area loaded with TPM2_LoadExternal and claiming
# fixedTPM|restricted.  A credential made to this TPM's EK for that name
# must not be activated: a public-only object has no authValue for the
# ADMIN role ActivateCredential needs (TPM_RC_AUTH_UNAVAILABLE, 0x12F), so a
# software key never passes as an AK of this TPM.
lx=$tmpd/loadexternal
mkdir -p "$lx"
export TPM2TOOLS_TCTI="$TCTI"
openssl genrsa -out "$lx/sw.pem" 2048 2>/dev/null && openssl rsa -in "$lx/sw.pem" -pubout -out "$lx/swpub.pem" 2>/dev/null
printf '0123456789abcdef' > "$lx/secret"
tpm2_createek -c 0x81010009 -G rsa -u "$lx/ek.pub" >/dev/null 2>&1 &&
	tpm2_readpublic -c 0x81010009 -o "$lx/ek.tpmpub" >/dev/null 2>&1 || echo "FAIL lx-ek: tpm2_createek"
expect lx-software-ak-loads 0 'name:' -- tpm2_loadexternal -C n -G rsa:rsassa-sha256:null -u "$lx/swpub.pem" \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' -c "$lx/ext.ctx" -n "$lx/ext.name"
expect lx-credential-made 0 -- tpm2_makecredential -T none -u "$lx/ek.tpmpub" -s "$lx/secret" \
	-n "$(xxd -p -c 256 "$lx/ext.name")" -o "$lx/cred.blob"
tpm2_startauthsession --policy-session -S "$lx/s.ctx" >/dev/null 2>&1 && tpm2_policysecret -S "$lx/s.ctx" -c e >/dev/null 2>&1
expect lx-software-ak-not-activated 0 'authValue or authPolicy is not available' -- \
	sh -c '! tpm2_activatecredential "$@"' sh -c "$lx/ext.ctx" -C 0x81010009 -i "$lx/cred.blob" \
	-o "$lx/out" -P "session:$lx/s.ctx"
expect lx-no-secret-out 1 -- test -s "$lx/out"
tpm2_flushcontext "$lx/s.ctx" >/dev/null 2>&1
tpm2_evictcontrol -C o -c 0x81010009 >/dev/null 2>&1

[ "$fails" -eq 0 ]
