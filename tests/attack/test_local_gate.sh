# Attack: the host swaps in a disk of its own (same boot partition, so the
# token's PCRs are approved), types that disk's passphrase at the console,
# and the root it then runs asks this vTPM to unseal the real disk's local
# offline copy from the real token (its blobs and signed policies are
# public).  The copy's policies require PCR 15, the boot gate, at zero, and
# the passphrase open has moved PCR 15: the TPM must refuse, skr-unlock must
# say so (boot_gate_closed) and fall through to the passphrase; a plain
# tpm2-tools client (the attacker's own code) must be refused by the TPM too;
# a fresh boot must open with the local copy again.
#
# Real parts: swtpm provisioned as a fake Azure vTPM, skr-broker over TLS
# on loopback (for the enrollment; stopped before the attack, so that every
# open below is the local copy's or the passphrase's), LUKS2 in a file.
# A "boot" is a power cycle of the swtpm (TPM2_Shutdown, INIT, Startup: every
# PCR back to its reset value) and two fixed measurements into PCRs 4 and 7.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
PLUGIN=${SKR_TOKEN_PLUGIN:-$BUILD/libcryptsetup-token-skr.so}
PLUGIN_DIR=$(cryptsetup --help 2>/dev/null | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$/\1/p')
PLUGIN_DIR=${PLUGIN_DIR:-/lib/x86_64-linux-gnu/cryptsetup}
installed_plugin= listener=
cleanup() {
	[ -n "$installed_plugin" ] && rm -f "$installed_plugin"
	[ -n "$listener" ] && { kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null; }
	stop_broker KILL
	stop_vtpm
	rm -rf "$out" "$err" "$tmpd"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1: ${3:-condition false}"; fails=$((fails + 1)); fi; }

tpm() { TPM2TOOLS_TCTI=$TCTI "$@"; }
# event PCR TEXT: TPM2_PCR_Event (every bank), as skr_gate_measure does.
event() { printf '%s' "$2" > "$tmpd/event"; tpm tpm2_pcrevent "$tmpd/event" "$1" >/dev/null; }
# boot: power cycle (same swtpm process, so the TCTI the token names stays valid).
boot() {
	tpm tpm2_shutdown -c >/dev/null 2>&1
	swtpm_ioctl --tcp "127.0.0.1:$((${TCTI##*port=} + 1))" -i >/dev/null || return 1
	tpm tpm2_startup -c >/dev/null 2>&1	# swtpm's startup-clear may have sent it
	event 4 "kernel 6.1.0-test" && event 7 "secure boot: enabled, db, shim"
}
gate_zero() { tpm tpm2_pcrread sha256:15 | grep -Eq '^ *15 ?: 0x0{64}$'; }

start_stack || exit 1
boot || { echo "FAIL boot"; exit 1; }
check boot-gate-starts-zero 'gate_zero'

img=$tmpd/disk.img
printf 'pass-%s' "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass" || { echo "FAIL luksFormat"; exit 1; }
expect enroll 0 'enrolled' -- "$SKRCTL" enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" \
	--ca "$bdir/ca.pem" --admin-token "$bdir/admin.token" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --key-id disk-g --pcrs 4,7 --weak-binding --timeout 10
export SKR_LOCAL_DIR=$tmpd/local
expect local-copy 0 'local copy sealed' -- "$SKRCTL" local-copy "$img" --key-file "$tmpd/pass" \
	--tcti "$TCTI" --json
slot=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["tokens"][0]["keyslot"])' "$out")
stop_broker

# unlock ARGS: skr-unlock as the initramfs runs it, checking keyslots only (no mapping).
unlock() { SKR_KMSG=$tmpd/kmsg SKR_CMDLINE=$tmpd/cmdline "$BUILD/skr-unlock" --device "$img" \
	--name root --test-passphrase --tcti "$TCTI" --timeout 3 "$@" </dev/null; }
: > "$tmpd/cmdline"

# --- Control: a fresh boot, nothing opened yet, opens with the local copy ----------
boot
expect fresh-boot-local-opens 0 'checked .* with the local copy' -- unlock --no-prompt

# --- --local-only (the initramfs's first try, before any network) ---------------------
# Whatever listens on the configured broker's port counts the connections it
# gets: --local-only must make none, --no-local must ask it.
port=$(python3 -c 'import json, sys, urllib.parse
print(urllib.parse.urlparse(json.load(open(sys.argv[1]))["brokers"][0]).port)' "$SKR_CONFIG")
python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
open(sys.argv[2] + ".ready", "w").close()
while True:
    c, _ = s.accept(); open(sys.argv[2], "a").write("conn\n"); c.close()' "$port" "$tmpd/conns" &
listener=$!
for _ in $(seq 1 100); do [ -e "$tmpd/conns.ready" ] && break; sleep 0.1; done
check listener-ready '[ -e "$tmpd/conns.ready" ]'
conns() { [ -f "$tmpd/conns" ] && wc -l < "$tmpd/conns" || echo 0; }
boot
expect local-only-opens 0 'checked .* with the local copy' -- unlock --local-only
check local-only-asks-no-broker '[ "$(conns)" -eq 0 ] && ! grep -q "asking https://" "$err"' \
	"$(conns) connections; $(head -c 400 "$err")"
boot
expect no-local-leaves-the-copy 1 'stays closed' -- unlock --no-prompt --no-local
check no-local-asked-the-broker '[ "$(conns)" -gt 0 ] && ! grep -q "local copy" "$err"' \
	"$(conns) connections; $(head -c 400 "$err")"
expect local-only-with-no-local-is-usage 2 'usage' -- unlock --local-only --no-local
expect local-only-with-key-file-is-usage 2 'usage' -- unlock --local-only --key-file "$tmpd/pass"
kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null; listener=
: > "$tmpd/conns"

# --- The attack: a passphrase open of the host's disk, then the real disk ---------
boot
event 15 "skr/v1 opened method=passphrase"
# Read, and a value that is not zero (a failed read is no "moved").
check gate-moved 'v=$(tpm tpm2_pcrread sha256:15) && echo "$v" | grep -Eq "^ *15 ?: 0x[0-9A-Fa-f]{64}$" &&
	! echo "$v" | grep -Eq "^ *15 ?: 0x0{64}$"' "$(tpm tpm2_pcrread sha256:15 2>&1)"
expect after-passphrase-open-refused 0 'the local copy refused: .*TPM2_PolicyPCR.*PCR 15 is not zero.*\(boot_gate_closed\)' -- \
	unlock --key-file "$tmpd/pass"
check after-passphrase-open-falls-to-passphrase 'grep -q "checked .* with the passphrase of keyslot" "$err" &&
	! grep -q "with the local copy" "$err"' "$(head -c 600 "$err")"
expect after-passphrase-open-stays-closed 1 'boot_gate_closed' -- unlock --no-prompt
# --local-only never prompts (no --no-prompt given, no passphrase typed).
expect after-passphrase-open-local-only-closed 1 'boot_gate_closed' -- unlock --local-only
check local-only-no-prompt '! grep -Eq "falling back to the passphrase|passphrase is asked" "$err"' "$(head -c 400 "$err")"

# The attacker's own code, not skr: load nothing, just ask the TPM for the
# policy the copy was signed for (the token's PCRs as they are now, PCR 15 at
# zero).  The TPM answers TPM_RC_VALUE: the gate is the TPM's, not skr's.
policy_pcr() {
	tpm tpm2_pcrread sha256:4,7 -o "$tmpd/pcrs.bin" >/dev/null &&
	head -c 32 /dev/zero >> "$tmpd/pcrs.bin" &&
	tpm tpm2_startauthsession --policy-session -S "$tmpd/session.ctx" >/dev/null || return 2
	tpm tpm2_policypcr -S "$tmpd/session.ctx" -l sha256:4,7,15 -f "$tmpd/pcrs.bin" >"$tmpd/policypcr.out" 2>&1
	r=$?
	tpm tpm2_flushcontext "$tmpd/session.ctx" >/dev/null 2>&1
	return $r
}
check raw-client-refused-by-tpm '! policy_pcr && grep -qi "value is out of range or is not correct" "$tmpd/policypcr.out"' \
	"$(cat "$tmpd/policypcr.out" 2>/dev/null)"

# --- The handover alone closes the gate as well --------------------------------------
boot
event 15 "skr/v1 handover"
expect after-handover-refused 1 '\(boot_gate_closed\)' -- unlock --no-prompt

# --- A fresh boot: the gate is open again, the local copy opens --------------------
boot
check fresh-gate-zero 'gate_zero'
check raw-client-fresh-boot-accepted 'policy_pcr' "$(cat "$tmpd/policypcr.out" 2>/dev/null)"
expect fresh-boot-again-local-opens 0 'checked .* with the local copy' -- unlock --no-prompt

# --- The token plugin: libcryptsetup tries the copy's own keyslot ----------------------
# (the token lists it among its keyslots).  The plugin directory is machine-wide.
if [ -f "$PLUGIN" ] && [ -w "$PLUGIN_DIR" ]; then
	exec 9>/run/lock/skr-token-plugin.lock
	flock 9
	installed_plugin=$PLUGIN_DIR/libcryptsetup-token-skr.so
	cp "$PLUGIN" "$installed_plugin"
	boot
	expect plugin-fresh-boot-local 0 'unsealed from the local copy' -- \
		cryptsetup open --test-passphrase --token-only --token-type skr "$img" -v
	check plugin-opened-local-keyslot 'grep -q "Key slot $slot unlocked" "$out" "$err"' "$(head -c 600 "$err")"
	# The record of the open names the copy's keyslot and the local method;
	# nothing says "released" (no broker released anything).
	check plugin-local-record 'grep -qxF "skr: keyslot $slot opened with key disk-g (method=local)" "$out" &&
		! grep -q "released" "$out" "$err"' "$(cat "$out" "$err" | head -c 600)"
	event 15 "skr/v1 opened key=disk-g method=local"
	expect plugin-after-open-refused 1 'boot_gate_closed' -- \
		cryptsetup open --test-passphrase --token-only --token-type skr "$img"
	check plugin-after-open-no-record '! grep -q "opened with key" "$out" "$err"' "$(cat "$out" "$err" | head -c 600)"
	rm -f "$installed_plugin"
	installed_plugin=
	flock -u 9
else
	echo "FAIL plugin-install: $PLUGIN_DIR is not writable or $PLUGIN is missing"
	fails=$((fails + 1))
fi

[ "$fails" -eq 0 ]
