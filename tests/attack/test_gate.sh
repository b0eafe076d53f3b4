# The boot gate (PCR 15, src/common/gate.h) against a host that swaps disks and
# types passphrases: swtpm as the fake Azure vTPM, skr-broker over TLS on
# loopback, skrctl release/reseal, a real LUKS2 image.  PCR 15 is extended
# with tpm2_pcrevent exactly as skr-unlock and its handover do (TPM2_PCR_Event),
# and the gate log is written (or forged) as the attacker pleases.
#   (a) a volume was opened in this boot: no release (boot_gate_closed);
#   (b) from such a boot, reseal submit is queued and supersedes nothing,
#       commit and withdraw are refused (boot_gate_unexpected);
#   (c) a forged gate log (it claims the attested open, PCR 15 says otherwise)
#       and a log that hides an extension are refused;
#   (d) the key's own attested open and the handover: commit accepted,
#       submit pending.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

here=$(dirname "$0")/../cli
log_bin="$VECTORS/eventlog/arch-linux.bin"
new_kernel="$VECTORS/pe/hello-x64.efi"
KEY=disk-g
EV_OPEN="skr/v1 opened key=$KEY method=attestation"
EV_PASS="skr/v1 opened method=passphrase"
EV_HANDOVER="skr/v1 handover"
export SKR_GATE_LOG=$tmpd/run/skr/gate.log

start_stack || exit 1
"$SKRCTL" eventlog show "$log_bin" --json > "$tmpd/events.json" || { echo "FAIL eventlog-show"; exit 1; }
# A look-alike of the next kernel: same file name (so the same reseal label), another digest.
mkdir -p "$tmpd/evil" "$tmpd/run/skr"
cp "$new_kernel" "$tmpd/evil/hello-x64.efi"
printf '\377' | dd of="$tmpd/evil/hello-x64.efi" bs=1 seek=$(($(stat -c %s "$new_kernel") - 1)) \
	conv=notrunc status=none

check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

# boot: power-cycle the vTPM, replay the firmware log into PCRs 4 and 7; PCR 15
# is zero and the gate log empty, as in the initramfs before any open.
boot() {
	stop_vtpm
	rm -f "$SKR_GATE_LOG"
	start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-restart"; return 1; }
	python3 "$here/replay_pcrs.py" "$tmpd/events.json" 4,7 "$TCTI" >/dev/null
}
sets() {
	admin GET "/v1/keys/$KEY/refsets" >/dev/null
	python3 -c 'import json, sys
for s in json.load(open(sys.argv[1])): print("%s:%s:%s" % (s["id"], s["state"], s["label"]))' "$tmpd/admin.out"
}
state_of_id() { sets | awk -F: -v i="$1" '$1 == i { print $2 }'; }
count() { sets | grep -c ":$1:"; }
REL() { "$SKRCTL" release --key-id "$KEY" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
	--tcti "$TCTI" --timeout 20 --out "$tmpd/secret"; }
R() { "$SKRCTL" reseal --eventlog "$log_bin" --tcti "$TCTI" --timeout 20 "$@"; }
C() { "$SKRCTL" reseal --tcti "$TCTI" --timeout 20 "$@"; }
pcr15() { TPM2TOOLS_TCTI=$TCTI tpm2_pcrread sha256:15 2>/dev/null | sed -n 's/.*15 *: *0x//p'; }
# pcrevent EVENT: extends PCR 15 without logging it (a hidden or forged history).
pcrevent() { printf '%s' "$1" > "$tmpd/ev" && TPM2TOOLS_TCTI=$TCTI tpm2_pcrevent "$tmpd/ev" 15 >/dev/null; }

# --- Enrollment, from the initramfs state of an approved boot ----------------------
boot || exit 1
img=$tmpd/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }
expect enroll 0 'enrolled' -- "$SKRCTL" enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" \
	--ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --key-id "$KEY" --pcrs 4,7 --weak-binding --timeout 20
admin GET "/v1/keys/$KEY" >/dev/null
p=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["policy"]; p["allow_attested_reseal"] = True; print(json.dumps(p))' "$tmpd/admin.out")
admin PUT "/v1/keys/$KEY/policy" "$p" >/dev/null
check allow-attested-reseal '[ "$http_status" = 200 ]'
expect release-before-any-open 0 'released' -- REL

# --- (d) the good path: the key's volume opened by a release, then the handover ----
gate_attested "$KEY" || echo "FAIL gate-measure"
expect good-submit-pending 0 'submitted: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"
pending_id=$(sets | awk -F: '$2 == "pending" { print $1 }')
check good-one-pending '[ -n "$pending_id" ] && [ "$(count pending)" = 1 ]'
expect good-commit 0 'this boot matched set [0-9]+, now current' -- C --commit "$img"
expect good-check-gate-open 0 'will unlock' -- R "$img" --kernel "$new_kernel" --check --json
check good-check-json 'python3 -c "import json,sys; b=json.load(open(sys.argv[1]))[\"tokens\"][0][\"broker\"]; assert b[\"gate\"]==\"open\" and b[\"submission_would_be\"]==\"pending\", b" "$out"'
# From the running system, a release is refused: the gate is closed once anything opened.
rm -f "$tmpd/secret"
expect running-system-release-refused 1 'boot_gate_closed.*PCR 15 \(the boot gate\) is not in its initial state' -- REL
check refused-writes-nothing '[ ! -e "$tmpd/secret" ]'

# --- (a) the host swaps the disk and types that disk's passphrase ------------------
boot || exit 1
gate_measure "$EV_PASS" "$EV_HANDOVER" || echo "FAIL gate-measure"
rm -f "$tmpd/secret"
expect passphrase-boot-release-refused 1 'boot_gate_closed' -- REL
check passphrase-boot-no-secret '[ ! -e "$tmpd/secret" ]'
# Still in the initramfs, a second release after the key's own open (the attacker's
# disk unlocked by skr, then another volume) is refused too.
boot || exit 1
gate_measure "$EV_OPEN" || echo "FAIL gate-measure"
expect second-release-in-initramfs-refused 1 'boot_gate_closed' -- REL
# PCR 15 left out of the quote by a client that edits its request: the broker asks
# for it in the challenge, and refuses a quote without it (test_broker covers the
# request-level variant); here skrctl --pcrs cannot drop it.
boot || exit 1
gate_measure "$EV_PASS" "$EV_HANDOVER" || echo "FAIL gate-measure"
expect pcrs-option-cannot-drop-gate 1 'boot_gate_closed' -- "$SKRCTL" release --key-id "$KEY" \
	--broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --timeout 20 --pcrs 4,7 --out "$tmpd/secret"

# --- (b) from the passphrase boot: queued, supersedes nothing; commit/withdraw refused --
expect passphrase-boot-submit-queued 1 'boot_gate_unexpected.*queued for an operator.*boot gate \(PCR 15\).*passphrase' -- \
	R "$img" --kernel "$tmpd/evil/hello-x64.efi" --json
check queued-supersedes-nothing 'python3 -c "import json,sys; b=json.load(open(sys.argv[1]))[\"tokens\"][0][\"broker\"]; assert b[\"state\"]==\"queued\" and b[\"superseded\"]==0 and b[\"gate\"]==\"closed\", b" "$out"'
check pending-set-survives '[ "$(state_of_id "$pending_id")" = pending ]'
check queued-set-stored '[ "$(count queued)" = 1 ]'
expect passphrase-boot-commit-refused 1 'boot_gate_unexpected: .*disk.img key disk-g: commit refused by the boot gate: .*passphrase.*reboot and let skr unlock it' -- C --commit "$img"
expect passphrase-boot-withdraw-refused 1 'boot_gate_unexpected: .*withdraw refused by the boot gate' -- C --withdraw hello-x64.efi "$img"
check withdraw-removed-nothing '[ "$(state_of_id "$pending_id")" = pending ] && [ "$(count queued)" = 1 ]'
expect passphrase-boot-check-gate-closed 0 'will unlock.*a submission from this boot would be queued: the boot gate' -- R "$img" --kernel "$new_kernel" --check --json
check passphrase-check-json 'python3 -c "import json,sys; b=json.load(open(sys.argv[1]))[\"tokens\"][0][\"broker\"]; assert b[\"gate\"]==\"closed\" and b[\"submission_would_be\"]==\"queued\", b" "$out"'
# No gate log at all (the log removed): the same refusal.
rm -f "$SKR_GATE_LOG"
expect no-log-commit-refused 1 'boot_gate_unexpected.*does not replay' -- C --commit "$img"

# --- (c) forged logs ---------------------------------------------------------------
# The log claims the attested open; PCR 15 was extended by a passphrase open.
boot || exit 1
pcrevent "$EV_PASS" && pcrevent "$EV_HANDOVER" || echo "FAIL pcrevent"
printf '%s\n%s\n' "$EV_OPEN" "$EV_HANDOVER" > "$SKR_GATE_LOG"
expect forged-log-commit-refused 1 'boot_gate_unexpected.*does not replay to the quoted PCR 15' -- C --commit "$img"
expect forged-log-withdraw-refused 1 'boot_gate_unexpected.*does not replay' -- C --withdraw hello-x64.efi "$img"
expect forged-log-submit-queued 1 'queued for an operator.*does not replay' -- R "$img" --kernel "$tmpd/evil/hello-x64.efi"
check forged-pending-survives '[ "$(state_of_id "$pending_id")" = pending ]'
# A truthful start with a hidden extension after it (another volume opened, not logged).
boot || exit 1
gate_attested "$KEY" || echo "FAIL gate-measure"
pcrevent "skr/v1 opened-other uuid=CRYPT-LUKS2-attacker" || echo "FAIL pcrevent"
expect hidden-extension-commit-refused 1 'boot_gate_unexpected.*does not replay' -- C --commit "$img"
# Another volume opened before the handover, honestly logged: not the key's volume alone.
boot || exit 1
gate_measure "$EV_OPEN" "skr/v1 opened-other uuid=CRYPT-LUKS2-attacker" "$EV_HANDOVER" || echo "FAIL gate-measure"
expect other-volume-commit-refused 1 'boot_gate_unexpected.*opened another volume before the handover' -- C --commit "$img"
# The local copy's open is not the attested one.
boot || exit 1
gate_measure "skr/v1 opened key=$KEY method=local" "$EV_HANDOVER" || echo "FAIL gate-measure"
expect local-open-commit-refused 1 'boot_gate_unexpected.*local copy' -- C --commit "$img"
# A malformed log (a line with an escape sequence) is refused by the client itself.
printf '%s\n\033]0;x\007\n' "$EV_OPEN" > "$SKR_GATE_LOG"
expect malformed-log-refused 2 'gate log .* not printable' -- C --commit "$img"

# --- (d) again, after all that: the good path still works ---------------------------
boot || exit 1
expect release-again-before-open 0 'released' -- REL
gate_attested "$KEY" || echo "FAIL gate-measure"
expect good-commit-again 0 'now current' -- C --commit "$img"
expect good-withdraw 0 'withdrawn' -- C --withdraw hello-x64.efi "$img"
expect good-submit-pending-again 0 'submitted: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"

# Every refusal is audited with its reason.
admin GET "/v1/audit?key_id=$KEY&limit=200" >/dev/null
for r in boot_gate_closed boot_gate_unexpected; do
	check "audit-$r" 'grep -q "$r" "$tmpd/admin.out"'
done

[ "$fails" -eq 0 ]
