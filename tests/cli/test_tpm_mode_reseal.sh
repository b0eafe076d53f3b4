# Reseal and the local offline copy in the two modes of a plain vTPM (issue
# 15), the same flow run twice, each check named after its mode:
#  tpm-  generic TPM mode (tee "tpm"): a swtpm whose EK certificate
#        swtpm_setup --create-ek-cert wrote (signed by a local swtpm_localca CA;
#        none of Azure's NV indices), the broker with that CA's root as its
#        only "ek_roots"; enroll pins the EK (ek_spki_sha256).
#  tl-   Azure Trusted Launch (tee "azure-tl"): a swtpm provisioned as
#        Azure's Trusted Launch vTPM (skr-fake-azure provision-tl: an AK at
#        0x81000003, its certificate from a test root in NV 0x01C101D0, no HCL
#        report), the broker trusting that root (ak_roots, ak_intermediates);
#        enroll pins the AK certificate's subject (ak_subjects).
# All real parts on loopback: skr-broker over TLS, LUKS2 in a file (keyslot
# checks only, --test-passphrase: no device-mapper).
#
# A "boot" is a power cycle of the swtpm (vtpm_reboot: every PCR back to
# zero, PCR 15 the boot gate included) and a replay of a real firmware event
# log into PCRs 4 and 7 (replay_pcrs.py); the kernel upgrade is the same log
# with the kernel's event replaced by the new image's Authenticode digest, as
# in test_reseal.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'drop_plugin; stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
own_plugin
here=$(dirname "$0")
FA=$BUILD/tools/skr-fake-azure
SUBJECT=6d2b6c6a-0e51-4c3e-9a3b-5b1f2f0c7e11.TrustedVM.Azure.windows.net	# provision-tl's default

# M: the mode running (tpm or tl), every check's prefix.
# check NAME CONDITION [WHY]: WHY, a command run only on failure, says what was seen.
check() { if eval "$2"; then echo "PASS $M-$1"; else echo "FAIL $M-$1${3:+: $(eval "$3" 2>&1 | head -c 600)}"; fails=$((fails + 1)); fi; }
xp() { _n=$1; shift; expect "$M-$_n" "$@"; }

# --- The boots' event logs (both modes) -------------------------------------------------
log_bin="$VECTORS/eventlog/arch-linux.bin"
new_kernel="$VECTORS/pe/hello-x64.efi"
KERNEL_EVENT=23		# arch-linux.bin: the kernel systemd-boot loaded (PCR 4)
"$SKRCTL" eventlog show "$log_bin" --json > "$tmpd/events.json" || { echo "FAIL eventlog-show"; exit 1; }
old_digest=$(python3 -c 'import json, sys
print([e for e in json.load(open(sys.argv[1])) if e["index"] == int(sys.argv[2])][0]["digests"]["sha256"])' \
	"$tmpd/events.json" "$KERNEL_EVENT")
new_digest=$("$SKRCTL" pe hash "$new_kernel" --alg sha256)
# A third kernel: the same image with its last byte changed (another Authenticode digest).
other=$tmpd/other.efi
cp "$new_kernel" "$other"
printf '\377' | dd of="$other" bs=1 seek=$(($(stat -c %s "$other") - 1)) conv=notrunc status=none
other_digest=$("$SKRCTL" pe hash "$other" --alg sha256)
# Each boot's own event log: the old one with the kernel event's digest replaced.
for k in new other; do
	eval "d=\$${k}_digest"
	python3 -c 'import sys
data = open(sys.argv[1], "rb").read(); old, new = bytes.fromhex(sys.argv[3]), bytes.fromhex(sys.argv[4])
assert data.count(old) == 1, "the kernel digest is not unique in the log"
open(sys.argv[2], "wb").write(data.replace(old, new))' "$log_bin" "$tmpd/$k-boot.bin" "$old_digest" "$d" ||
		{ echo "FAIL $k-boot-log"; exit 1; }
done

# boot_old, boot_new, boot_other: a boot of that kernel, in the initramfs (gate at zero).
boot() { vtpm_reboot && python3 "$here/replay_pcrs.py" "$tmpd/events.json" 4,7 "$TCTI" ${1:+--swap "$1"}; }
boot_old() { cur_log=$log_bin; boot; }
boot_new() { cur_log=$tmpd/new-boot.bin; boot "$KERNEL_EVENT=$new_digest"; }
boot_other() { cur_log=$tmpd/other-boot.bin; boot "$KERNEL_EVENT=$other_digest"; }
# The running system of this boot: disk-t opened with a release, then the handover.
running() { [ -e "$SKR_GATE_LOG" ] || gate_attested disk-t; }
R() { running && "$SKRCTL" reseal --eventlog "$cur_log" --tcti "$TCTI" --timeout 20 "$@"; }
C() { running && "$SKRCTL" reseal --tcti "$TCTI" --timeout 20 "$@"; }
# unlock [ARGS]: skr-unlock as the initramfs runs it, checking the keyslot (no mapping).
unlock() { SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline "$BUILD/skr-unlock" --device "$img" \
	--name root --test-passphrase --no-prompt --tcti "$TCTI" --timeout 20 "$@" </dev/null; }
: > "$tmpd/cmdline"
# sets: the key's reference sets as "id:state:label" lines; state_of LABEL.
sets() { refsets disk-t; }
state_of() { sets | awk -F: -v l="$1" '$3 == l { print $2 }' | tail -1; }
# skr_token: the header's skr token (JSON, parsed: a failed dump is no token).
skr_token() { cryptsetup luksDump --dump-json-metadata "$img" | python3 -c 'import json, sys
t = [t for t in json.load(sys.stdin)["tokens"].values() if t["type"] == "skr"]
assert len(t) == 1, t
print(json.dumps(t[0]))'; }


# --- Each mode's TPM and broker ---------------------------------------------------------
# setup_MODE: provisions a new swtpm ($md/tpm, started) and configures the
# broker in $bdir (not started); is_MODE: the TPM's NV indices ($nv) are that
# mode's; pin_MODE FILE: FILE's policy (a key's JSON) pins this VM as enroll
# does in that mode.
setup_tpm() {
	ek_provision "$md/tpm" "$md/ca" || { echo "FAIL $M-ek-provision: $(tail -3 "$md/ca/setup.log")"; return 1; }
	ek_broker_config "$bdir" "$md/ca/swtpm-localca-rootca-cert.pem" "$md/ca/issuercert.pem" ||
		{ echo "FAIL $M-broker-config"; return 1; }
	start_vtpm "$md/tpm" || { echo "FAIL $M-swtpm-start"; return 1; }
}
is_tpm() { echo "$nv" | grep -qi "0x1c00002" && ! echo "$nv" | grep -qi "0x14000\|0x1c101d0"; }
# The EK pin is the SHA-256 of the EK certificate's SubjectPublicKeyInfo (NV 0x01C00002).
pin_tpm() {
	TPM2TOOLS_TCTI=$TCTI tpm2_nvread 0x01C00002 -C o -o "$md/ek.der" >/dev/null 2>&1
	_pin=$(openssl x509 -inform DER -in "$md/ek.der" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
	python3 - "$1" "$_pin" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["tee"] == "tpm" and "snp" not in p and "ak_subjects" not in p, p
assert p["ek_spki_sha256"] == [sys.argv[2]] and len(sys.argv[2]) == 64, (p, sys.argv[2])
PY
}
setup_tl() {
	start_vtpm "$md/tpm" || { echo "FAIL $M-swtpm-start"; return 1; }
	mkdir -p "$md/tl" &&
		"$FA" provision-tl --tcti "$TCTI" --out "$md/tl" --ca-dir "$md/ca" >/dev/null || { echo "FAIL $M-provision-tl"; return 1; }
	make_tls "$bdir" && write_broker_config "$bdir" || { echo "FAIL $M-broker-config"; return 1; }
	sed -i "s|\"threads\": 2|\"threads\": 2, \"ak_roots\": \"$md/ca/root.pem\", \"ak_intermediates\": \"$md/ca/intermediate.pem\"|" "$bdir/broker.json"
}
is_tl() { echo "$nv" | grep -qi "0x1c101d0" && ! echo "$nv" | grep -qi "0x14000\|0x1c00002"; }
pin_tl() {
	python3 - "$1" "$SUBJECT" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["tee"] == "azure-tl" and "snp" not in p and "ek_spki_sha256" not in p, p
assert p["ak_subjects"] == [sys.argv[2]], (p, sys.argv[2])
PY
}

# run_mode MODE: the whole flow on a new TPM, broker, disk and client state
# (its body not indented: the checks' here-documents end at column 0).
run_mode() {
M=$1 md=$tmpd/$1
bdir=$md/broker
mkdir -p "$bdir"
export SKR_CONFIG=$md/client.json SKR_LOCAL_DIR=$md/local
"setup_$M" || return 1
start_broker "$bdir" || { echo "FAIL $M-broker-start: $(cat "$bdir/broker.log")"; return 1; }
# Later restarts come back on the same ports: the client configuration names them.
sed -i "s|\"listen\": \"127.0.0.1:0\"|\"listen\": \"127.0.0.1:$rport\"|; s|\"admin_listen\": \"127.0.0.1:0\"|\"admin_listen\": \"127.0.0.1:$aport\"|" "$bdir/broker.json"
nv=$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-nv-index 2>&1)
check nv-indices-of-this-mode 'is_$M' 'echo "$nv"'

# --- Enrollment -----------------------------------------------------------------------
boot_old || { echo "FAIL $M-boot-old"; return 1; }
img=$md/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL $M-luksFormat"; return 1; }
xp enroll 0 'enrolled .*key disk-t' -- "$SKRCTL" enroll "$img" --broker "$RELEASE_URL" \
	--admin "$ADMIN_URL" --ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --key-id disk-t --pcrs 4,7 --weak-binding --timeout 20
enrolled=$(sets | cut -d: -f3)
admin GET /v1/keys/disk-t > "$tmpd/key.json"
check enroll-policy-pins-this-vm 'pin_$M "$tmpd/key.json"' 'cat "$tmpd/key.json"'
# Attested reseal allowed; the rest of the policy (the pin) as enrolled.
admin GET /v1/keys/disk-t >/dev/null
admin PUT /v1/keys/disk-t/policy "$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["policy"]; p["allow_attested_reseal"] = True; print(json.dumps(p))' "$tmpd/admin.out")" >/dev/null
admin GET /v1/keys/disk-t > "$tmpd/key.json"
check policy-allows-attested-reseal-keeps-pin 'pin_$M "$tmpd/key.json" && python3 - "$tmpd/key.json" <<"PY"
import json, sys
assert json.load(open(sys.argv[1]))["policy"]["allow_attested_reseal"] is True
PY' 'cat "$tmpd/key.json"'

# --- Reseal for a kernel upgrade -------------------------------------------------------
xp reseal-submits-predicted-set 0 'submitted: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"
check reseal-broker-holds-next '[ "$(state_of "kernel hello-x64.efi")" = pending ] && [ "$(state_of "$enrolled")" = current ]' 'sets'
"$SKRCTL" predict --eventlog "$log_bin" --kernel "$new_kernel" --pcrs 4,7 --json > "$tmpd/predict.json"
admin GET /v1/keys/disk-t/refsets >/dev/null
check reseal-next-equals-predict 'python3 - "$tmpd/predict.json" "$tmpd/admin.out" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["pcrs"]["sha256"]
s = [x for x in json.load(open(sys.argv[2])) if x["state"] == "pending"][0]["pcrs"]["sha256"]
assert s == {k: p[k] for k in ("4", "7")}, (s, p)
PY' 'cat "$tmpd/admin.out"'
check predicted-boot-opens-by-release 'boot_new && unlock >/dev/null 2>"$tmpd/unlock.err" &&
	grep -q "checked .* with the key from" "$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
check old-boot-still-opens-before-commit 'boot_old && unlock >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
boot_new
xp reseal-commit 0 'matched set [0-9]+, now current; 1 older set\(s\) retired' -- C --commit "$img"
check commit-states '[ "$(state_of "kernel hello-x64.efi")" = current ] && [ "$(state_of "$enrolled")" = retired ]' 'sets'
boot_old
xp old-boot-refused-after-commit 1 'pcr_mismatch' -- unlock
check new-boot-opens-after-commit 'boot_new && unlock >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'

# --- The local offline copy -----------------------------------------------------------
boot_new
xp local-copy-seals 0 'local copy sealed' -- "$SKRCTL" local-copy "$img" --tcti "$TCTI" \
	--key-file "$tmpd/pass" --json
check local-copy-gated-on-pcr15 'skr_token | python3 -c "import base64, json, sys
l = json.load(sys.stdin)[\"local\"]
assert l[\"policies\"]
for p in l[\"policies\"]:
    assert int.from_bytes(base64.b64decode(p)[1:5], \"big\") == (1 << 4) | (1 << 7) | (1 << 15)"' 'skr_token'
stop_broker
boot_new
xp local-only-opens-broker-down 0 'checked .* with the local copy' -- unlock --local-only
check local-only-asks-no-broker '! grep -q "asking https://" "$err"' 'cat "$err"'
boot_new
xp normal-path-opens-from-copy-broker-down 0 'checked .* with the local copy' -- unlock
# The token plugin (libcryptsetup, broker down) tries the copy too.
boot_new
xp plugin-opens-from-copy-broker-down 0 'unsealed from the local copy' -- \
	cryptsetup open --test-passphrase --token-only --token-type skr "$img" -v
# A passphrase open moved PCR 15: the copy stays closed.
boot_new
gate_measure "skr/v1 opened method=passphrase"
xp local-copy-refused-after-passphrase-open 1 'local copy refused: .*\(boot_gate_closed\)' -- unlock --local-only

# Reseal with a local copy: the broker gets the predicted set, the copy a
# policy signed for the predicted PCRs.
start_broker "$bdir" || echo "FAIL $M-broker-restart"
boot_new
xp reseal-signs-local-policy 0 'local copy accepts the predicted PCRs' -- R "$img" --kernel "$other"
check reseal-local-two-policies 'skr_token | python3 -c "import json, sys
assert len(json.load(sys.stdin)[\"local\"][\"policies\"]) == 2"' 'skr_token'
skr_token > "$tmpd/token-before-commit.json"
stop_broker
boot_other
xp predicted-boot-opens-from-copy 0 'checked .* with the local copy' -- unlock --local-only
check current-boot-still-opens-from-copy 'boot_new && unlock --local-only >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
# Commit on the predicted boot: the counter passes the older policy's epoch.
start_broker "$bdir" || echo "FAIL $M-broker-restart-2"
boot_other
xp commit-revokes-older-local-policies 0 'local copy revoked the older policies' -- C --commit "$img"
stop_broker
check committed-boot-opens-from-copy 'boot_other && unlock --local-only >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
boot_new
xp old-boot-no-local-policy 1 'local copy refused: .*\(pcr_mismatch\)' -- unlock --local-only
# The old policy itself, put back in the header (it is public): the TPM's
# counter refuses it.
tid=$(cryptsetup luksDump --dump-json-metadata "$img" | python3 -c 'import json, sys
print([i for i, t in json.load(sys.stdin)["tokens"].items() if t["type"] == "skr"][0])')
cryptsetup token remove --token-id "$tid" "$img" &&
	cryptsetup token import --token-id "$tid" --json-file "$tmpd/token-before-commit.json" "$img" ||
	echo "FAIL $M-old-token-restore"
boot_new
xp old-policy-revoked-by-counter 1 'local copy refused: .*\(local_policy_revoked\)' -- unlock --local-only

# Every boot above ended without TPM2_Shutdown, after the AK's activations:
# none counted as a failed authorisation (the AK is noDA).
check no-da-lockout-after-unclean-boots 'TPM2TOOLS_TCTI=$TCTI tpm2_getcap properties-variable |
	grep -qx "TPM2_PT_LOCKOUT_COUNTER: 0x0"' \
	'TPM2TOOLS_TCTI=$TCTI tpm2_getcap properties-variable | grep -A1 LOCKOUT'
}

for m in tpm tl; do
	run_mode "$m" || fails=$((fails + 1))
	stop_broker
	stop_vtpm
done

[ "$fails" -eq 0 ]
