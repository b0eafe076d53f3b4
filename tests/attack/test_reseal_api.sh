# Attack: the reseal API and too-weak bindings (issue 12, items 3 and 4).
# A real broker over TLS, swtpm as a fake Azure vTPM whose PCRs 4, 7 and 9 are
# extended with a real firmware log's events (tests/cli/replay_pcrs.py), so
# "a boot" is a power cycle of the swtpm and a replay of a log:
#   boot_old   the enrolled (approved) boot
#   boot_evil  the same log with another kernel: a boot state nobody approved,
#              whose VM still passes the SNP policy (same fake chip and launch)
# (a) an approved boot's pending set "kernel hello-x64.efi" survives a
#     look-alike under the same label from the unapproved boot (queued, never
#     superseding), and still matches a release;
# (b) the unapproved boot fills the per-key queue: the next submission is
#     refused with refset_queue_full, the earlier legitimate queued and pending
#     sets are intact, and an approved boot still gets pending sets;
# (c) empty and weak bindings: the admin API refuses {} and "indexes": []
#     (binding_too_weak), a stored empty policy is never used, enroll refuses
#     --pcrs "" and --pcrs 7 unless --weak-binding (and then warns).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

here=$(dirname "$0")/../cli
log_bin="$VECTORS/eventlog/arch-linux.bin"
new_kernel="$VECTORS/pe/hello-x64.efi"
KERNEL_EVENT=23		# arch-linux.bin: the kernel systemd-boot loaded (PCR 4)
KEY=disk-atk
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

start_stack || exit 1
"$SKRCTL" eventlog show "$log_bin" --json > "$tmpd/events.json" || { echo "FAIL eventlog-show"; exit 1; }

# variant NAME SEED: a copy of the new kernel named NAME with its last byte set
# to SEED (another Authenticode digest, the same label "kernel NAME").
variant() {
	mkdir -p "$tmpd/v$2"
	cp "$new_kernel" "$tmpd/v$2/$1"
	printf "\\$(printf %03o "$2")" | dd of="$tmpd/v$2/$1" bs=1 \
		seek=$(($(stat -c %s "$new_kernel") - 1)) conv=notrunc status=none
	echo "$tmpd/v$2/$1"
}
evil_kernel=$(variant evil-boot.efi 1)
evil_digest=$("$SKRCTL" pe hash "$evil_kernel" --alg sha256)
python3 - "$tmpd/events.json" "$log_bin" "$tmpd/evil-boot.bin" "$KERNEL_EVENT" "$evil_digest" <<'PY' ||
import json, sys
events, src, dst, index, new = sys.argv[1:6]
old = bytes.fromhex([e for e in json.load(open(events)) if e["index"] == int(index)][0]["digests"]["sha256"])
data = open(src, "rb").read()
assert data.count(old) == 1, "the kernel digest is not unique in the log"
open(dst, "wb").write(data.replace(old, bytes.fromhex(new)))
PY
	{ echo "FAIL evil-boot-log"; exit 1; }

# The boot gate (PCR 15, src/common/gate.h): every boot starts with it zero
# (releases work, as in the initramfs); approved_running / evil_running leave
# it as the initramfs of that boot would: the key's volume opened by an
# attested release, or the attacker's disk opened by a typed passphrase.
export SKR_GATE_LOG=$tmpd/gate.log
boot() {
	stop_vtpm
	rm -f "$SKR_GATE_LOG"
	start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-restart"; return 1; }
	python3 "$here/replay_pcrs.py" "$tmpd/events.json" 4,7,9 "$TCTI" ${1:+--swap "$1"}
}
boot_old() { cur_log=$log_bin; boot; }
boot_evil() { cur_log=$tmpd/evil-boot.bin; boot "$KERNEL_EVENT=$evil_digest"; }
approved_running() { gate_attested "$KEY"; }
evil_running() { gate_measure "skr/v1 opened method=passphrase" "skr/v1 handover"; }

# sets: "id:state:label" lines of the key's reference sets.
sets() {
	admin GET "/v1/keys/$KEY/refsets" >/dev/null
	python3 -c 'import json, sys
for s in json.load(open(sys.argv[1])): print("%s:%s:%s" % (s["id"], s["state"], s["label"]))' "$tmpd/admin.out"
}
count() { sets | grep -c ":$1:"; }
id_of() { sets | awk -F: -v s="$1" -v l="$2" '$2 == s && $3 == l { print $1 }'; }
set_reseal_policy() { # true|false
	admin GET "/v1/keys/$KEY" >/dev/null
	p=$(python3 -c 'import json, sys
p = json.load(open(sys.argv[1]))["policy"]; p["allow_attested_reseal"] = sys.argv[2] == "true"
print(json.dumps(p))' "$tmpd/admin.out" "$1")
	admin PUT "/v1/keys/$KEY/policy" "$p" >/dev/null
	[ "$http_status" = 200 ]
}
releases() { "$SKRCTL" release --key-id "$KEY" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
	--tcti "$TCTI" --out "$tmpd/secret" >/dev/null 2>"$tmpd/release.err"; }
R() { "$SKRCTL" reseal --eventlog "$cur_log" --tcti "$TCTI" --timeout 20 "$img" "$@"; }

# --- Enrollment on the approved boot: kernel, initrd (9) and Secure Boot state ----
boot_old || exit 1
img=$tmpd/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }
ENR="$SKRCTL enroll $img --broker $RELEASE_URL --admin $ADMIN_URL --ca $bdir/ca.pem --admin-token $bdir/admin.token --key-file $tmpd/pass --tcti $TCTI --timeout 20"
expect enroll 0 'bound PCRs 4,7,9' -- $ENR --key-id "$KEY" --pcrs 4,7,9
approved_running

# A legitimate queued set: the approved boot submits while the policy wants an operator.
legit_q=$(variant legit-queued.efi 2)
expect legit-queued 1 'queued for an operator' -- R --kernel "$legit_q"
LQ=$(id_of queued "kernel legit-queued.efi")
check legit-queued-id '[ -n "$LQ" ]'
set_reseal_policy true || echo "FAIL set-policy"

# --- (a) the reproduction from the issue -------------------------------------------
expect approved-pending 0 'kernel hello-x64.efi: submitted: set [0-9]+ is pending' -- R --kernel "$new_kernel"
P=$(id_of pending "kernel hello-x64.efi")
check approved-pending-id '[ -n "$P" ]'
boot_evil || exit 1
check evil-boot-not-released '{ releases; [ $? -eq 1 ]; } && grep -qw pcr_mismatch "$tmpd/release.err"'
evil_running
lookalike=$(variant hello-x64.efi 3)
expect lookalike-queued 1 -- R --kernel "$lookalike" --json
check lookalike-superseded-nothing 'python3 -c "import json,sys; b=json.load(open(sys.argv[1]))[\"tokens\"][0][\"broker\"]; assert b[\"state\"]==\"queued\" and b[\"superseded\"]==0 and \"pcr_mismatch\" in b[\"note\"], b" "$out"'
check pending-still-there '[ "$(id_of pending "kernel hello-x64.efi")" = "$P" ]'
check lookalike-beside-it '[ -n "$(id_of queued "kernel hello-x64.efi")" ]'
check legit-queued-still-there '[ "$(id_of queued "kernel legit-queued.efi")" = "$LQ" ]'
# The pending set still matches a release: the boot it predicted unlocks.
new_digest=$("$SKRCTL" pe hash "$new_kernel" --alg sha256)
check pending-still-releases 'cur_log=$log_bin; boot "$KERNEL_EVENT=$new_digest" && releases'

# --- (b) queue flooding from the unapproved boot -----------------------------------
boot_evil || exit 1
evil_running
n=$(count queued)
seed=10
while [ "$n" -lt 8 ]; do
	k=$(variant "flood-$seed.efi" "$seed")
	R --kernel "$k" >/dev/null 2>&1
	n2=$(count queued)
	[ "$n2" -gt "$n" ] || { echo "FAIL flood-$seed-not-queued"; fails=$((fails + 1)); break; }
	n=$n2
	seed=$((seed + 1))
done
check queue-filled '[ "$(count queued)" = 8 ]'
sets > "$tmpd/sets-before"
expect queue-full-refused 1 'refset_queue_full: .*already has 8 reference sets waiting for an operator' -- \
	R --kernel "$(variant flood-next.efi 40)"
# ... also under a label already queued: a queued submission replaces nothing.
expect queue-full-same-label 1 'refset_queue_full' -- R --kernel "$(variant hello-x64.efi 41)"
sets > "$tmpd/sets-after"
check queue-full-changed-nothing 'cmp -s "$tmpd/sets-before" "$tmpd/sets-after"'
check queue-full-legit-queued-intact '[ "$(id_of queued "kernel legit-queued.efi")" = "$LQ" ]'
check queue-full-pending-intact '[ "$(id_of pending "kernel hello-x64.efi")" = "$P" ]'
check queue-full-audited 'admin GET "/v1/audit?key_id=$KEY&limit=50" >/dev/null && grep -q refset_queue_full "$tmpd/admin.out"'
# An approved boot needs no queue room: its new set is pending.
boot_old || exit 1
approved_running
expect approved-despite-full-queue 0 'kernel approved-2.efi: submitted: set [0-9]+ is pending' -- \
	R --kernel "$(variant approved-2.efi 42)"
# A newer prediction from the approved boot replaces its own older set and the look-alike.
expect approved-replaces-lookalike 0 -- R --kernel "$(variant hello-x64.efi 43)" --json
check approved-superseded-two 'python3 -c "import json,sys; b=json.load(open(sys.argv[1]))[\"tokens\"][0][\"broker\"]; assert b[\"state\"]==\"pending\" and b[\"superseded\"]==2, b" "$out"'
check lookalike-gone '[ -z "$(id_of queued "kernel hello-x64.efi")" ] && [ "$(sets | grep -c ":kernel hello-x64.efi$")" = 1 ]'

# --- (d) no audit row, no reseal --------------------------------------------------
# The approved boot's submission, with every reseal audit insert failing (as a
# full disk fails it): the set and its row go in one transaction, so nothing
# is added, the client is not told it was, and the broker logs why.
db() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=10); c.executescript(sys.argv[2]); c.commit()' "$bdir/broker.db" "$1"; }
db "CREATE TRIGGER reseal_full BEFORE INSERT ON audit WHEN NEW.action LIKE 'reseal:%'
    BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
sets > "$tmpd/sets-before"
"$SKRCTL" reseal --eventlog "$cur_log" --tcti "$TCTI" --timeout 4 "$img" \
	--kernel "$(variant audit-lost.efi 44)" > "$tmpd/lost.out" 2>&1
check reseal-audit-failed-not-submitted '[ $? -ne 0 ] && ! grep -q "submitted: set" "$tmpd/lost.out"'
sets > "$tmpd/sets-after"
check reseal-audit-failed-changed-nothing 'cmp -s "$tmpd/sets-before" "$tmpd/sets-after"'
check reseal-audit-failed-logged 'grep -q "audit_failed: cannot write the audit row of reseal:submit (allow)" "$bdir/broker.log"'
db "DROP TRIGGER reseal_full;"
expect reseal-after-audit-returns 0 'kernel audit-back.efi: submitted: set [0-9]+ is pending' -- \
	R --kernel "$(variant audit-back.efi 45)"
check reseal-audited-with-outcome 'admin GET "/v1/audit?key_id=$KEY&limit=5" >/dev/null && grep -q "kernel audit-back.efi set [0-9]* pending" "$tmpd/admin.out"'

# --- (c) empty and weak bindings ----------------------------------------------------
reason_is() { python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["reason"] == sys.argv[2]' "$tmpd/admin.out" "$1"; }
secret=$(head -c 32 /dev/urandom | base64)
admin POST /v1/keys "{\"key_id\": \"weak-1\", \"secret\": \"$secret\", \"policy\": {}}" >/dev/null
check admin-empty-policy-refused '[ "$http_status" = 400 ] && reason_is binding_too_weak'
admin POST /v1/keys "{\"key_id\": \"weak-2\", \"secret\": \"$secret\", \"policy\": {\"tee\": \"az-snp-vtpm\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": []}}}" >/dev/null
check admin-no-indexes-refused '[ "$http_status" = 400 ] && reason_is binding_too_weak'
admin GET /v1/keys/weak-1 >/dev/null
check admin-empty-not-created '[ "$http_status" = 404 ]'
admin PUT "/v1/keys/$KEY/policy" '{"tee": "az-snp-vtpm", "pcrs": {"indexes": []}}' >/dev/null
check admin-put-empty-refused '[ "$http_status" = 400 ] && reason_is binding_too_weak'
admin PUT "/v1/keys/$KEY/policy" '{"tee": "az-snp-vtpm", "pcrs": {"indexes": [4, 7, 9, 15]}}' >/dev/null
check admin-put-gate-refused '[ "$http_status" = 400 ] && reason_is policy_invalid'
check key-still-releases 'boot_old && releases'
# A policy stored before the rule (written into the database behind the broker's
# back): the key is never released under it.
python3 - "$bdir/broker.db" "$KEY" <<'PY' || echo "FAIL store-empty-policy"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE keys SET policy = ? WHERE key_id = ?", ('{"tee": "az-snp-vtpm"}', sys.argv[2]))
db.commit()
PY
rm -f "$tmpd/secret"
expect stored-empty-policy-refused 1 'binding_too_weak' -- \
	"$SKRCTL" release --key-id "$KEY" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --out "$tmpd/secret"
check stored-empty-policy-no-secret '[ ! -s "$tmpd/secret" ]'

img2=$tmpd/disk2.img
truncate -s 32M "$img2"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img2" "$tmpd/pass" || { echo "FAIL luksFormat-2"; exit 1; }
# tokens: how many skr tokens img2 has; "read-failed" (never a count) when its header cannot be read.
tokens() { d=$(cryptsetup luksDump "$img2") || { echo read-failed; return 1; }
	printf '%s\n' "$d" | sed -n '/^Tokens:/,/^Digests:/p' | grep -c ': skr'; }
ENR2="$SKRCTL enroll $img2 --broker $RELEASE_URL --admin $ADMIN_URL --ca $bdir/ca.pem --admin-token $bdir/admin.token --key-file $tmpd/pass --tcti $TCTI --timeout 20"
expect enroll-empty-pcrs 1 'binding_too_weak: the PCR set is empty' -- $ENR2 --key-id weak-e --pcrs ""
expect enroll-pcr7-refused 1 'binding_too_weak: PCRs 7 leave the kernel \(PCR 4\), the initrd \(PCR 9\), the command line \(PCR 9\) unmeasured.*--weak-binding' -- \
	$ENR2 --key-id weak-7 --pcrs 7
admin GET /v1/keys/weak-7 >/dev/null
check enroll-pcr7-nothing-created '[ "$http_status" = 404 ] && grep -q "\"key_unknown\"" "$tmpd/admin.out" && [ "$(tokens)" = 0 ]'
expect enroll-pcr7-weak 0 'warning: --weak-binding: PCRs 7 leave the kernel \(PCR 4\), the initrd \(PCR 9\), the command line \(PCR 9\) unmeasured' -- \
	$ENR2 --key-id weak-7 --pcrs 7 --weak-binding
check enroll-pcr7-weak-enrolled '[ "$(tokens)" = 1 ]'

[ "$fails" -eq 0 ]
