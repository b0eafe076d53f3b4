# skrctl enroll / status / unenroll on bare SEV-SNP (tee "snp", no vTPM):
# skr-fake-tsm (the configfs-tsm stand-in, tests/helpers/faketsm.h) makes the
# reports, skr-broker trusts its test AMD chain, there is no TPM at all
# (--tcti device:$tmpd/no-tpm), and the kernel command line is a file
# (SKR_CMDLINE).  The boot gate of this mode is the command line's
# rd.skr.disk= tag of the volume and panic= (luks/disk_tag.h): enroll
# refuses, before anything is written, a command line without them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'drop_plugin; stop_fake_tsm; stop_broker KILL; stop_pg; rm -rf "$out" "$err" "$tmpd"' EXIT

own_plugin
t=$tmpd/tsm bdir=$tmpd/broker
mkdir -p "$t" "$bdir"
start_fake_tsm "$t" || { echo "FAIL fake-tsm-start"; exit 1; }
MEAS=$(cat "$t/measurement")

make_tls "$bdir" && write_broker_config "$bdir" "$t/trust.pem" || { echo "FAIL broker-config"; exit 1; }
start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; exit 1; }

export SKR_CONFIG=$tmpd/etc/client.json
export SKR_CMDLINE=$tmpd/cmdline SKR_KMSG=$tmpd/kmsg
NOTPM=device:$tmpd/no-tpm

img=$tmpd/disk.img
printf 'snp-pass-%s' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }

# The volume's tag, computed here on its own: HMAC-SHA256(volume key, "skr-disk-v1").
TAG=$(cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$tmpd/pass" "$img" 2>/dev/null |
	python3 -c 'import hmac, hashlib, re, sys
d = sys.stdin.read()
m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}[ \n\t]*)+)", d)
vk = bytes.fromhex(re.sub(r"\s", "", m.group(1)))
print(hmac.new(vk, b"skr-disk-v1", hashlib.sha256).hexdigest())')
OTHER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TAG" | grep -Eqx '[0-9a-f]{64}' || { echo "FAIL volume-tag: $TAG"; exit 1; }

dump_section() {
	d=$(cryptsetup luksDump "$1" 2>/dev/null) || { echo "luksDump-failed"; return 1; }
	printf '%s\n' "$d" | sed -n "$2"
}
slots() { dump_section "$1" '/^Keyslots:/,/^Tokens:/p' | sed -n 's/^  \([0-9]*\): luks2.*/\1/p;s/^luksDump-failed$/&/p' | tr '\n' ,; }
tokens() { dump_section "$1" '/^Tokens:/,/^Digests:/p' | sed -n 's/^  \([0-9]*\): \(.*\)$/\1:\2/p;s/^luksDump-failed$/&/p' | tr '\n' ,; }
broker_has() { admin GET "/v1/keys/$1" >/dev/null; [ "$http_status" = 200 ]; }
broker_lacks() { admin GET "/v1/keys/$1" >/dev/null; [ "$http_status" = 404 ] && grep -q '"key_unknown"' "$tmpd/admin.out"; }
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
# written_nothing NAME KEY_ID: no token of any kind, the keyslots of the start, no key at the broker.
base_slots=$(slots "$img")
written_nothing() {
	wn_key=$2
	check "$1-no-token" '[ -z "$(tokens "$img")" ]'
	check "$1-keyslots-unchanged" '[ "$(slots "$img")" = "$base_slots" ]'
	check "$1-no-broker-key" 'broker_lacks "$wn_key"'
}
cmdline() { printf '%s\n' "$*" > "$SKR_CMDLINE"; }
# opens IMG KEYFILE [SLOT]: the key file itself opens the keyslot (no token plugin
# may open the volume by an attested release instead).
opens() { cryptsetup open --test-passphrase --disable-external-tokens --key-file "$2" ${3:+--key-slot "$3"} "$1" >/dev/null 2>&1; }
# opens_refused IMG KEYFILE: the header is read and no keyslot takes the key.
opens_refused() {
	cryptsetup open --test-passphrase --disable-external-tokens --key-file "$2" "$1" >/dev/null 2>"$tmpd/opens.err"
	[ $? -eq 2 ] && grep -q 'No key available with this passphrase' "$tmpd/opens.err"
}

ENR="$SKRCTL enroll $img --broker $RELEASE_URL --admin $ADMIN_URL --ca $bdir/ca.pem --admin-token $bdir/admin.token --key-file $tmpd/pass --tcti $NOTPM --timeout 20"

# ---- the gate: refused before anything is written --------------------------
cmdline "BOOT_IMAGE=/vmlinuz root=/dev/mapper/root ro quiet"
expect snp-enroll-no-tag 1 "binding_too_weak: .*lists no rd.skr.disk= tag; add \"rd.skr.disk=$TAG panic=10\"" -- $ENR --key-id snp-a
written_nothing snp-enroll-no-tag snp-a
cmdline "root=/dev/mapper/root rd.skr.disk=$TAG quiet"
expect snp-enroll-no-panic 1 'binding_too_weak: .*no panic= word.*add "panic=10"' -- $ENR --key-id snp-a
written_nothing snp-enroll-no-panic snp-a
cmdline "root=/dev/mapper/root rd.skr.disk=$OTHER panic=10"
expect snp-enroll-other-tag 1 "binding_too_weak: .*does not list this volume's tag.*add \"rd.skr.disk=$TAG\"" -- $ENR --key-id snp-a
written_nothing snp-enroll-other-tag snp-a
cmdline "root=/dev/mapper/root rd.skr.disk=${TAG}zz panic=10"
expect snp-enroll-malformed-tag 1 "binding_too_weak: .*rd.skr.disk= is malformed.*add \"rd.skr.disk=$TAG\"" -- $ENR --key-id snp-a
written_nothing snp-enroll-malformed-tag snp-a

# ---- usage: no PCRs in this mode, and a given policy must be tee snp ------------
cmdline "root=/dev/mapper/root rd.skr.disk=$OTHER,$TAG panic=10 quiet"
expect snp-enroll-pcrs-usage 2 'usage: --pcrs: this VM.s release is bare SEV-SNP' -- $ENR --key-id snp-a --pcrs 4,7,9
echo "{\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [4, 7, 9]}}" > "$tmpd/cvm.json"
expect snp-enroll-policy-cvm 2 'usage: --policy has tee "az-snp-vtpm", but this VM.s release is bare SEV-SNP' -- $ENR --key-id snp-a --policy "$tmpd/cvm.json"
echo "{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"$MEAS\"]}, \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [4, 7, 9]}}" > "$tmpd/snp-pcrs.json"
expect snp-enroll-policy-pcrs 2 'usage: --policy binds "pcrs", but tee "snp" has no vTPM' -- $ENR --key-id snp-a --policy "$tmpd/snp-pcrs.json"
written_nothing snp-enroll-usage snp-a
# A guest that allows debugging gets no key bound to it (its memory is not private).
echo debug > "$t/knobs"
expect snp-enroll-debug-guest 1 'snp_debug_enabled: this VM runs with SNP debugging allowed' -- $ENR --key-id snp-a
rm -f "$t/knobs"
written_nothing snp-enroll-debug-guest snp-a

# ---- enrolled: the tag listed (among others) and panic= -------------------------
expect snp-enroll-ok 0 'enrolled .*key snp-a' -- $ENR --key-id snp-a
check snp-enroll-says-mode 'grep -q "bare SEV-SNP (tee snp, no PCRs)" "$err" && grep -q "disk tag $TAG" "$err" && ! grep -q warning "$err"'
check snp-enroll-token 'tokens "$img" | grep -Eqx "[0-9]+:skr,"'
check snp-config-gate-written 'python3 -c "import json,sys; assert json.load(open(sys.argv[1]))[\"gate\"]==\"disk-tag\"" "$SKR_CONFIG"'
# A configuration without "gate": "disk-tag": refused before anything is
# written (a boot that did not detect SNP would keep the PCR 15 rules).
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); del c["gate"]; open(sys.argv[2],"w").write(json.dumps(c))' \
	"$SKR_CONFIG" "$tmpd/etc/nogate.json"
tokens_now=$(tokens "$img")
SKR_CONFIG=$tmpd/etc/nogate.json expect snp-enroll-config-without-gate 1 'binding_too_weak.*lacks "gate": "disk-tag"' -- \
	$ENR --key-id snp-g
check snp-enroll-config-without-gate-nothing-written '[ "$(tokens "$img")" = "$tokens_now" ] && broker_lacks snp-g'
cryptsetup luksDump --dump-json-metadata "$img" > "$tmpd/meta.json"
SLOT_A=$(python3 -c 'import json,sys
t = [v for v in json.load(open(sys.argv[1]))["tokens"].values() if v["type"] == "skr"][0]
assert t["key_id"] == "snp-a" and t["pcrs"] == [] and len(t["keyslots"]) == 1, t
print(t["keyslots"][0])' "$tmpd/meta.json") && echo "PASS snp-token-no-pcrs" || { echo "FAIL snp-token-no-pcrs"; fails=$((fails + 1)); }
admin GET /v1/keys/snp-a > "$tmpd/key.json"
python3 - "$tmpd/key.json" "$MEAS" <<'PY' && echo "PASS snp-broker-policy" || { echo "FAIL snp-broker-policy: $(cat "$tmpd/key.json")"; fails=$((fails + 1)); }
import json, sys
k = json.load(open(sys.argv[1]))
p = k["policy"]
assert p["tee"] == "snp" and "pcrs" not in p, p
s = p["snp"]
assert s["measurements"] == [sys.argv[2]] and s["allow_debug"] is False, s
assert s["max_vmpl"] == 0 and {"bootloader", "tee", "snp", "microcode"} <= set(s["min_tcb"]), s
assert k["refsets"] == [], k["refsets"]
PY
expect snp-release-enrolled 0 'released 32 bytes' -- $SKRCTL release --key-id snp-a --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$NOTPM" --timeout 20 --out "$tmpd/secret"
check snp-released-secret-opens-keyslot 'opens "$img" "$tmpd/secret" "$SLOT_A"'
check snp-passphrase-still-opens 'opens "$img" "$tmpd/pass"'
# The boot's side of what enroll wrote (token, client configuration): skr-unlock
# and the token plugin open by release; with the broker refusing, the passphrase
# opens because the command line lists this volume's tag (the gate itself:
# tests/attack/test_snp_gate.sh).
UNLOCK="setsid -w $BUILD/skr-unlock --device $img --test-passphrase --tcti $NOTPM"
expect snp-unlock-enrolled 0 'checked .* with the key from' -- $UNLOCK --no-prompt </dev/null
if [ -n "$installed_plugin" ]; then
	expect snp-plugin-enrolled 0 -- cryptsetup open --test-passphrase --token-only --token-type skr "$img"
else
	echo "FAIL snp-plugin-enrolled: the token plugin directory is not writable"
fi
echo measurement_flip > "$t/knobs"
expect snp-unlock-fallback-passphrase 0 'passphrase of keyslot [0-9]+ \(disk tag on the command line\)' -- \
	$UNLOCK --key-file "$tmpd/pass" </dev/null
grep -q 'snp_measurement_not_allowed\|measurement' "$err" && echo "PASS snp-unlock-fallback-after-refusal" ||
	{ echo "FAIL snp-unlock-fallback-after-refusal: $(cat "$err")"; fails=$((fails + 1)); }
rm -f "$t/knobs"

# ---- --weak-binding: enrolled anyway, and the reason said ------------------------
cmdline "root=/dev/mapper/root rd.skr.disk=$TAG"
expect snp-enroll-weak 0 '"key_id": "snp-w"' -- $ENR --key-id snp-w --weak-binding --json
check snp-enroll-weak-warning 'grep -q "skrctl: warning: .*no panic= word.*add \"panic=10\"" "$err"'
check snp-enroll-weak-json 'python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r[\"valid\"] and r[\"disk_tag\"]==sys.argv[2] and r[\"tee\"]==\"snp\" and \"panic=10\" in r[\"warning\"] and r[\"pcrs\"]==[], r" "$out" "$TAG"'
check snp-enroll-weak-broker-key 'broker_has snp-w'

# ---- the dry run refuses: rolled back ---------------------------------------------
cmdline "root=/dev/mapper/root rd.skr.disk=$TAG panic=10"
slots_before=$(slots "$img") tokens_before=$(tokens "$img")
# The given policy pins this image's measurement; the stand-in then reports another one.
echo "{\"tee\": \"snp\", \"snp\": {\"measurements\": [\"$MEAS\"]}}" > "$tmpd/snp.json"
echo measurement_flip > "$t/knobs"
expect snp-enroll-dry-run-refused 1 'snp_measurement_not_allowed' -- $ENR --key-id snp-flip --policy "$tmpd/snp.json"
rm -f "$t/knobs"
check snp-dry-run-rolled-back-token '[ "$(tokens "$img")" = "$tokens_before" ]'
check snp-dry-run-rolled-back-keyslot '[ "$(slots "$img")" = "$slots_before" ]'
check snp-dry-run-rolled-back-broker 'broker_lacks snp-flip'
check snp-dry-run-rolled-back-registry '[ ! -e "$tmpd/etc/keys/snp-flip" ]'

# ---- status --------------------------------------------------------------------
cmdline "root=/dev/mapper/root rd.skr.disk=$OTHER,$TAG panic=10 quiet"
expect snp-status 0 'this VM: snp, bare SEV-SNP' -- $SKRCTL status "$img" --tcti "$NOTPM"
expect_stdout snp-status-gate 'boot gate: the kernel command line lists 2 rd.skr.disk tag\(s\); panic= present'
expect_stdout snp-status-no-pcrs 'key snp-a, keyslots \[ ?[0-9]+ ?\], no PCRs'
expect_stdout snp-status-dry-run 'this boot would be released \(tee snp: the launch measurement is approved\)'
expect snp-status-json 0 -- $SKRCTL status "$img" --tcti "$NOTPM" --json
check snp-status-json-fields 'python3 -c "import json,sys; r=json.load(open(sys.argv[1]))
assert r[\"vm\"][\"tee\"]==\"snp\" and r[\"gate\"]=={\"disk_tags\":2,\"disk_tags_invalid\":False,\"panic\":True}, r
t=r[\"tokens\"]; assert len(t)==2 and all(x[\"pcrs\"]==[] and x[\"release\"][\"would_be_released\"] is True and x[\"release\"][\"tee\"]==\"snp\" for x in t), t" "$out"'
cmdline "root=/dev/mapper/root"
echo measurement_flip > "$t/knobs"
expect snp-status-refused 1 'this boot would be refused: snp_measurement_not_allowed' -- $SKRCTL status "$img" --tcti "$NOTPM"
expect_stdout snp-status-gate-missing 'lists 0 rd.skr.disk tag\(s\); panic= missing'
expect snp-status-refused-json 1 -- $SKRCTL status "$img" --tcti "$NOTPM" --json
check snp-status-refused-json-fields 'python3 -c "import json,sys; r=json.load(open(sys.argv[1]))
assert r[\"gate\"][\"disk_tags\"]==0 and r[\"gate\"][\"panic\"] is False, r
assert all(x[\"release\"][\"would_be_released\"] is False and x[\"release\"][\"reason\"]==\"snp_measurement_not_allowed\" for x in r[\"tokens\"]), r" "$out"'
rm -f "$t/knobs"

# ---- unenroll: tokens, keyslots and broker keys go; the passphrase stays -----------
expect snp-unenroll 0 'removed 2 skr token\(s\) and their broker keys' -- $SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"
check snp-unenroll-no-token '[ -z "$(tokens "$img")" ]'
check snp-unenroll-keyslots '[ "$(slots "$img")" = "$base_slots" ]'
check snp-unenroll-broker-keys 'broker_lacks snp-a && broker_lacks snp-w'
check snp-unenroll-secret-refused 'opens_refused "$img" "$tmpd/secret"'
check snp-unenroll-passphrase-opens 'opens "$img" "$tmpd/pass"'

[ "$fails" -eq 0 ]
