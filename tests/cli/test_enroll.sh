# skrctl enroll / status / unenroll against LUKS2 images in files, a real
# skr-broker over TLS on loopback and swtpm provisioned as a fake Azure vTPM.
# Fault injection (SKR_FAULT) needs the sanitizer build (-DSKR_TEST_FAULTS).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'drop_plugin; stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

own_plugin
start_stack || exit 1
# The client configuration: absent at first, so that the first enrollment writes it.
export SKR_CONFIG=$tmpd/etc/client.json
mkdir -p "$tmpd/etc"

log=$tmpd/all.log
: > "$log"
keep() { cat "$out" "$err" >> "$log"; }

img=$tmpd/disk.img
printf 'old-pass-%s' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
PASS=$(cat "$tmpd/pass")
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }

# slots IMG / tokens IMG: keyslot numbers, "N:type" of tokens, comma-separated;
# "luksDump-failed" (never a valid list, never empty) when the header cannot be read.
dump_section() {
	d=$(cryptsetup luksDump "$1" 2>/dev/null) || { echo "luksDump-failed"; return 1; }
	printf '%s\n' "$d" | sed -n "$2"
}
slots() { dump_section "$1" '/^Keyslots:/,/^Tokens:/p' | sed -n 's/^  \([0-9]*\): luks2.*/\1/p;s/^luksDump-failed$/&/p' | tr '\n' ,; }
tokens() { dump_section "$1" '/^Tokens:/,/^Digests:/p' | sed -n 's/^  \([0-9]*\): \(.*\)$/\1:\2/p;s/^luksDump-failed$/&/p' | tr '\n' ,; }
opens() { cryptsetup open --test-passphrase --key-file "$2" "$1" >/dev/null 2>&1; }
# opens_refused IMG KEYFILE: the header is read and no keyslot takes the key
# (cryptsetup's exit 2 and its words), not any other failure.
opens_refused() {
	cryptsetup open --test-passphrase --key-file "$2" "$1" >/dev/null 2>"$tmpd/opens.err"
	[ $? -eq 2 ] && grep -q 'No key available with this passphrase' "$tmpd/opens.err"
}
broker_has() { admin GET "/v1/keys/$1" >/dev/null; [ "$http_status" = 200 ]; }
# broker_lacks KEY_ID: the broker answered that it has no such key (404
# key_unknown), not an error of the request itself.
broker_lacks() { admin GET "/v1/keys/$1" >/dev/null; [ "$http_status" = 404 ] && grep -q '"key_unknown"' "$tmpd/admin.out"; }
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

base_slots=$(slots "$img")
ENR_BASE="$SKRCTL enroll $img --broker $RELEASE_URL --admin $ADMIN_URL --ca $bdir/ca.pem --admin-token $bdir/admin.token --key-file $tmpd/pass --tcti $TCTI --timeout 20"
# swtpm has no event log, so the boot chain is unknown: 4,7,9 (kernel, initrd, Secure Boot
# state, recent EFI stubs' command line) is the strong binding enroll accepts then.
STRONG="--pcrs 4,7,9"
ENR="$ENR_BASE $STRONG"

# Enroll: token in the header, key at the broker, the released secret opens the keyslot.
expect enroll-ok 0 'enrolled .*key disk-a' -- $ENR --key-id disk-a; keep
check enroll-names-binding 'grep -q "bound PCRs 4,7,9 (boot chain unknown)" "$err" && ! grep -q warning "$err"'
check enroll-token-in-header 'tokens "$img" | grep -q ":skr,"'
# Exactly one token, the skr one: no skr-pending record, and the header was read.
check enroll-no-pending-left 'tokens "$img" | grep -Eqx "[0-9]+:skr,"'
check enroll-broker-has-key 'broker_has disk-a'
admin GET /v1/keys/disk-a > "$tmpd/key.json"
python3 - "$tmpd/key.json" <<'PY' && echo "PASS enroll-policy-and-refset" || { echo "FAIL enroll-policy-and-refset"; fails=$((fails + 1)); }
import json, sys
k = json.load(open(sys.argv[1]))
p = k["policy"]
assert p["tee"] == "az-snp-vtpm" and p["pcrs"]["indexes"] == [4, 7, 9], p
assert p["snp"]["allow_debug"] is False and len(p["snp"]["measurements"]) == 1 and "min_tcb" in p["snp"], p
r = k["refsets"]
assert len(r) == 1 and r[0]["state"] == "current" and r[0]["label"].startswith("enrolled "), r
PY
# The first enrollment wrote the client configuration: brokers, the CA copied beside it, the TCTI.
check enroll-wrote-config 'python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c[\"brokers\"]==[sys.argv[2]] and c[\"ca\"]==sys.argv[3] and c[\"tcti\"]==sys.argv[4] and c[\"admin\"]==[sys.argv[5]], c" "$SKR_CONFIG" "$RELEASE_URL" "$tmpd/etc/broker-ca.pem" "$TCTI" "$ADMIN_URL" && cmp -s "$bdir/ca.pem" "$tmpd/etc/broker-ca.pem"'
grep -q 'rebuild the initramfs' "$err" && echo "PASS enroll-says-rebuild-initramfs" || { echo "FAIL enroll-says-rebuild-initramfs: $(cat "$err")"; fails=$((fails + 1)); }
# The key is recorded as enrolled from this machine (keys/ beside the configuration).
check enroll-key-registered '[ -f "$tmpd/etc/keys/disk-a" ]'
# The token is version 2: key id, keyslots, PCRs, timeout; no endpoints, no TPM, no files.
check enroll-token-v2 'cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import json,sys; t=[v for v in json.load(sys.stdin)[\"tokens\"].values() if v[\"type\"]==\"skr\"][0]; assert t[\"skr_version\"]==2 and not set(t) & {\"brokers\",\"ca\",\"tcti\",\"vcek\"}, t"'
# With a configuration, a --broker or --ca that differs is refused, naming it.
expect enroll-broker-differs 2 'usage: --broker differs from the brokers of .*client.json' -- $SKRCTL enroll "$img" --broker https://127.0.0.1:1 --ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass"; keep
expect enroll-ca-differs 2 'usage: --ca .*server.pem differs from the CA of .*client.json' -- $SKRCTL enroll "$img" --ca "$bdir/server.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass"; keep
cryptsetup luksDump "$img" > "$tmpd/dump"
check enroll-token-fields 'grep -q "disk-a" "$tmpd/dump" || cryptsetup luksDump --dump-json-metadata "$img" 2>/dev/null | grep -q "\"key_id\":\"disk-a\""'
expect release-enrolled 0 'released 32 bytes' -- $SKRCTL release --key-id disk-a --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --out "$tmpd/secret"; keep
check released-secret-opens 'opens "$img" "$tmpd/secret"'
check passphrase-still-opens 'opens "$img" "$tmpd/pass"'
SECRET_SAVED=$tmpd/secret.saved
cp "$tmpd/secret" "$SECRET_SAVED"

# Status: token, reachable broker, and the broker's dry run says this boot would be released.
expect status-ok 0 'broker .*: reachable' -- $SKRCTL status "$img" --tcti "$TCTI"; keep
expect_stdout status-would-be-released 'this boot would be released \(approved set [0-9]+\)'
expect status-json 0 '"key_id": "disk-a"' -- $SKRCTL status "$img" --json; keep

# A second enrollment with a recovery key (random key id), shown once on stdout.
expect enroll-recovery 0 '"recovery_key"' -- $ENR --recovery-key --json; keep
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["recovery_key"]); open(sys.argv[2],"w").write(r["key_id"])' "$out" "$tmpd/kid2" > "$tmpd/rk.txt" 2>/dev/null
rk=$(cat "$tmpd/rk.txt")
check recovery-key-format 'echo "$rk" | grep -Eq "^[cbdefghijklnrtuv]{8}(-[cbdefghijklnrtuv]{8}){3}$"'
printf %s "$rk" > "$tmpd/rk"
check recovery-key-opens 'opens "$img" "$tmpd/rk"'
KID2=$(cat "$tmpd/kid2")
check random-key-id 'echo "$KID2" | grep -Eq "^skr-[0-9a-f]{16}$" && broker_has "$KID2"'

# PCR 7 changes: status names the refusal and the PCR.
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000001 >/dev/null 2>&1
expect status-pcr-mismatch 1 'pcr_mismatch' -- $SKRCTL status "$img" --tcti "$TCTI"; keep
expect_stdout status-names-pcr7 'PCRs that differ: \[ ?7 ?\]'
expect status-pcr-mismatch-json 1 -- $SKRCTL status "$img" --tcti "$TCTI" --json; keep
check status-json-pcrs-differ 'python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[\"tokens\"]; assert t and all(x[\"release\"][\"pcrs_differ\"]==[7] for x in t), t" "$out"'
# ... and which event-log entries make up PCR 7 (a real firmware log from the vectors:
# it is not this swtpm's boot, and status says so).
expect status-eventlog 1 'PCR 7 in this machine.s event log: [1-9][0-9]* events \(the log does not replay' -- $SKRCTL status "$img" --tcti "$TCTI" --eventlog "$VECTORS/eventlog/sd-boot-fedora37.bin"; keep
expect_stdout status-eventlog-entries '#[0-9]+ EV_EFI_VARIABLE_DRIVER_CONFIG .*SecureBoot'
expect status-eventlog-json 1 -- $SKRCTL status "$img" --tcti "$TCTI" --eventlog "$VECTORS/eventlog/sd-boot-fedora37.bin" --json; keep
check status-eventlog-json-events 'python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[\"tokens\"]; e=t[0][\"release\"][\"eventlog\"][0]; assert e[\"pcr\"]==7 and len(e[\"events\"])>0 and e[\"replay_matches_quote\"] is False" "$out"'

# Unenroll disk-a: keyslot, token and broker key go; the passphrase still opens.
tok_a=$(cryptsetup luksDump --dump-json-metadata "$img" | python3 -c 'import json,sys
t = json.load(sys.stdin)["tokens"]; print([k for k, v in t.items() if v.get("key_id") == "disk-a"][0])')
expect unenroll-a 0 'removed 1 skr token\(s\) and their broker keys' -- $SKRCTL unenroll "$img" --token "$tok_a" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"; keep
check unenroll-broker-key-gone 'broker_lacks disk-a'
check unenroll-key-unregistered '[ ! -e "$tmpd/etc/keys/disk-a" ]'
check unenroll-secret-no-longer-opens 'opens_refused "$img" "$SECRET_SAVED"'
check unenroll-passphrase-opens 'opens "$img" "$tmpd/pass"'
check unenroll-recovery-still-opens 'opens "$img" "$tmpd/rk"'
# Unenroll the rest; the recovery keyslot is the user's and stays until removed by hand.
expect unenroll-all 0 'removed 1' -- $SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"; keep
check unenroll-all-broker 'broker_lacks "$KID2"'
check unenroll-all-no-skr-token '[ -z "$(tokens "$img")" ]'
rk_slot=$(cryptsetup luksDump "$img" | sed -n '/^Keyslots:/,/^Tokens:/p' | sed -n 's/^  \([0-9]*\): luks2.*/\1/p' | grep -vx 0)
cryptsetup luksKillSlot --batch-mode --key-file "$tmpd/pass" "$img" "$rk_slot" >/dev/null 2>&1
check back-to-baseline '[ "$(slots "$img")" = "$base_slots" ]'

# The admin token file is a secret file (secret.h's rule): readable by
# group or others, or a symbolic link, it is refused before any request.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$tmpd/bad.token"
chmod 640 "$tmpd/bad.token"
expect enroll-admin-token-group-readable 2 "usage: admin token file $tmpd/bad.token is readable by group or others \\(mode 0640\\); chmod 600" -- $SKRCTL enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" --ca "$bdir/ca.pem" --admin-token "$tmpd/bad.token" --key-file "$tmpd/pass" --tcti "$TCTI" --key-id disk-bad $STRONG; keep
ln -s "$bdir/admin.token" "$tmpd/link.token"
expect unenroll-admin-token-symlink 2 "usage: admin token file $tmpd/link.token is a symbolic link" -- $SKRCTL unenroll "$img" --admin-token "$tmpd/link.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"; keep
# A wrong admin token: enroll fails, nothing is left behind.
chmod 600 "$tmpd/bad.token"
expect enroll-wrong-admin-token 2 'admin_denied' -- $SKRCTL enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" --ca "$bdir/ca.pem" --admin-token "$tmpd/bad.token" --key-file "$tmpd/pass" --tcti "$TCTI" --key-id disk-bad $STRONG; keep
check wrong-token-no-keyslot '[ "$(slots "$img")" = "$base_slots" ]'
check wrong-token-no-token '[ -z "$(tokens "$img")" ]'
check wrong-token-no-broker-key 'broker_lacks disk-bad'
# A wrong passphrase: refused before anything happens.
printf 'wrong' > "$tmpd/wrong"
expect enroll-wrong-passphrase 2 'passphrase_invalid' -- $ENR --key-file "$tmpd/wrong" --key-id disk-wp; keep
check wrong-pass-nothing-left '[ "$(slots "$img")" = "$base_slots" ] && [ -z "$(tokens "$img")" ] && broker_lacks disk-wp'

# The binding: chosen from the event log's boot chain, refused when too weak (binding.h).
nothing_left() { [ "$(slots "$img")" = "$base_slots" ] && [ -z "$(tokens "$img")" ] && broker_lacks "$1"; }
expect enroll-no-log-no-default 1 'binding_too_weak: no TCG event log.*give --pcrs' -- $ENR_BASE --key-id disk-nolog; keep
check enroll-no-log-nothing-left 'nothing_left disk-nolog'
expect enroll-pcr15-refused 2 'PCR 15 is the boot gate' -- $ENR_BASE --key-id disk-15 --pcrs 4,7,9,15; keep
check enroll-pcr15-nothing-left 'nothing_left disk-15'
logs=$VECTORS/eventlog
# systemd-boot (Fedora 37): systemd measures the command line into PCR 12.
expect enroll-default-sdboot 0 'bound PCRs 4,7,9,12 \(boot chain efi\)' -- $ENR_BASE --key-id disk-sd --eventlog "$logs/sd-boot-fedora37.bin"; keep
check enroll-default-sdboot-policy '[ "$(admin GET /v1/keys/disk-sd | python3 -c "import json,sys; print(json.load(sys.stdin)[\"policy\"][\"pcrs\"][\"indexes\"])")" = "[4, 7, 9, 12]" ]'
expect unenroll-sd 0 'removed 1' -- $SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"; keep
# shim + GRUB: GRUB measures the command line into PCR 8, so 4,7,9 leaves it to the host.
expect enroll-default-grub 0 'bound PCRs 4,7,8,9 \(boot chain shim\+grub\)' -- $ENR_BASE --key-id disk-grub --eventlog "$logs/moklisttrusted.bin" --no-verify; keep
expect unenroll-grub 0 'removed 1' -- $SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL"; keep
expect enroll-grub-cmdline-unmeasured 1 'binding_too_weak: PCRs 4,7,9 leave the command line \(PCR 8\) unmeasured \(boot chain shim\+grub\)' -- $ENR_BASE --key-id disk-g2 --eventlog "$logs/moklisttrusted.bin" $STRONG; keep
check enroll-grub-weak-nothing-left 'nothing_left disk-g2'
# A given policy is checked the same way.
printf '{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [7]}}' > "$tmpd/weak-policy.json"
expect enroll-weak-policy 1 'binding_too_weak: PCRs 7 leave the kernel \(PCR 4\), the initrd \(PCR 9\), the command line \(PCR 12\) unmeasured' -- $ENR_BASE --key-id disk-wpol --policy "$tmpd/weak-policy.json" --eventlog "$logs/sd-boot-fedora37.bin"; keep
check enroll-weak-policy-nothing-left 'nothing_left disk-wpol'
printf '{"tee": "az-snp-vtpm"}' > "$tmpd/empty-policy.json"
expect enroll-empty-policy 1 'binding_too_weak: the PCR set is empty' -- $ENR_BASE --key-id disk-epol --policy "$tmpd/empty-policy.json"; keep
check enroll-empty-policy-nothing-left 'nothing_left disk-epol'
expect enroll-help-weak-binding 0 '--weak-binding' -- $SKRCTL enroll --help

# Fault injection at every step: kill -9 (then reconcile) and failure (undo).
SKR_FAULT=after_pending $ENR --key-id probe >/dev/null 2>&1
if [ $? -ne 137 ]; then
	echo "FAIL fault-injection: $SKRCTL is not a test build (make check builds one with -DSKR_TEST_FAULTS): its 70 checks did not run"
	fails=$((fails + 1))
	$SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL" >/dev/null 2>&1
else
	$SKRCTL unenroll "$img" --reconcile --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" >/dev/null 2>&1
	n=0
	for step in after_pending after_broker_key after_refset after_keyslot after_recovery after_verify after_token; do
		n=$((n + 1))
		kid=fault-kill-$n
		SKR_FAULT=$step $ENR --recovery-key --key-id "$kid" > "$out" 2> "$err"
		rc=$?
		keep
		check "kill-$step-exit" '[ $rc -eq 137 ]'
		check "kill-$step-header-valid" 'cryptsetup isLuks "$img" && cryptsetup luksDump "$img" >/dev/null'
		check "kill-$step-passphrase-opens" 'opens "$img" "$tmpd/pass"'
		if [ "$step" = after_token ]; then
			# Past the commit point: the enrollment stands, complete.
			check "kill-$step-complete" 'broker_has "$kid" && tokens "$img" | grep -q ":skr,"'
		fi
		# Odd steps are repaired by the next enroll, even ones by unenroll --reconcile.
		if [ $((n % 2)) -eq 1 ]; then
			expect "kill-$step-next-enroll-repairs" 0 'repaired 1' -- $ENR --key-id "next-$n" --no-verify; keep
			$SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL" >/dev/null 2>&1
		else
			expect "kill-$step-reconcile" 0 'repaired 1' -- $SKRCTL unenroll "$img" --reconcile --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem"; keep
		fi
		if [ "$step" = after_token ]; then
			$SKRCTL unenroll "$img" --admin-token "$bdir/admin.token" --ca "$bdir/ca.pem" --admin "$ADMIN_URL" >/dev/null 2>&1
			# The completed enrollment's recovery keyslot is the user's: drop it by hand.
			for s in $(slots "$img" | tr , ' '); do
				[ "$s" = 0 ] || cryptsetup luksKillSlot --batch-mode --key-file "$tmpd/pass" "$img" "$s" >/dev/null 2>&1
			done
		fi
		check "kill-$step-no-orphan-key" 'broker_lacks "$kid"'
		check "kill-$step-no-orphan-keyslot" '[ "$(slots "$img")" = "$base_slots" ]'
		check "kill-$step-no-token" '[ -z "$(tokens "$img")" ]'

		kid=fault-fail-$n
		SKR_FAULT=$step:fail $ENR --recovery-key --key-id "$kid" > "$out" 2> "$err"
		rc=$?
		keep
		check "fail-$step-refused" '[ $rc -eq 2 ] && grep -q "fault injected at $step" "$err"'
		check "fail-$step-undone" '[ "$(slots "$img")" = "$base_slots" ] && [ -z "$(tokens "$img")" ] && broker_lacks "$kid"'
		check "fail-$step-passphrase-opens" 'opens "$img" "$tmpd/pass"'
	done
fi

# Nothing secret in any captured output: the passphrase, the disk secret.
cat "$bdir/broker.log" >> "$log"
python3 - "$log" "$SECRET_SAVED" "$PASS" <<'PY' && echo "PASS no-secret-in-output" || { echo "FAIL no-secret-in-output"; fails=$((fails + 1)); }
import base64, sys
data = open(sys.argv[1], "rb").read()
secret = open(sys.argv[2], "rb").read()
for needle in (secret, secret.hex().encode(), base64.b64encode(secret), sys.argv[3].encode()):
    assert needle not in data, "leak"
PY

[ "$fails" -eq 0 ]
