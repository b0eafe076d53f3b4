# Attack: the LUKS2 header chooses code, files, endpoints or trust (issue 12, item 1).
# The host owns the disk, so it writes the skr token.  A version 1 token
# still parses; this one names
#   (a) a "cmd:" TCTI, which tpm2-tss would run through a shell as root;
#   (b) the attacker's broker (a loopback listener that records connections);
#   (c) the attacker's CA (the configured broker's certificate does not chain to it);
#   (d) a "VCEK" path that is a FIFO: a process blocked on its write end
#       records whether anyone ever opens it (no strace needed).
# skr-unlock, the token plugin (cryptsetup open --token-only), skrctl status and
# skrctl reseal --commit must take all four from the client configuration
# (SKR_CONFIG) and nothing from the header: the release succeeds through the
# configured broker with the configured CA, the file is never created, the
# listener never sees a connection, the FIFO is never opened.
# Then the configuration itself: a cmd: TCTI, a group-writable file, a foreign
# owner or a group-writable CA file are refused with untrusted_config.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
UNLOCK=$BUILD/skr-unlock
listen_pid= fifo_pid=
cleanup() {
	drop_plugin
	[ -n "$listen_pid" ] && kill "$listen_pid" 2>/dev/null
	[ -n "$fifo_pid" ] && kill "$fifo_pid" 2>/dev/null
	stop_broker KILL
	stop_vtpm
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1${3:+: $3}"; fails=$((fails + 1)); fi; }

export SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline
: > "$SKR_KMSG"
: > "$SKR_CMDLINE"
own_plugin
start_stack || exit 1

# The real key at the real broker, bound to this boot's PCRs 0, 7, 11.
head -c 32 /dev/urandom > "$tmpd/secret.bin"
POLICY='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(base64 -w0 < "$tmpd/secret.bin")\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL admin-create-key: $http_status"; exit 1; }
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL admin-add-refset: $http_status"; exit 1; }

# The client configuration: the real broker, its CA, the swtpm.
cat > "$tmpd/client.json" <<EOF
{"brokers": ["$RELEASE_URL"], "ca": "$bdir/ca.pem", "tcti": "$TCTI"}
EOF
export SKR_CONFIG=$tmpd/client.json

# The attacker's broker: accepts, records, never answers (its address, one line per connection).
python3 -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    c, a = s.accept()
    with open(sys.argv[1], "a") as f: f.write("connection from %s:%d\n" % a)
    c.close()' "$tmpd/evil.conns" > "$tmpd/evil.port" &
listen_pid=$!
i=0; while [ ! -s "$tmpd/evil.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
EVIL_URL=https://127.0.0.1:$(cat "$tmpd/evil.port")
: > "$tmpd/evil.conns"
# The attacker's CA (and a certificate it signed).
mkdir -p "$tmpd/evil" && make_tls "$tmpd/evil" || { echo "FAIL evil-tls"; exit 1; }
# The "VCEK": a FIFO; opening it for reading releases the watcher, which records it.
mkfifo "$tmpd/vcek.fifo"
python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
open(sys.argv[2], "w").write("opened\n")
os.write(fd, b"junk"); os.close(fd)' "$tmpd/vcek.fifo" "$tmpd/vcek.opened" &
fifo_pid=$!

# The image: slot 0 a passphrase, slot 1 the real secret; token 0 the attacker's v1 token.
img=$tmpd/disk.img
printf 'correct horse' > "$tmpd/pass"
truncate -s 32M "$img"
FAST='--pbkdf pbkdf2 --pbkdf-force-iterations 1000'
cryptsetup luksFormat --type luks2 --batch-mode $FAST "$img" "$tmpd/pass" &&
	cryptsetup luksAddKey --batch-mode $FAST --key-file "$tmpd/pass" --key-slot 1 "$img" "$tmpd/secret.bin" ||
	{ echo "FAIL luks-image"; exit 1; }
python3 - "$tmpd" "$EVIL_URL" > "$tmpd/token.json" <<'PY'
import json, sys
tmpd, evil = sys.argv[1:3]
print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 1, "key_id": "disk-1",
                  "brokers": [evil], "ca": open(tmpd + "/evil/ca.pem").read(),
                  "tcti": "cmd:touch " + tmpd + "/pwned",
                  "vcek": tmpd + "/vcek.fifo", "pcrs": [0, 7, 11], "timeout": 10}))
PY
expect header-token-import 0 -- cryptsetup token import "$img" --json-file "$tmpd/token.json" --token-id 0

# nothing_taken NAME: the four assertions after one consumer ran.
nothing_taken() {
	check "$1-a-cmd-tcti-never-run" '[ ! -e "$tmpd/pwned" ]' "$tmpd/pwned exists"
	check "$1-b-header-broker-never-contacted" '[ ! -s "$tmpd/evil.conns" ]' "$(cat "$tmpd/evil.conns")"
	check "$1-d-header-vcek-never-opened" '[ ! -e "$tmpd/vcek.opened" ]' "the FIFO was opened"
}

# skr-unlock: released through the configured broker; (c) the header's CA would
# not have verified that broker's certificate, so success proves it was ignored.
echo 'rd.skr.debug' > "$SKR_CMDLINE"
expect unlock-releases-via-config 0 "checked .*disk.img with the key from $RELEASE_URL" -- \
	setsid -w "$UNLOCK" --device "$img" --test-passphrase --no-prompt
check unlock-c-configured-ca-used 'grep -q "with the key from $RELEASE_URL" "$err"'
check unlock-v1-notice 'grep -q "skr_version 1 token: its \"brokers\", \"ca\", \"tcti\" and \"vcek\" are ignored" "$err"'
nothing_taken unlock
: > "$SKR_CMDLINE"

# The token plugin, as systemd-cryptsetup loads it (under the plugin lock, own_plugin).
if [ -n "$installed_plugin" ]; then
	vtpm_reboot || echo "FAIL vtpm-reboot"	# skr-unlock above measured its open (PCR 15)
	expect plugin-releases-via-config 0 -- cryptsetup open --test-passphrase --token-only --token-type skr "$img"
	nothing_taken plugin
	expect plugin-dump 0 "skr broker: *$RELEASE_URL \\(from $tmpd/client.json\\)" -- cryptsetup luksDump "$img"
	check plugin-dump-v1-notice 'grep -q "skr notice: .*ignored" "$out"'
	check plugin-dump-no-header-broker '! grep -q "$EVIL_URL" "$out"'
else
	echo "FAIL plugin-install: the plugin directory is not writable"
	fails=$((fails + 1))
fi

# skrctl status: asks the configured broker, with the configured CA and TPM
# (its dry run: this boot would be released).
expect status-uses-config 0 "broker $RELEASE_URL: reachable" -- "$SKRCTL" status "$img"
expect_stdout status-dry-run-via-config 'this boot would be released'
check status-v1-notice 'grep -q "notice: skr_version 1 token" "$out"' "$(cat "$out")"
check status-no-header-broker '! grep -q "$EVIL_URL" "$out"'
nothing_taken status

# skrctl reseal --commit (root, at every boot, skr-reseal-commit.service), in
# the running system the initramfs left: the key's volume opened by an
# attested release, then the handover (the boot gate, src/common/gate.h).
vtpm_reboot || echo "FAIL vtpm-reboot"	# a new boot: PCR 15 (the boot gate) back to zero
gate_attested disk-1 || echo "FAIL gate-measure"
"$SKRCTL" reseal --commit "$img" >"$out" 2>"$err"
check reseal-commit-via-config 'grep -q "this boot matched set" "$err"' "$(cat "$err")"
nothing_taken reseal-commit

# (f) An skr-pending record naming another VM's key (and the attacker's admin
# URL): the repair that every enroll and unenroll --reconcile runs with the
# admin token must not delete that key, nor send the token anywhere but the
# operator's admin URL.  (g) The same through the skr token's key_id and unenroll.
admin POST /v1/keys "{\"key_id\": \"victim-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] || echo "FAIL admin-create-victim: $http_status"
victim_kept() { admin GET /v1/keys/victim-1 >/dev/null; [ "$http_status" = 200 ]; }
cp "$img" "$tmpd/pend.img"
printf '{"type": "skr-pending", "keyslots": [], "key_id": "victim-1", "admins": ["%s"], "slots": [1]}\n' \
	"$EVIL_URL" > "$tmpd/pend.json"
cryptsetup token import "$tmpd/pend.img" --json-file "$tmpd/pend.json" --token-id 5 || echo "FAIL pending-import"
expect f-pending-repaired-key-kept 0 'left 1 key\(s\) at the broker' -- "$SKRCTL" unenroll "$tmpd/pend.img" \
	--reconcile --admin-token "$bdir/admin.token" --admin "$ADMIN_URL" --ca "$bdir/ca.pem"
check f-victim-key-not-deleted 'victim_kept' "victim-1 is gone from the broker"
check f-pending-admins-never-contacted '[ ! -s "$tmpd/evil.conns" ]' "$(cat "$tmpd/evil.conns")"
check f-pending-slot-not-destroyed 'cryptsetup open --test-passphrase --key-slot 1 --key-file "$tmpd/secret.bin" "$tmpd/pend.img"'
cp "$img" "$tmpd/swap.img"
python3 -c 'import json; print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 2,
    "key_id": "victim-1", "timeout": 10}))' > "$tmpd/swap.json"
cryptsetup token remove --token-id 0 "$tmpd/swap.img" &&
	cryptsetup token import "$tmpd/swap.img" --json-file "$tmpd/swap.json" --token-id 0 || echo "FAIL swap-import"
expect g-unenroll-key-kept 0 'left 1 key\(s\) at the broker' -- "$SKRCTL" unenroll "$tmpd/swap.img" \
	--admin-token "$bdir/admin.token" --admin "$ADMIN_URL" --ca "$bdir/ca.pem"
check g-victim-key-not-deleted 'victim_kept' "victim-1 is gone from the broker"

# (e) "pcrs" is a hint: a header naming only PCR 1 still gets the broker's PCRs
# quoted (0, 7, 11), so the release works; the header cannot choose what is attested.
cp "$img" "$tmpd/hint.img"
python3 -c 'import json, sys; print(json.dumps({"type": "skr", "keyslots": ["1"], "skr_version": 2,
    "key_id": "disk-1", "pcrs": [1], "timeout": 10}))' > "$tmpd/hint.json"
cryptsetup token remove --token-id 0 "$tmpd/hint.img" &&
	cryptsetup token import "$tmpd/hint.img" --json-file "$tmpd/hint.json" --token-id 0 ||
	echo "FAIL hint-token-import"
vtpm_reboot || echo "FAIL vtpm-reboot"	# a new boot: PCR 15 (the boot gate) back to zero
expect e-pcrs-only-a-hint 0 "checked .*hint.img with the key from $RELEASE_URL" -- \
	setsid -w "$UNLOCK" --device "$tmpd/hint.img" --test-passphrase --no-prompt

# What the initramfs hooks copy: the configuration and its CA, checked as at boot.
expect config-files-listed 0 -- "$UNLOCK" --config-files
check config-files-are-config-and-ca '[ "$(cat "$out")" = "$(printf "%s\n%s" "$tmpd/client.json" "$bdir/ca.pem")" ]' "$(cat "$out")"

# The configuration is trusted only as root's, unwritable by others, naming a TPM driver.
cp "$tmpd/client.json" "$tmpd/good.json"
cat > "$tmpd/client.json" <<EOF
{"brokers": ["$RELEASE_URL"], "ca": "$bdir/ca.pem", "tcti": "cmd:touch $tmpd/pwned"}
EOF
expect config-cmd-tcti-unlock 1 'no release: .*tcti "cmd:touch .*" is not a device:, swtpm: or mssim: TPM \(untrusted_config\)' -- \
	setsid -w "$UNLOCK" --device "$img" --test-passphrase --no-prompt
expect config-cmd-tcti-status 2 'untrusted_config: .*tcti "cmd:' -- "$SKRCTL" status "$img"
expect config-cmd-tcti-initramfs 2 'tcti "cmd:.*\(untrusted_config\)' -- "$UNLOCK" --config-files
expect config-cmd-tcti-reseal 2 'untrusted_config: .*tcti "cmd:' -- "$SKRCTL" reseal --commit "$img"
if [ -n "$installed_plugin" ]; then
	expect config-cmd-tcti-plugin 1 'untrusted_config' -- cryptsetup open --test-passphrase --token-only --token-type skr "$img"
fi
check config-cmd-tcti-never-run '[ ! -e "$tmpd/pwned" ]'
cp "$tmpd/good.json" "$tmpd/client.json"
chmod 0664 "$tmpd/client.json"
expect config-group-writable 1 'no release: .*client.json is writable by its group or by everyone \(mode 0664\) \(untrusted_config\)' -- \
	setsid -w "$UNLOCK" --device "$img" --test-passphrase --no-prompt
expect config-group-writable-status 2 'untrusted_config: .*writable by its group' -- "$SKRCTL" status "$img"
chmod 0644 "$tmpd/client.json"
chown 65534 "$tmpd/client.json"
expect config-foreign-owner 2 'untrusted_config: .*client.json is owned by uid 65534, not root' -- "$SKRCTL" status "$img"
chown 0 "$tmpd/client.json"
cp "$bdir/ca.pem" "$tmpd/ca-copy.pem"
chmod 0666 "$tmpd/ca-copy.pem"
sed "s|$bdir/ca.pem|$tmpd/ca-copy.pem|" "$tmpd/good.json" > "$tmpd/client.json"
expect config-ca-world-writable 2 'untrusted_config: .*ca-copy.pem is writable by its group or by everyone' -- "$SKRCTL" status "$img"
cp "$tmpd/good.json" "$tmpd/client.json"
printf '{"brokers": ["%s"], "ca": "%s", "colour": "red"}\n' "$RELEASE_URL" "$bdir/ca.pem" > "$tmpd/client.json"
expect config-unknown-field 2 'malformed: .*unknown field "colour"' -- "$SKRCTL" status "$img"
cp "$tmpd/good.json" "$tmpd/client.json"
# And with a good one again, the same header still opens only through it.
vtpm_reboot || echo "FAIL vtpm-reboot"	# a new boot: PCR 15 (the boot gate) back to zero
expect config-good-again 0 "with the key from $RELEASE_URL" -- setsid -w "$UNLOCK" --device "$img" --test-passphrase --no-prompt
nothing_taken final
[ "$fails" -eq 0 ]
