# Reseal and the local offline copy in generic TPM mode (tee "tpm", issue 15),
# all real parts on loopback: a swtpm whose EK certificate swtpm_setup
# --create-ek-cert wrote (signed by a local swtpm_localca CA; none of Azure's
# NV indices, so the client takes tee "tpm"), skr-broker over TLS with that
# CA's root as its only "ek_roots", LUKS2 in a file (keyslot checks only,
# --test-passphrase: no device-mapper).
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

# check NAME CONDITION [WHY]: WHY, a command run only on failure, says what was seen.
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1${3:+: $(eval "$3" 2>&1 | head -c 600)}"; fails=$((fails + 1)); fi; }

# --- The TPM and the broker ----------------------------------------------------------
ca=$tmpd/ca bdir=$tmpd/broker
mkdir -p "$bdir"
ek_provision "$tmpd/tpm" "$ca" || { echo "FAIL ek-provision: $(tail -3 "$ca/setup.log")"; exit 1; }
ek_broker_config "$bdir" "$ca/swtpm-localca-rootca-cert.pem" "$ca/issuercert.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }
# Later restarts come back on the same ports: the client configuration names them.
sed -i "s|\"listen\": \"127.0.0.1:0\"|\"listen\": \"127.0.0.1:$rport\"|; s|\"admin_listen\": \"127.0.0.1:0\"|\"admin_listen\": \"127.0.0.1:$aport\"|" "$bdir/broker.json"
start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-start"; exit 1; }
nv=$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-nv-index 2>&1)
check tpm-has-ek-cert-no-azure-nv 'echo "$nv" | grep -qi "0x1c00002" && ! echo "$nv" | grep -qi "0x14000"' 'echo "$nv"'

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

# --- Enrollment in tpm mode ---------------------------------------------------------
boot_old || { echo "FAIL boot-old"; exit 1; }
img=$tmpd/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }
expect enroll-tpm-mode 0 'enrolled .*key disk-t' -- "$SKRCTL" enroll "$img" --broker "$RELEASE_URL" \
	--admin "$ADMIN_URL" --ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --key-id disk-t --pcrs 4,7 --weak-binding --timeout 20
enrolled=$(sets | cut -d: -f3)
# The EK pin is the SHA-256 of the EK certificate's SubjectPublicKeyInfo (NV 0x01C00002).
TPM2TOOLS_TCTI=$TCTI tpm2_nvread 0x01C00002 -C o -o "$tmpd/ek.der" >/dev/null 2>&1
pin=$(openssl x509 -inform DER -in "$tmpd/ek.der" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
admin GET /v1/keys/disk-t > "$tmpd/key.json"
check enroll-policy-tee-tpm-with-ek-pin 'python3 - "$tmpd/key.json" "$pin" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["tee"] == "tpm" and "snp" not in p and "ak_subjects" not in p, p
assert p["ek_spki_sha256"] == [sys.argv[2]] and len(sys.argv[2]) == 64, (p, sys.argv[2])
PY' 'cat "$tmpd/key.json"'
# Attested reseal allowed; the rest of the policy (the pin) as enrolled.
admin GET /v1/keys/disk-t >/dev/null
admin PUT /v1/keys/disk-t/policy "$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["policy"]; p["allow_attested_reseal"] = True; print(json.dumps(p))' "$tmpd/admin.out")" >/dev/null
admin GET /v1/keys/disk-t > "$tmpd/key.json"
check policy-allows-attested-reseal-keeps-pin 'python3 - "$tmpd/key.json" "$pin" <<"PY"
import json, sys
p = json.load(open(sys.argv[1]))["policy"]
assert p["allow_attested_reseal"] is True and p["ek_spki_sha256"] == [sys.argv[2]], p
PY' 'cat "$tmpd/key.json"'

# --- Reseal for a kernel upgrade -------------------------------------------------------
expect reseal-submits-predicted-set 0 'submitted: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"
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
expect reseal-commit 0 'matched set [0-9]+, now current; 1 older set\(s\) retired' -- C --commit "$img"
check commit-states '[ "$(state_of "kernel hello-x64.efi")" = current ] && [ "$(state_of "$enrolled")" = retired ]' 'sets'
boot_old
expect old-boot-refused-after-commit 1 'pcr_mismatch' -- unlock
check new-boot-opens-after-commit 'boot_new && unlock >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'

# --- The local offline copy -----------------------------------------------------------
export SKR_LOCAL_DIR=$tmpd/local
boot_new
expect local-copy-seals 0 'local copy sealed' -- "$SKRCTL" local-copy "$img" --tcti "$TCTI" \
	--key-file "$tmpd/pass" --json
check local-copy-gated-on-pcr15 'skr_token | python3 -c "import base64, json, sys
l = json.load(sys.stdin)[\"local\"]
assert l[\"policies\"]
for p in l[\"policies\"]:
    assert int.from_bytes(base64.b64decode(p)[1:5], \"big\") == (1 << 4) | (1 << 7) | (1 << 15)"' 'skr_token'
stop_broker
boot_new
expect local-only-opens-broker-down 0 'checked .* with the local copy' -- unlock --local-only
check local-only-asks-no-broker '! grep -q "asking https://" "$err"' 'cat "$err"'
boot_new
expect normal-path-opens-from-copy-broker-down 0 'checked .* with the local copy' -- unlock
# The token plugin (libcryptsetup, broker down) tries the copy too.
boot_new
expect plugin-opens-from-copy-broker-down 0 'unsealed from the local copy' -- \
	cryptsetup open --test-passphrase --token-only --token-type skr "$img" -v
# A passphrase open moved PCR 15: the copy stays closed.
boot_new
gate_measure "skr/v1 opened method=passphrase"
expect local-copy-refused-after-passphrase-open 1 'local copy refused: .*\(boot_gate_closed\)' -- unlock --local-only

# Reseal with a local copy: the broker gets the predicted set, the copy a
# policy signed for the predicted PCRs.
start_broker "$bdir" || echo "FAIL broker-restart"
boot_new
expect reseal-signs-local-policy 0 'local copy accepts the predicted PCRs' -- R "$img" --kernel "$other"
check reseal-local-two-policies 'skr_token | python3 -c "import json, sys
assert len(json.load(sys.stdin)[\"local\"][\"policies\"]) == 2"' 'skr_token'
skr_token > "$tmpd/token-before-commit.json"
stop_broker
boot_other
expect predicted-boot-opens-from-copy 0 'checked .* with the local copy' -- unlock --local-only
check current-boot-still-opens-from-copy 'boot_new && unlock --local-only >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
# Commit on the predicted boot: the counter passes the older policy's epoch.
start_broker "$bdir" || echo "FAIL broker-restart-2"
boot_other
expect commit-revokes-older-local-policies 0 'local copy revoked the older policies' -- C --commit "$img"
stop_broker
check committed-boot-opens-from-copy 'boot_other && unlock --local-only >/dev/null 2>"$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
boot_new
expect old-boot-no-local-policy 1 'local copy refused: .*\(pcr_mismatch\)' -- unlock --local-only
# The old policy itself, put back in the header (it is public): the TPM's
# counter refuses it.
tid=$(cryptsetup luksDump --dump-json-metadata "$img" | python3 -c 'import json, sys
print([i for i, t in json.load(sys.stdin)["tokens"].items() if t["type"] == "skr"][0])')
cryptsetup token remove --token-id "$tid" "$img" &&
	cryptsetup token import --token-id "$tid" --json-file "$tmpd/token-before-commit.json" "$img" ||
	echo "FAIL old-token-restore"
boot_new
expect old-policy-revoked-by-counter 1 'local copy refused: .*\(local_policy_revoked\)' -- unlock --local-only

# Every boot above ended without TPM2_Shutdown, after the AK's activations:
# none counted as a failed authorisation (the AK is noDA).
check no-da-lockout-after-unclean-boots 'TPM2TOOLS_TCTI=$TCTI tpm2_getcap properties-variable |
	grep -qx "TPM2_PT_LOCKOUT_COUNTER: 0x0"' \
	'TPM2TOOLS_TCTI=$TCTI tpm2_getcap properties-variable | grep -A1 LOCKOUT'

[ "$fails" -eq 0 ]
