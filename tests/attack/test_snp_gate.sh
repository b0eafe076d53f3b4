# The boot gate of bare SEV-SNP (tee "snp", no vTPM; src/luks/disk_tag.h),
# with the real skr-unlock, the token plugin loaded by cryptsetup, a real
# broker on loopback, LUKS2 images in files and the configfs-tsm stand-in
# (skr-fake-tsm) as the only SNP part.
#
# The attack: the host swaps in a disk of its own, with the enrolled disk's
# LUKS UUID and skr token copied into its header and a passphrase it knows.
# With no register to extend, a root it gets opened could ask for a report
# and be given the real disk's key.  So a passphrase open must show, by its
# volume key's tag on the (measured) kernel command line, that it is the
# enrolled volume, and the handover stops the boot for any volume that was
# not shown to be.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
cleanup() {
	drop_plugin
	stop_fake_tsm
	stop_broker KILL
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

UNLOCK=$BUILD/skr-unlock
t=$tmpd/tsm bdir=$tmpd/broker
mkdir -p "$t" "$bdir"
export SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline
: > "$SKR_KMSG"
start_fake_tsm "$t" || { echo "FAIL fake-tsm-start"; exit 1; }
own_plugin
make_tls "$bdir" && write_broker_config "$bdir" "$t/trust.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

# The enrolled disk A: slot 0 the owner's passphrase, slot 1 the skr secret.
head -c 32 /dev/urandom > "$tmpd/secret.bin"
POLICY="{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"$(cat "$t/measurement")\"]}}"
admin POST /v1/keys "{\"key_id\": \"snp-disk\", \"secret\": \"$(base64 -w0 < "$tmpd/secret.bin")\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] && echo "PASS snp-key-create" || echo "FAIL snp-key-create: $http_status $(cat "$tmpd/admin.out")"
printf '%s' 'owner passphrase' > "$tmpd/owner"
printf '%s' 'host passphrase' > "$tmpd/evil"
FAST='--pbkdf pbkdf2 --pbkdf-force-iterations 1000'
A=$tmpd/a.img B=$tmpd/b.img
truncate -s 32M "$A" "$B"
python3 -c 'import json; print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 2, "key_id": "snp-disk", "timeout": 10}))' \
	> "$tmpd/token.json"
if cryptsetup luksFormat --type luks2 --batch-mode $FAST "$A" "$tmpd/owner" &&
	cryptsetup luksAddKey --batch-mode $FAST --key-file "$tmpd/owner" --key-slot 1 "$A" "$tmpd/secret.bin" &&
	cryptsetup token import "$A" --json-file "$tmpd/token.json" --token-id 0; then
	echo "PASS disk-a"
else
	echo "FAIL disk-a"; exit 1
fi
# The host's disk B: A's UUID and token, a volume key and passphrase of the host's own.
UUID_A=$(cryptsetup luksUUID "$A")
if cryptsetup luksFormat --type luks2 --batch-mode $FAST --uuid "$UUID_A" "$B" "$tmpd/evil" &&
	cryptsetup luksAddKey --batch-mode $FAST --key-file "$tmpd/evil" --key-slot 1 "$B" "$tmpd/evil" &&
	cryptsetup token import "$B" --json-file "$tmpd/token.json" --token-id 0; then
	echo "PASS disk-b-forged"
else
	echo "FAIL disk-b-forged"; exit 1
fi

# The tags, computed here from the volume keys cryptsetup dumps (not by skr).
tag_of() {	# IMAGE PASSFILE
	cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$2" "$1" 2>/dev/null |
		python3 -c '
import hashlib, hmac, re, sys
text = sys.stdin.read()
m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s*)+)", text)
vk = bytes.fromhex("".join(m.group(1).split()))
print(hmac.new(vk, b"skr-disk-v1", hashlib.sha256).hexdigest())'
}
TAG_A=$(tag_of "$A" "$tmpd/owner") TAG_B=$(tag_of "$B" "$tmpd/evil")
[ ${#TAG_A} = 64 ] && [ ${#TAG_B} = 64 ] && [ "$TAG_A" != "$TAG_B" ] && echo "PASS tags-computed" ||
	echo "FAIL tags-computed: '$TAG_A' '$TAG_B'"

python3 - "$tmpd/client.json" "$bdir/ca.pem" "$RELEASE_URL" "device:$tmpd/no-tpm" <<'PY'
import json, sys
path, ca, url, tcti = sys.argv[1:5]
open(path, "w").write(json.dumps({"brokers": [url], "ca": ca, "tcti": tcti}))
PY
export SKR_CONFIG=$tmpd/client.json
cmdline() { echo "BOOT_IMAGE=/vmlinuz root=/dev/mapper/root panic=10 $*" > "$SKR_CMDLINE"; }
unlock() {	# IMAGE ARGS...: skr-unlock without a terminal, no TPM
	img=$1
	shift
	setsid -w "$UNLOCK" --device "$img" --test-passphrase --tries 1 "$@" </dev/null
}
knob() { if [ -n "$1" ]; then echo "$1" > "$t/knobs"; else rm -f "$t/knobs"; fi; }

# ---- skr-unlock ----------------------------------------------------------------
# The gate the initramfs scripts ask for (local-top lets skr-unlock prompt on disk-tag).
expect_gate() {	# NAME WANT [env...]
	n=$1 want=$2
	shift 2
	got=$(env "$@" "$UNLOCK" --gate 2>&1)
	[ "$got" = "$want" ] && echo "PASS $n" || echo "FAIL $n: got '$got', wanted '$want'"
}
expect_gate snp-gate-disk-tag disk-tag
expect_gate snp-gate-no-snp-pcr15 pcr15 SKR_TSM_ROOT=$tmpd/nowhere
cmdline "rd.skr.disk=$TAG_A rd.skr.debug"
expect snp-attested-open 0 'checked .*a.img with the key from' -- unlock "$A" --no-prompt
grep -q 'bare SEV-SNP (no vTPM): the disk-tag gate; the command line lists 1 tag' "$err" &&
	echo "PASS snp-gate-mode-said" || echo "FAIL snp-gate-mode-said: $(cat "$err")"
cmdline "rd.skr.disk=$TAG_A"
# The broker refuses (the launch measurement changed): the owner's passphrase,
# whose volume key the command line lists, opens A.
knob measurement_flip
expect snp-passphrase-listed-opens 0 'keyslot 0 \(disk tag on the command line\)' -- \
	unlock "$A" --key-file "$tmpd/owner"
grep -q 'snp_measurement_not_allowed\|measurement' "$err" && echo "PASS snp-refusal-before-passphrase" ||
	echo "FAIL snp-refusal-before-passphrase: $(cat "$err")"
knob ""

# The swapped disk: the real key is released (B carries A's token), opens
# nothing on B; then the host's passphrase opens B's keyslot, and B stays closed.
expect snp-swapped-disk-refused 1 "SECURITY: keyslot 0 opens .*b.img, but its volume key \(disk tag $TAG_B\) is not one the kernel command line lists" -- \
	unlock "$B" --key-file "$tmpd/evil"
grep -q 'the released key does not open' "$err" && echo "PASS snp-swapped-disk-key-does-not-open" ||
	echo "FAIL snp-swapped-disk-key-does-not-open: $(cat "$err")"
grep -q "checked .*b.img" "$err" && echo "FAIL snp-swapped-disk-not-opened: $(cat "$err")" ||
	echo "PASS snp-swapped-disk-not-opened"

# The owner's passphrase with no tag, a malformed list, or another disk's tag
# (rd.skr=0: straight to the passphrase; it does not lift the gate).
cmdline "rd.skr=0"
expect snp-no-tag-refused 1 'rd.skr.disk=: none' -- unlock "$A" --key-file "$tmpd/owner"
cmdline "rd.skr=0 rd.skr.disk=$TAG_A,"
expect snp-malformed-tags-refused 1 'rd.skr.disk=: malformed' -- unlock "$A" --key-file "$tmpd/owner"
cmdline "rd.skr=0 rd.skr.disk=$TAG_B"
expect snp-other-tag-refused 1 'rd.skr.disk=: other tags' -- unlock "$A" --key-file "$tmpd/owner"
# A wrong passphrase is just wrong: no SECURITY line.
cmdline "rd.skr=0 rd.skr.disk=$TAG_A"
printf 'nope' > "$tmpd/wrong"
expect snp-wrong-passphrase 1 'does not open' -- unlock "$A" --key-file "$tmpd/wrong"
grep -q SECURITY "$err" && echo "FAIL snp-wrong-passphrase-no-security-line" || echo "PASS snp-wrong-passphrase-no-security-line"
# Two tags listed: either disk's volume key is accepted (one measured command line for two volumes).
cmdline "rd.skr=0 rd.skr.disk=$TAG_B,$TAG_A"
expect snp-two-tags-listed 0 'disk tag on the command line' -- unlock "$A" --key-file "$tmpd/owner"
# The stand-in gone (no configfs-tsm): not bare SNP; with no TPM either, the
# open cannot be measured and is refused as before (fail closed).
cmdline ""
SKR_TSM_ROOT=$tmpd/nowhere expect snp-absent-old-rule 1 'could not be measured into PCR 15' -- \
	unlock "$A" --key-file "$tmpd/owner"

# ---- the configuration's "gate": "disk-tag" ------------------------------------
# A boot that does not detect SNP (the initramfs did not load sev-guest or
# mount configfs) keeps the disk-tag gate all the same: with no TPM, the
# PCR 15 rules would report and boot on.
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["gate"]="disk-tag"; open(sys.argv[2],"w").write(json.dumps(c))' \
	"$SKR_CONFIG" "$tmpd/gate.json"
expect_gate snp-config-gate-without-snp disk-tag SKR_TSM_ROOT=$tmpd/nowhere SKR_CONFIG=$tmpd/gate.json
cmdline "rd.skr=0"
SKR_TSM_ROOT=$tmpd/nowhere SKR_CONFIG=$tmpd/gate.json expect snp-config-gate-passphrase-needs-tag 1 \
	'SECURITY: keyslot 0 opens .*a.img, but its volume key' -- unlock "$A" --key-file "$tmpd/owner"
cmdline "rd.skr=0 rd.skr.disk=$TAG_A"
SKR_TSM_ROOT=$tmpd/nowhere SKR_CONFIG=$tmpd/gate.json expect snp-config-gate-passphrase-tag-opens 0 \
	'disk tag on the command line' -- unlock "$A" --key-file "$tmpd/owner"
cmdline "rd.skr.disk=$TAG_A"

# ---- reseal: nothing to predict, said so (the kernel hooks print it in a banner) ----
printf 'kernel' > "$tmpd/vmlinuz"
printf 'initrd' > "$tmpd/initrd"
expect snp-reseal-says-nothing-to-reseal 1 'bare SEV-SNP \(no vTPM\) has nothing to reseal' -- \
	"$SKRCTL" reseal "$A" --kernel "$tmpd/vmlinuz" --initrd "$tmpd/initrd"
grep -q predict_unsupported "$err" "$out" && echo "PASS snp-reseal-reason" || echo "FAIL snp-reseal-reason: $(cat "$err")"
expect snp-reseal-commit-same 1 'nothing to reseal' -- "$SKRCTL" reseal --commit "$A"

# ---- the token plugin ---------------------------------------------------------
if [ -n "$installed_plugin" ]; then
	expect snp-plugin-opens 0 -- cryptsetup open --test-passphrase --token-only --token-type skr "$A"
	expect snp-plugin-swapped-disk 2 -- cryptsetup open --test-passphrase --token-only --token-type skr "$B"
	knob measurement_flip
	expect snp-plugin-refused 1 -- cryptsetup open --test-passphrase --token-only --token-type skr "$A"
	knob ""
else
	echo "FAIL snp-plugin: the token plugin directory is not writable"
fi

# ---- the handover ---------------------------------------------------------------
# SKR_SYSFS_ROOT stands in for sysfs (block/dm-N/dm/{uuid,name}); records as
# skr-unlock writes them (RUN_DIR/NAME.unlocked).
sys=$tmpd/sys
export SKR_SYSFS_ROOT=$sys
mkdev() {
	mkdir -p "$sys/block/$1/dm"
	printf '%s\n' "$2" > "$sys/block/$1/dm/uuid"
	printf '%s\n' "$3" > "$sys/block/$1/dm/name"
}
U0=CRYPT-LUKS2-$(echo "$UUID_A" | tr -d -)-root
U1=CRYPT-LUKS2-fedcba9876543210fedcba9876543210-data
handover() { rm -f "$SKR_RUN_DIR/handover.done"; "$UNLOCK" --handover --tcti "device:$tmpd/no-tpm"; }
rm -rf "$sys" "$SKR_RUN_DIR"
mkdir -p "$sys/block/loop0" "$SKR_RUN_DIR"
expect snp-handover-nothing-open 0 'every open volume \(0\) was shown' -- handover
mkdev dm-0 "$U0" root
printf 'method=attestation\ndm_uuid=%s\nkey_id=snp-disk\ngate=snp\n' "$U0" > "$SKR_RUN_DIR/root.unlocked"
expect snp-handover-own-open 0 'every open volume \(1\) was shown' -- handover
[ -e "$SKR_RUN_DIR/handover.done" ] && echo "PASS snp-handover-marker" || echo "FAIL snp-handover-marker"
# A volume something else opened (cryptroot's or systemd-cryptsetup's prompt).
mkdev dm-1 "$U1" data
expect snp-handover-other-refused 3 'SECURITY: data \(CRYPT-LUKS2-fedcba.*\) was not opened by skr-unlock' -- handover
[ -e "$SKR_RUN_DIR/handover.done" ] && echo "FAIL snp-handover-refused-no-marker" || echo "PASS snp-handover-refused-no-marker"
rm -rf "$sys/block/dm-1"
# A record without the gate line (a TPM-mode open, measured, not shown enrolled).
printf 'method=passphrase\ndm_uuid=%s\n' "$U0" > "$SKR_RUN_DIR/root.unlocked"
expect snp-handover-record-without-gate-refused 3 'SECURITY: root' -- handover
# A record for another dm uuid under the same name.
printf 'method=passphrase\ndm_uuid=%s\ngate=snp\n' "$U1" > "$SKR_RUN_DIR/root.unlocked"
expect snp-handover-record-other-uuid-refused 3 'SECURITY: root' -- handover
# sysfs that cannot be listed: an unnamed volume, refused.
printf 'method=attestation\ndm_uuid=%s\nkey_id=snp-disk\ngate=snp\n' "$U0" > "$SKR_RUN_DIR/root.unlocked"
SKR_SYSFS_ROOT=$tmpd/nosys expect snp-handover-unlisted-refused 3 'CRYPT-unlisted' -- handover
# Not bare SNP (no configfs-tsm): the TPM rule, which only reports (exit 1) ...
SKR_TSM_ROOT=$tmpd/nowhere expect snp-handover-absent-old-rule 1 'TPM is not available' -- handover
# ... unless the configuration says "gate": "disk-tag".
mkdev dm-1 "$U1" data
SKR_TSM_ROOT=$tmpd/nowhere SKR_CONFIG=$tmpd/gate.json expect snp-handover-config-gate-refuses 3 \
	'SECURITY: data' -- handover
rm -rf "$sys/block/dm-1"
SKR_TSM_ROOT=$tmpd/nowhere SKR_CONFIG=$tmpd/gate.json expect snp-handover-config-gate-own-open 0 \
	'every open volume \(1\) was shown' -- handover

# The secret never reached a log or an output.
HEX=$(od -An -tx1 < "$tmpd/secret.bin" | tr -d ' \n')
B64=$(base64 -w0 < "$tmpd/secret.bin")
if grep -rqF -e "$HEX" -e "$B64" "$SKR_KMSG" "$bdir/broker.log" "$out" "$err" 2>/dev/null; then
	echo "FAIL snp-secret-not-logged"
else
	echo "PASS snp-secret-not-logged"
fi
exit 0
