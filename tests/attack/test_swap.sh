# Attack: the disk swap (issue 12, item 2).  The host swaps in a disk of its
# own and opens it with its own passphrase in an approved boot state; the
# root it controls then asks the broker for the real key.  The boot gate
# (src/common/gate.h) stops it: every open skr-unlock makes is measured into
# PCR 15, the handover extends PCR 15 for every dm-crypt volume skr-unlock
# did not open, and the broker releases only while PCR 15 is all zero.
#
# Real parts: swtpm (its PCRs, read back with tpm2_pcrread and compared with
# an independent hashlib replay), skr-broker over TLS on loopback, LUKS2
# images in files (--test-passphrase: no device-mapper on the test host).
# The handover's view of /sys is a tree written here (SKR_SYSFS_ROOT stands
# in for sysfs: block/dm-N/dm/{uuid,name}).  A "boot" is a TPM_Init of the
# swtpm and TPM2_Startup(CLEAR) (vtpm_reboot), which reset the PCRs.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
UNLOCK=$BUILD/skr-unlock
cleanup() {
	stop_broker KILL
	stop_vtpm
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { echo "PASS $1"; }
ko() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

export SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline SKR_RUN_DIR=$tmpd/run SKR_GATE_LOG=$tmpd/run/gate.log
: > "$SKR_KMSG"
: > "$SKR_CMDLINE"
start_stack || exit 1
# The client configuration (brokers, CA, TPM: never the header's).
python3 - "$SKR_CONFIG" "$bdir/ca.pem" "$RELEASE_URL" "$TCTI" <<'PY' || ko client-config "cannot write it"
import json, sys
path, ca, url, tcti = sys.argv[1:5]
open(path, "w").write(json.dumps({"brokers": [url], "ca": ca, "tcti": tcti}))
PY

# reboot: a new boot of the same vTPM (PCRs back to their initial values), a clean /run.
reboot() {
	vtpm_reboot || { ko swtpm-reboot "swtpm_ioctl -i failed"; exit 1; }
	rm -rf "$SKR_RUN_DIR"
}

# pcr15_is NAME EVENT...: every bank of PCR 15 equals the replay of the events
# (hashlib, independent of skr), and the gate log holds exactly those events.
pcr15_is() {
	n=$1
	shift
	TPM2TOOLS_TCTI=$TCTI tpm2_pcrread sha1:15+sha256:15+sha384:15+sha512:15 > "$tmpd/pcr.txt" 2>&1
	if msg=$(python3 - "$tmpd/pcr.txt" "$SKR_GATE_LOG" "$@" 2>&1 <<'PY'
import hashlib, re, sys
path, log, events = sys.argv[1], sys.argv[2], sys.argv[3:]
banks, bank = {}, None
for line in open(path):
    m = re.match(r"\s*(sha\d+)\s*:", line)
    if m:
        bank = m.group(1)
        continue
    m = re.match(r"\s*15\s*:\s*0x([0-9A-Fa-f]+)", line)
    if m and bank:
        banks[bank] = m.group(1).lower()
if "sha256" not in banks:
    sys.exit("no sha256 PCR 15 in tpm2_pcrread's output: " + open(path).read()[:300])
for bank, value in banks.items():
    h = getattr(hashlib, bank)
    pcr = bytes(h().digest_size)
    for e in events:
        pcr = h(pcr + h(e.encode()).digest()).digest()
    if pcr.hex() != value:
        sys.exit(f"{bank} PCR 15 is {value}, the replay of {events} gives {pcr.hex()}")
try:
    logged = open(log).read().splitlines()
except FileNotFoundError:
    logged = []
if logged != events:
    sys.exit(f"the gate log holds {logged}, expected {events}")
print(",".join(sorted(banks)))
PY
	); then
		ok "$n ($msg)"
	else
		ko "$n" "$msg"
	fi
}

# The key, bound to PCRs 0, 7, 11, and a volume: slot 0 the owner's
# passphrase, slot 1 the key.
head -c 32 /dev/urandom > "$tmpd/secret.bin"
POLICY='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(base64 -w0 < "$tmpd/secret.bin")\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] || ko admin-create-key "$http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || ko admin-add-refset "$http_status $(cat "$tmpd/admin.out")"

FAST='--pbkdf pbkdf2 --pbkdf-force-iterations 1000'
PASS='owner passphrase'
printf '%s' "$PASS" > "$tmpd/pass"
# token_json: the disk's skr token (src/luks/token.h).
token_json() {
	python3 - "$bdir/ca.pem" "$RELEASE_URL" "$TCTI" <<'PY'
import json, sys
ca, url, tcti = sys.argv[1:4]
print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 2, "key_id": "disk-1",
                  "pcrs": [0, 7, 11], "timeout": 5}))
PY
}
img=$tmpd/disk.img
truncate -s 32M "$img"
if cryptsetup luksFormat --type luks2 --batch-mode $FAST "$img" "$tmpd/pass" >/dev/null 2>&1 &&
	cryptsetup luksAddKey --batch-mode $FAST --key-file "$tmpd/pass" --key-slot 1 "$img" "$tmpd/secret.bin" >/dev/null 2>&1 &&
	token_json > "$tmpd/token.json" &&
	cryptsetup token import "$img" --json-file "$tmpd/token.json" --token-id 0 >/dev/null 2>&1; then
	ok luks-image
else
	ko luks-image "cryptsetup failed"; exit 1
fi

unlock() { setsid -w "$UNLOCK" --device "$img" "$@" </dev/null; }

# 1. The real volume, opened by the release: PCR 15 records exactly that.
expect gate-release-opens 0 'checked .* with the key from' -- unlock --test-passphrase
pcr15_is gate-release-measured "skr/v1 opened key=disk-1 method=attestation"

# 2. Same boot, a second release (the swapped-in root asking again): refused
#    by the broker because PCR 15 has moved.
expect gate-second-release-refused 1 'boot_gate_closed' -- unlock --test-passphrase --no-prompt
pcr15_is gate-refusal-extends-nothing "skr/v1 opened key=disk-1 method=attestation"

# 3. A new boot; the attacker's volume is opened by a typed passphrase (a key
#    file here): measured; then any release on this boot is refused.
reboot
pcr15_is gate-initial-after-reboot
echo 'rd.skr=0' > "$SKR_CMDLINE"	# no release: straight to the passphrase
expect gate-passphrase-opens 0 'checked .* keyslot 0' -- unlock --test-passphrase --key-file "$tmpd/pass" --tcti "$TCTI"
: > "$SKR_CMDLINE"
pcr15_is gate-passphrase-measured "skr/v1 opened method=passphrase"
expect gate-release-after-passphrase-refused 1 'boot_gate_closed' -- unlock --test-passphrase --no-prompt
grep -q 'boot_gate_closed' "$bdir/broker.log" 2>/dev/null || grep -q 'boot_gate_closed' "$err" &&
	ok gate-refusal-names-reason || ko gate-refusal-names-reason "no boot_gate_closed in the broker log or stderr"

# 4. The measure cannot be made (TPM unreachable): the open is not kept.
reboot
echo 'rd.skr=0' > "$SKR_CMDLINE"
expect gate-unmeasured-open-refused 1 'could not be measured into PCR 15' -- \
	unlock --test-passphrase --key-file "$tmpd/pass" --tcti "swtpm:host=127.0.0.1,port=1"
: > "$SKR_CMDLINE"
pcr15_is gate-unmeasured-leaves-nothing

# 5. The handover: dm-0 is skr-unlock's own open (recorded with its dm uuid),
#    dm-1 a dm-crypt volume nobody recorded, dm-2 not dm-crypt, dm-3 a
#    dm-crypt volume whose record names another dm uuid (same name), dm-4
#    a hostile uuid (spaces, a slash, an escape) that is sanitised.
sys=$tmpd/sys
mkdev() {
	mkdir -p "$sys/block/$1/dm"
	printf '%s\n' "$2" > "$sys/block/$1/dm/uuid"
	printf '%s\n' "$3" > "$sys/block/$1/dm/name"
}
U0=CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root
U1=CRYPT-LUKS2-fedcba9876543210fedcba9876543210-evil
U3=CRYPT-LUKS2-00000000000000000000000000000003-data
mkdev dm-0 "$U0" root
mkdev dm-1 "$U1" evil
mkdev dm-2 LVM-abcdefABCDEF vg-lv
mkdev dm-3 "$U3" data
mkdev dm-4 "$(printf 'CRYPT-PLAIN-a b/c\033[2J')" weird
mkdir -p "$sys/block/loop0"
reboot
mkdir -p "$SKR_RUN_DIR"
printf 'method=attestation\ndm_uuid=%s\nkey_id=disk-1\n' "$U0" > "$SKR_RUN_DIR/root.unlocked"
printf 'method=attestation\ndm_uuid=%s\nkey_id=disk-1\n' "CRYPT-LUKS2-11111111111111111111111111111111-data" \
	> "$SKR_RUN_DIR/data.unlocked"
export SKR_SYSFS_ROOT=$sys
expect handover-runs 0 'PCR 15: skr/v1 handover' -- "$UNLOCK" --handover --tcti "$TCTI"
pcr15_is handover-events "skr/v1 opened-other uuid=$U1" "skr/v1 opened-other uuid=$U3" \
	"skr/v1 opened-other uuid=CRYPT-PLAIN-a_b_c__2J" "skr/v1 handover"
expect handover-once 0 'already done' -- "$UNLOCK" --handover --tcti "$TCTI"
pcr15_is handover-second-run-extends-nothing "skr/v1 opened-other uuid=$U1" "skr/v1 opened-other uuid=$U3" \
	"skr/v1 opened-other uuid=CRYPT-PLAIN-a_b_c__2J" "skr/v1 handover"
expect release-after-handover-refused 1 'boot_gate_closed' -- unlock --test-passphrase --no-prompt

# Only skr-unlock's own, recorded open: the handover adds "handover" alone,
# the log the broker accepts for reseal and commit.
reboot
rm -rf "$sys/block/dm-1" "$sys/block/dm-3" "$sys/block/dm-4"
expect gate-release-opens-2 0 'checked' -- unlock --test-passphrase
mkdir -p "$SKR_RUN_DIR"
printf 'method=attestation\ndm_uuid=%s\nkey_id=disk-1\n' "$U0" > "$SKR_RUN_DIR/root.unlocked"
expect handover-own-volume 0 'PCR 15: skr/v1 handover' -- "$UNLOCK" --handover --tcti "$TCTI"
pcr15_is handover-own-volume-events "skr/v1 opened key=disk-1 method=attestation" "skr/v1 handover"

# The TPM is gone at the handover: reported, exit 1, no marker (a later run
# can still close the gate), and the boot is not blocked by it (the scripts
# ignore the status).
rm -rf "$SKR_RUN_DIR"
expect handover-tpm-absent 1 'TPM is not available, PCR 15 NOT extended' -- \
	"$UNLOCK" --handover --tcti "swtpm:host=127.0.0.1,port=1"
[ ! -e "$SKR_RUN_DIR/handover.done" ] && ok handover-tpm-absent-no-marker ||
	ko handover-tpm-absent-no-marker "the marker was written"
expect handover-usage 2 'usage' -- "$UNLOCK" --handover --device "$img"

# No readable sysfs: the handover cannot tell what is open, so it counts one
# unnamed volume rather than none.
reboot
SKR_SYSFS_ROOT=$tmpd/nonexistent expect handover-unlisted 0 'counting an unnamed volume' -- \
	"$UNLOCK" --handover --tcti "$TCTI"
pcr15_is handover-unlisted-events "skr/v1 opened-other uuid=CRYPT-unlisted" "skr/v1 handover"
[ "$fails" -eq 0 ]
