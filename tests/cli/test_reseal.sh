# skrctl reseal against a real broker over TLS and swtpm as a fake Azure vTPM.
# The vTPM's PCRs 4 and 7 are extended with a real firmware event log's events
# (tests/cli/replay_pcrs.py), so the live PCRs replay to that log as on a
# machine that booted with it; "rebooting into the new kernel" is a power
# cycle of the swtpm and a replay of the same log with the kernel's event
# replaced by the new image's Authenticode digest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
trap 'drop_plugin; stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
own_plugin
# Enrollment writes the client configuration here (brokers, CA): reseal reads it.
export SKR_CONFIG=$tmpd/client.json
# Before any enrollment there is none: a crypttab without skr volumes still
# reseals nothing, quietly (the kernel hooks run reseal --all at every install).
printf 'swap /dev/null none plain\n' > "$tmpd/crypttab0"
expect reseal-no-skr-volume-needs-no-config 0 'nothing to reseal' -- \
	env SKR_CRYPTTAB="$tmpd/crypttab0" "$SKRCTL" reseal --commit --all

log_bin="$VECTORS/eventlog/arch-linux.bin"
new_kernel="$VECTORS/pe/hello-x64.efi"
KERNEL_EVENT=23		# arch-linux.bin: the kernel systemd-boot loaded (PCR 4)
here=$(dirname "$0")

start_stack || exit 1
"$SKRCTL" eventlog show "$log_bin" --json > "$tmpd/events.json" || { echo "FAIL eventlog-show"; exit 1; }
new_digest=$("$SKRCTL" pe hash "$new_kernel" --alg sha256)
# A third kernel: the same image with its last byte changed (another Authenticode digest).
other=$tmpd/other.efi
cp "$new_kernel" "$other"
printf '\377' | dd of="$other" bs=1 seek=$(($(stat -c %s "$other") - 1)) conv=notrunc status=none

# check NAME CONDITION [WHY]: WHY, a command run only on failure, says what was seen.
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1${3:+: $(eval "$3" 2>&1 | head -c 600)}"; fails=$((fails + 1)); fi; }

# boot [SWAP]: power-cycle the vTPM (PCRs back to zero) and replay the log.
# The boot starts in the initramfs: the boot gate (PCR 15) is closed to
# nothing yet, so releases work; running() leaves it as skr's handover does.
export SKR_GATE_LOG=$tmpd/gate.log
boot() {
	stop_vtpm
	rm -f "$SKR_GATE_LOG"
	start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-restart"; return 1; }
	python3 "$here/replay_pcrs.py" "$tmpd/events.json" 4,7 "$TCTI" ${1:+--swap "$1"}
}
# Each boot's own event log: the new boot's is the old one with the kernel
# event's sha256 digest replaced (what firmware would have logged).
boot_old() { cur_boot=boot_old; cur_log=$log_bin; boot; }
boot_new() { cur_boot=boot_new; cur_log=$tmpd/new-boot.bin; boot "$KERNEL_EVENT=$new_digest"; }
# The running system of this boot: skr-unlock opened disk-r with a release, then the handover.
running() { [ -e "$SKR_GATE_LOG" ] || gate_attested disk-r; }
python3 - "$tmpd/events.json" "$log_bin" "$tmpd/new-boot.bin" "$KERNEL_EVENT" "$new_digest" <<'PY' ||
import json, sys
events, src, dst, index, new = sys.argv[1:6]
old = bytes.fromhex([e for e in json.load(open(events)) if e["index"] == int(index)][0]["digests"]["sha256"])
data = open(src, "rb").read()
assert data.count(old) == 1, "the kernel digest is not unique in the log"
open(dst, "wb").write(data.replace(old, bytes.fromhex(new)))
PY
	{ echo "FAIL new-boot-log"; exit 1; }

# sets: the key's reference sets as "id:state:label" lines.
sets() { refsets disk-r; }
state_of() { sets | awk -F: -v l="$1" '$3 == l { print $2 }' | tail -1; }
# count STATE: how many sets are in STATE; "read-failed" when the list cannot be read.
count() { l=$(sets) || { echo read-failed; return 1; }; printf '%s\n' "$l" | grep -c ":$1:"; }

set_reseal_policy() { # true|false
	admin GET /v1/keys/disk-r >/dev/null
	p=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["policy"]; p["allow_attested_reseal"] = sys.argv[2] == "true"
print(json.dumps(p))' "$tmpd/admin.out" "$1")
	admin PUT /v1/keys/disk-r/policy "$p" >/dev/null
	[ "$http_status" = 200 ]
}

# A release happens in the initramfs: from a running system, boot the same state again.
releases() { { [ ! -e "$SKR_GATE_LOG" ] || $cur_boot >/dev/null 2>&1; } && "$SKRCTL" release --key-id disk-r --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
	--tcti "$TCTI" --out "$tmpd/secret" >/dev/null 2>"$tmpd/release.err"; }
# refused REASON: the broker refuses the release for REASON (exit 1, the code
# on stderr), not a release that fails for any other cause.
refused() {
	{ [ ! -e "$SKR_GATE_LOG" ] || $cur_boot >/dev/null 2>&1; } || return 1
	"$SKRCTL" release --key-id disk-r --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
		--tcti "$TCTI" --out "$tmpd/secret" >/dev/null 2>"$tmpd/release.err"
	[ $? -eq 1 ] && grep -qw "$1" "$tmpd/release.err"
}

# --- Enrollment on the old boot, PCRs 4 and 7 -----------------------------------
boot_old || exit 1
img=$tmpd/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }
# PCRs 4 and 7 only, deliberately: this test replays only those two (initrd and
# command line are left unmeasured, so enroll wants --weak-binding and says so).
expect enroll 0 'warning: --weak-binding: PCRs 4,7 leave the initrd \(PCR 9\), the command line \(PCR 9\) unmeasured' -- \
	"$SKRCTL" enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" \
	--ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --key-id disk-r --pcrs 4,7 --weak-binding --timeout 20
enrolled=$(sets | cut -d: -f3)
printf '%s\n' "$img" | awk '{ print "root " $1 " none luks" }' > "$tmpd/crypttab"
# The vTPM's address changes at every boot: R reads it when it runs.
R() { running && "$SKRCTL" reseal --eventlog "$cur_log" --tcti "$TCTI" --timeout 20 "$@"; }
# Commit and the other calls without a prediction, from the running system.
C() { running && "$SKRCTL" reseal --tcti "$TCTI" "$@"; }

# --- Usage ------------------------------------------------------------------------
expect usage-no-device 2 'name the devices or give --all' -- R --kernel "$new_kernel"
expect usage-no-kernel 2 'give --kernel-version or --kernel' -- R "$img"
expect usage-bad-version 2 'is not a kernel version' -- R "$img" --kernel-version ../../etc
expect usage-commit-kernel 2 'predict nothing' -- "$SKRCTL" reseal --commit "$img" --kernel "$new_kernel"
expect usage-missing-initrd 2 'initrd.img-9.9.9.*does not exist' -- \
	env SKR_BOOT_DIR="$tmpd" "$SKRCTL" reseal "$img" --kernel-version 9.9.9
expect not-luks 2 'not a readable LUKS2 device' -- R "$tmpd/pass" --kernel "$new_kernel"

# --- Policy without attested reseal: the set is queued for an operator -----------
# This boot matches and its gate passes: only the policy stops it, and the
# reason says so (approval_required), neither pcr_mismatch nor the gate's.
expect queued 1 'approval_required: .*queued for an operator.*does not allow attested reseal' -- R "$img" --kernel "$new_kernel"
expect queued-json 1 -- R "$img" --kernel "$new_kernel" --json
check queued-json-reason 'python3 -c "import json,sys; r=json.load(open(sys.argv[1])); b=r[\"tokens\"][0][\"broker\"]; assert r[\"reason\"]==\"approval_required\" and b[\"state\"]==\"queued\" and b[\"this_boot_matches\"] is True and b[\"gate\"]==\"open\", r" "$out"'
check queued-state '[ "$(state_of "kernel hello-x64.efi")" = queued ]'
check queued-not-released-new 'boot_new && refused pcr_mismatch' 'cat "$tmpd/release.err"'
check queued-old-still-releases 'boot_old && releases'
expect check-queued-refused 1 'would be refused.*would be queued' -- R "$img" --kernel "$new_kernel" --check

# An operator approves it: pending, and the new boot would unlock.
qid=$(sets | awk -F: '$2 == "queued" { print $1 }')
admin POST "/v1/keys/disk-r/refsets/$qid/approve" '{}' >/dev/null
check approve-http '[ "$http_status" = 200 ]'
check approve-pending '[ "$(state_of "kernel hello-x64.efi")" = pending ]'
admin POST "/v1/keys/disk-r/refsets/$qid/approve" '{}' >/dev/null
check approve-twice-refused '[ "$http_status" = 400 ]'
admin DELETE "/v1/keys/disk-r/refsets/$qid" >/dev/null

# --- Attested reseal --------------------------------------------------------------
set_reseal_policy true || echo "FAIL set-policy"
expect check-before 1 'would be refused: PCR 4' -- R "$img" --kernel "$new_kernel" --check
expect submit 0 'submitted: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"
expect submit-again 0 'already approved: set [0-9]+ is pending' -- R "$img" --kernel "$new_kernel"
expect submit-all 0 'already approved' -- env SKR_CRYPTTAB="$tmpd/crypttab" "$SKRCTL" reseal --eventlog "$log_bin" --tcti "$TCTI" --all --kernel "$new_kernel"
check one-pending '[ "$(count pending)" = 1 ] && [ "$(count current)" = 1 ]'
expect check-after 0 'will unlock \(set [0-9]+\)' -- R "$img" --kernel "$new_kernel" --check
expect submit-json 0 -- R "$img" --kernel "$new_kernel" --json
check submit-json-fields 'python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[\"tokens\"][0]; assert t[\"key_id\"]==\"disk-r\" and t[\"broker\"][\"state\"]==\"pending\" and t[\"broker\"][\"existed\"] is True and t[\"changed_pcrs\"]==16" "$out"'

# The predicted set is exactly what skrctl predict computes, and what the new boot quotes.
"$SKRCTL" predict --eventlog "$log_bin" --kernel "$new_kernel" --pcrs 4,7 --json > "$tmpd/predict.json"
admin GET /v1/keys/disk-r/refsets >/dev/null
check pending-equals-predict 'python3 -c "import json,sys
p = json.load(open(sys.argv[1]))[\"pcrs\"][\"sha256\"]
s = [x for x in json.load(open(sys.argv[2])) if x[\"state\"] == \"pending\"][0][\"pcrs\"][\"sha256\"]
assert s == {k: p[k] for k in (\"4\", \"7\")}, (s, p)" "$tmpd/predict.json" "$tmpd/admin.out"'

# Both boots unlock until a commit: two-phase.
check old-boot-releases 'boot_old && releases'
check new-boot-releases 'boot_new && releases'
check released-secret-opens 'cryptsetup open --test-passphrase --key-file "$tmpd/secret" "$img"'

# --- Commit on the new boot: it becomes current, the enrolled set retires ---------
expect commit 0 'matched set [0-9]+, now current; 1 older set\(s\) retired' -- \
	C --commit "$img"
check after-commit-states '[ "$(state_of "kernel hello-x64.efi")" = current ] && [ "$(state_of "$enrolled")" = retired ]'
check retired-has-note 'admin GET /v1/keys/disk-r/refsets >/dev/null && grep -q "retired when set" "$tmpd/admin.out"'
expect commit-again 0 '0 older set' -- C --commit "$img"
check new-boot-still-releases 'releases'
check old-boot-refused-after-commit 'boot_old && refused pcr_mismatch' 'cat "$tmpd/release.err"'
expect commit-on-refused-boot 1 'pcr_mismatch' -- C --commit "$img"
$cur_boot >/dev/null 2>&1	# status asks for a release: in the initramfs state
expect status-explains-drift 1 'PCRs that differ: \[ ?4 ?\]' -- "$SKRCTL" status "$img" --tcti "$TCTI"
# A reseal from a boot that does not match is queued, never pending.
expect reseal-from-refused-boot 1 'queued for an operator.*this boot does not match.*pcr_mismatch' -- \
	R "$img" --kernel "$other"
expect check-from-refused-boot 0 'will unlock' -- R "$img" --kernel "$new_kernel" --check
qid=$(sets | awk -F: '$2 == "queued" { print $1 }')
admin DELETE "/v1/keys/disk-r/refsets/$qid" >/dev/null
boot_new

# --- Withdraw: the sets predicted for a removed kernel go --------------------------
expect submit-other 0 'set [0-9]+ is pending' -- R "$img" --kernel "$other"
# Every pending or queued set of the label goes (here a second one the operator
# added), and the message counts them all.
admin POST /v1/keys/disk-r/refsets '{"label": "kernel other.efi", "state": "pending", "pcrs": {"sha256": {"4": "'"$(printf '%064d' 4)"'", "7": "'"$(printf '%064d' 7)"'"}}}' >/dev/null
expect withdraw 0 'kernel other.efi: 2 pending or queued set\(s\) withdrawn' -- C --withdraw other.efi "$img"
check withdraw-removed '[ "$(count pending)" = 0 ]'

# --- Audit: every reseal decision has a row ----------------------------------------
admin GET '/v1/audit?key_id=disk-r&limit=200' >/dev/null
for a in reseal:submit reseal:check reseal:commit reseal:withdraw; do
	check "audit-$a" 'grep -q "\"action\":\"$a\"" "$tmpd/admin.out" || grep -q "\"action\": \"$a\"" "$tmpd/admin.out"'
done

# --- kill -9 during reseal: the boot that matched before still unlocks ------------
# Kill skrctl at several points of a submission (prediction, challenge, evidence,
# the broker's answer); after each, the running boot must release and the store
# must hold at most one pending set for the kernel.
for delay in 0.05 0.2 0.4 0.8 1.5; do
	R "$img" --kernel "$other" >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# What the kernel's resource manager (/dev/tpmrm0) does when a process
	# dies: its transient objects and sessions go.  swtpm over TCP has none,
	# and a client killed between a load and its flush would leave them to
	# fill the TPM's few slots for the next one.
	left=$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-transient 2>/dev/null | grep -c 0x)
	for f in -t -l -s; do TPM2TOOLS_TCTI=$TCTI tpm2_flushcontext $f >/dev/null 2>&1; done
	check "kill9-client-$delay-releases" 'releases' \
		'echo "$left transient object(s) left by the killed client"; cat "$tmpd/release.err"'
	check "kill9-client-$delay-consistent" '[ "$(count pending)" -le 1 ] && [ "$(count current)" = 1 ]'
done
# Kill the broker in the middle of a submission (stopped while it handles it).
R "$img" --kernel "$new_kernel" --timeout 5 >/dev/null 2>&1 &
pid=$!
sleep 0.3
kill -9 "$broker_pid" 2>/dev/null
wait "$pid" 2>/dev/null
# The client configuration names the broker's address: it comes back on the same ports.
sed -i "s|\"listen\": \"127.0.0.1:0\"|\"listen\": \"127.0.0.1:$rport\"|; s|\"admin_listen\": \"127.0.0.1:0\"|\"admin_listen\": \"127.0.0.1:$aport\"|" "$bdir/broker.json"
start_broker "$bdir" || echo "FAIL broker-restart"
check kill9-broker-releases 'releases'
check kill9-broker-consistent '[ "$(count current)" = 1 ]'
expect reseal-after-crash 0 'set [0-9]+ is (pending|current)' -- R "$img" --kernel "$other"

# --- Local offline copy: the vTPM unseals the secret without the broker -----------
boot_new || exit 1
R "$img" --kernel "$new_kernel" >/dev/null 2>&1		# the broker's sets as they were
C --commit "$img" >/dev/null 2>&1
boot_new >/dev/null 2>&1 || exit 1	# local-copy asks for a release: in the initramfs state
export SKR_LOCAL_DIR=$tmpd/local
# unlock: skr-unlock as the initramfs runs it, checking the keyslot (no mapping).
unlock() { SKR_KMSG=$tmpd/kmsg "$BUILD/skr-unlock" --device "$img" --name root \
	--test-passphrase --no-prompt --tcti "$TCTI" --timeout 3; }
# slots: the active keyslots; nv_counters: the skr counters defined in the vTPM;
# pending: skr-pending records in the header.
slots() { cryptsetup luksDump --dump-json-metadata "$img" | python3 -c 'import json, sys
print(" ".join(sorted(json.load(sys.stdin)["keyslots"])))'; }
# Each prints "read-failed" (never a count) when its source cannot be read:
# a failed read must not pass for "0 left".
nv_counters() { c=$(TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-nv-index) || { echo read-failed; return 1; }
	printf '%s\n' "$c" | grep -ci '0x10053[45]'; }
pending() { d=$(cryptsetup luksDump --dump-json-metadata "$img") || { echo read-failed; return 1; }
	printf '%s\n' "$d" | grep -c skr-pending; }
slots0=$(slots) nv0=$(nv_counters)
check local-baseline-read '[ -n "$slots0" ] && echo "$nv0" | grep -Eqx "[0-9]+"' 'echo "slots [$slots0] counters [$nv0]"'
# A local copy needs an existing passphrase now: it gets a keyslot of its own.
expect local-enable-no-terminal 2 'no terminal to ask for the passphrase' -- \
	setsid -w "$SKRCTL" local-copy "$img" --tcti "$TCTI"
printf 'wrong' > "$tmpd/wrong"
expect local-enable-wrong-passphrase 2 'passphrase_invalid' -- \
	"$SKRCTL" local-copy "$img" --tcti "$TCTI" --key-file "$tmpd/wrong"
# A failure part way (after the keyslot, after the seal) leaves nothing behind.
for f in local_after_keyslot local_after_seal; do
	expect "local-fault-$f" 2 "fault injected at $f" -- env SKR_FAULT=$f:fail \
		"$SKRCTL" local-copy "$img" --tcti "$TCTI" --key-file "$tmpd/pass"
	check "local-fault-$f-no-orphan" '[ "$(slots)" = "$slots0" ] && [ "$(nv_counters)" = "$nv0" ] &&
		[ "$(pending)" = 0 ] && [ ! -e "$tmpd/local/disk-r.pem" ] &&
		cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import json, sys
t = [t for t in json.load(sys.stdin)[\"tokens\"].values() if t[\"type\"] == \"skr\"]
assert len(t) == 1 and \"local\" not in t[0], t"'
done
expect local-enable 0 'local copy sealed in this vTPM' -- "$SKRCTL" local-copy "$img" --tcti "$TCTI" \
	--key-file "$tmpd/pass" --json
local_slot=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tokens"][0]["keyslot"])' "$out")
check local-key-0600 '[ "$(stat -c %a "$tmpd/local/disk-r.pem")" = 600 ]'
check local-in-token 'cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import json, sys
t = [t for t in json.load(sys.stdin)[\"tokens\"].values() if t[\"type\"] == \"skr\"][0]
assert t[\"local\"][\"keyslot\"] == $local_slot and \"$local_slot\" in t[\"keyslots\"], t"'
check local-own-keyslot '[ "$(slots | wc -w)" = $(($(echo $slots0 | wc -w) + 1)) ] &&
	slots | grep -qw "$local_slot" && ! echo "$slots0" | grep -qw "$local_slot" &&
	[ "$(nv_counters)" = $((nv0 + 1)) ] && [ "$(pending)" = 0 ]'
# Every policy selects PCR 15 (mask bit 15) besides the token's PCRs 4 and 7.
check local-policies-gated 'cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import base64, json, sys
t = [t for t in json.load(sys.stdin)[\"tokens\"].values() if t[\"type\"] == \"skr\"][0]
for p in t[\"local\"][\"policies\"]:
    assert int.from_bytes(base64.b64decode(p)[1:5], \"big\") == (1 << 4) | (1 << 7) | (1 << 15)"'
expect local-enable-again 0 -- "$SKRCTL" local-copy "$img" --tcti "$TCTI"
stop_broker
expect local-unlocks-broker-down 0 'checked .* with the local copy' -- unlock
# With a local copy the brokers get SKR_LOCAL_BROKER_WAIT_S (5 s) at most,
# whatever the timeout (luks/local_copy.h): asked with 60 s, skr-unlock says
# so (rd.skr.debug) and opens with the copy.
# (The open above moved PCR 15: the same boot again first.)
echo "rd.skr.debug" > "$tmpd/cmdline.debug"
"$cur_boot" >/dev/null 2>&1 || echo "FAIL local-reboot"
expect local-broker-wait-capped 0 'a local copy exists: the brokers get at most 5 s' -- \
	env SKR_KMSG="$tmpd/kmsg" SKR_CMDLINE="$tmpd/cmdline.debug" "$BUILD/skr-unlock" --device "$img" \
	--name root --test-passphrase --no-prompt --tcti "$TCTI" --timeout 60
check local-broker-wait-capped-opens 'grep -Eq "checked .* with the local copy" "$out" "$err"'
# Reseal with the broker down: the broker part fails, the local copy takes the new PCRs.
expect local-reseal-broker-down 2 'local copy accepts the predicted PCRs' -- R "$img" --kernel "$other" --timeout 3
cp "$log_bin" "$tmpd/other-boot.bin"
python3 - "$tmpd/new-boot.bin" "$tmpd/other-boot.bin" "$new_digest" "$("$SKRCTL" pe hash "$other" --alg sha256)" <<'PY'
import sys
src, dst, old, new = sys.argv[1:5]
data = open(src, "rb").read()
open(dst, "wb").write(data.replace(bytes.fromhex(old), bytes.fromhex(new)))
PY
boot_other() { cur_log=$tmpd/other-boot.bin; boot "$KERNEL_EVENT=$("$SKRCTL" pe hash "$other" --alg sha256)"; }
check local-other-boot-unlocks 'boot_other && unlock >/dev/null 2>&1'
check local-old-boot-still-unlocks 'boot_new && unlock >/dev/null 2>&1'
# Commit on the other boot: the counter passes the older policies' epoch.
boot_other
expect local-commit 2 'local copy revoked the older policies' -- C --commit "$img" --timeout 3
check local-other-still-unlocks 'boot_other && unlock >/dev/null 2>&1'
# The commit left one policy, the other boot's: the new boot's PCRs match none
# (the single-policy wording, no "policy 1 of 2"), and the copy stays closed.
check local-revoked-after-commit 'boot_new && { unlock >/dev/null 2>"$tmpd/unlock.err"; [ $? -eq 1 ]; } &&
	grep -q "the local copy refused: the current values of sha256 PCRs 4,7,15 are not those the policy was signed for (pcr_mismatch)" "$tmpd/unlock.err"' 'cat "$tmpd/unlock.err"'
expect local-refusal-named 1 'local copy refused: .*\(pcr_mismatch\)' -- unlock
check local-other-boot-again 'boot_other && unlock >/dev/null 2>&1'
start_broker "$bdir" || echo "FAIL broker-restart-2"
expect local-disable 0 'local copy removed' -- "$SKRCTL" local-copy "$img" --disable --tcti "$TCTI"
# The skr token is still there and has no "local" member (parsed, not grepped:
# a failing luksDump must not pass for "gone").
check local-gone 'cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import json, sys
t = [t for t in json.load(sys.stdin)[\"tokens\"].values() if t[\"type\"] == \"skr\"]
assert len(t) == 1 and \"local\" not in t[0], t" && [ ! -e "$tmpd/local/disk-r.pem" ]'
check local-keyslot-gone '[ "$(slots)" = "$slots0" ] && [ "$(nv_counters)" = "$nv0" ] && [ "$(pending)" = 0 ]'
check local-gone-token-keyslots 'cryptsetup luksDump --dump-json-metadata "$img" | python3 -c "import json, sys
t = [t for t in json.load(sys.stdin)[\"tokens\"].values() if t[\"type\"] == \"skr\"][0]
assert \"$local_slot\" not in t[\"keyslots\"], t"'
# unenroll takes the local copy's keyslot with the token's (its counter too when
# the TPM the token names is reachable; this vTPM has moved ports since enroll).
expect local-enable-for-unenroll 0 'local copy sealed' -- "$SKRCTL" local-copy "$img" --tcti "$TCTI" \
	--key-file "$tmpd/pass"
check local-enabled-again '[ "$(slots | wc -w)" = $(($(echo $slots0 | wc -w) + 1)) ]'
expect local-unenroll 0 'removed 1 skr token' -- "$SKRCTL" unenroll "$img"
check local-unenroll-clean '[ "$(slots)" = 0 ] && [ "$(pending)" = 0 ]'

[ "$fails" -eq 0 ]
