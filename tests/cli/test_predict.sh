# skrctl predict: exit codes, --json keys, usage errors, and predicted values
# checked against a fold of the log's events computed here in Python, with
# the substituted digests taken from `skrctl pe hash` and sha256sum.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/swtpm.sh"

logs="$VECTORS/eventlog"
hello="$VECTORS/pe/hello-x64.efi"
cache=${SKR_VECTOR_CACHE:-/var/cache/skr/vectors}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# fold PCR ALG LOG [INDEX=HEX,...]: PCR's value from the log's events, with
# the events named replaced by those digests.
fold() {
	"$SKRCTL" eventlog show "$3" --json >"$tmpd/events.json" || return 1
	python3 - "$1" "$2" "$tmpd/events.json" "${4:-}" <<'EOF'
import hashlib, json, sys
pcr, alg, path, repl = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
swap = dict(x.split("=") for x in repl.split(",") if x)
value = bytes(hashlib.new(alg).digest_size)
for e in json.load(open(path)):
    if e["pcr"] != pcr or e["type"] == 3:
        continue
    digest = swap.get(str(e["index"]), e["digests"][alg])
    value = hashlib.new(alg, value + bytes.fromhex(digest)).digest()
print(value.hex())
EOF
}

# predicted BANK PCR: the value in the last --json output ($out).
predicted() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pcrs"][sys.argv[2]][sys.argv[3]])' \
		"$out" "$1" "$2" 2>/dev/null
}

# published LOG BANK PCR: the value published beside the log.
published() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
		"$logs/$1.pcrs.json" "$2" "$3" 2>/dev/null
}

# changed: the PCRs the last --json output lists as changed, e.g. "4 9".
changed() {
	python3 -c 'import json, sys; print(" ".join(str(c["pcr"]) for c in json.load(open(sys.argv[1]))["changed"]))' \
		"$out" 2>/dev/null
}

same() { # NAME WANT GOT
	if [ -n "$2" ] && [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "wanted '$2', got '$3'"; fi
}

# --- systemd-boot: the kernel is the last PCR 4 application (event 23) ---
arch="$logs/arch-linux.bin"
expect "predict sd-boot json" 0 -- "$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 4,7 --json
if python3 -c 'import json, sys
o = json.load(open(sys.argv[1]))
assert o["valid"] is True and o["chain"] == "efi" and o["live_checked"] is False, o
assert o["kernel_measurements"] == 1
assert set(o) == {"valid", "chain", "live_checked", "kernel_measurements", "pcrs", "current",
                  "changed", "substituted", "notes"}, sorted(o)
assert sorted(o["pcrs"]) == ["sha1", "sha256"] and sorted(o["pcrs"]["sha256"]) == ["4", "7"]
assert [c["pcr"] for c in o["changed"]] == [4]
s = o["changed"][0]["substituted"][0]
assert s["index"] == 23 and s["component"] == "kernel" and "vmlinuz-linux-lts" in s["description"], s
assert set(s) == {"index", "pcr", "type", "component", "measured", "description", "old", "new"}, s
' "$out"; then pass "predict sd-boot json keys"; else fail "predict sd-boot json keys" "$(head -c 300 "$out")"; fi
for alg in sha1 sha256; do
	same "predict sd-boot $alg PCR 4 is the fold with pe hash" \
		"$(fold 4 $alg "$arch" "23=$("$SKRCTL" pe hash --alg $alg "$hello")")" "$(predicted $alg 4)"
	same "predict sd-boot $alg PCR 7 unchanged" "$(published arch-linux $alg 7)" "$(predicted $alg 7)"
done

expect "predict text" 0 -- "$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 4,7
expect_stdout "predict text changed line" '^sha256 PCR 4: [0-9a-f]{64}  \(changed\)$'
expect_stdout "predict text unchanged line" "^sha256 PCR 7: $(published arch-linux sha256 7)\$"
expect_stdout "predict text substitution" '^substituted: PCR 4 event 23, kernel '

# --- the real signed kernel, when cached (tests/tools/fetch-signed-kernel.sh) ---
kernel=
for k in "$cache"/vmlinuz-*; do [ -s "$k" ] && kernel=$k && break; done
if [ -z "$kernel" ]; then
	sh "$(dirname "$0")/../tools/fetch-signed-kernel.sh" "$cache" >/dev/null 2>&1
	for k in "$cache"/vmlinuz-*; do [ -s "$k" ] && kernel=$k && break; done
fi
if [ -z "$kernel" ]; then
	# Eight checks depend on it: one named failure, and the count file
	# (tests/expected-counts.txt) turns the missing ones red too.
	echo "FAIL predict real kernel: no signed kernel in $cache (tests/tools/fetch-signed-kernel.sh failed)"
else
	expect "predict real kernel sd-boot" 0 -- "$SKRCTL" predict --eventlog "$arch" --kernel "$kernel" --pcrs 4 --json
	same "predict real kernel PCR 4 is the fold with pe hash" \
		"$(fold 4 sha256 "$arch" "23=$("$SKRCTL" pe hash "$kernel")")" "$(predicted sha256 4)"
	mok="$logs/moklisttrusted.bin"
	pe=$("$SKRCTL" pe hash "$kernel")
	file=$(sha256sum "$kernel" | cut -d' ' -f1)
	expect "predict real kernel grub" 0 -- "$SKRCTL" predict --eventlog "$mok" --kernel "$kernel" --pcrs 4,7,8,9 --json
	same "predict grub PCR 4: shim's two measurements" "$(fold 4 sha256 "$mok" "90=$pe,91=$pe")" "$(predicted sha256 4)"
	same "predict grub PCR 9: GRUB's file measurement" "$(fold 9 sha256 "$mok" "89=$file")" "$(predicted sha256 9)"
	same "predict grub PCR 8 unchanged" "$(published moklisttrusted sha256 8)" "$(predicted sha256 8)"
	same "predict grub changed PCRs" "4 9" "$(changed)"
fi

# --- initrd and command line (Linux's EFI stub and systemd, sd-boot-fedora37) ---
fedora="$logs/sd-boot-fedora37.bin"
head -c 100000 "$hello" >"$tmpd/initrd.img"
printf 'another initrd' >>"$tmpd/initrd.img"
expect "predict initrd" 0 -- "$SKRCTL" predict --eventlog "$fedora" --kernel "$hello" --pcrs 7,9,12 \
	--initrd "$tmpd/initrd.img" --json
same "predict initrd changes PCR 9 only" "9" "$(changed)"
same "predict initrd PCR 9 is the fold with its sha256" \
	"$(fold 9 sha256 "$fedora" "25=$(sha256sum "$tmpd/initrd.img" | cut -d' ' -f1)")" "$(predicted sha256 9)"
expect "predict cmdline" 0 -- "$SKRCTL" predict --eventlog "$fedora" --kernel "$hello" --pcrs 7,9,12 \
	--cmdline "root=/dev/vda2 ro" --json
same "predict cmdline changes PCR 12 only" "12" "$(changed)"
u16=$(python3 -c 'import hashlib; print(hashlib.sha256("root=/dev/vda2 ro\0".encode("utf-16-le")).hexdigest())')
same "predict cmdline PCR 12 is the fold with H(UTF-16)" "$(fold 12 sha256 "$fedora" "23=$u16,24=$u16")" \
	"$(predicted sha256 12)"

# --- live PCRs ---
expect "predict live matches" 0 '"live_checked": true' -- "$SKRCTL" predict --eventlog "$arch" --kernel "$hello" \
	--pcrs 4,7 --pcrs-live "$logs/arch-linux.pcrs.json" --json
python3 -c 'import json, sys
p = json.load(open(sys.argv[1])); p["sha256"]["7"] = "00" * 32
json.dump(p, open(sys.argv[2], "w"))' "$logs/arch-linux.pcrs.json" "$tmpd/live.json"
expect "predict live mismatch" 1 \
	"skrctl: eventlog_replay_mismatch: PCR 7 \(sha256\) cannot be predicted: the event log replays to $(published arch-linux sha256 7) but the TPM holds 0{64}" \
	-- "$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 4,7 --pcrs-live "$tmpd/live.json"
expect "predict live mismatch json" 1 '"reason": "eventlog_replay_mismatch"' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 7 --pcrs-live "$tmpd/live.json" --json
expect "predict live mismatch not bound" 0 -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 4 --pcrs-live "$tmpd/live.json"

# The TPM path: a swtpm whose PCRs 4 and 7 were extended with the log's events.
if command -v tpm2_pcrextend >/dev/null 2>&1 && start_swtpm; then
	"$SKRCTL" eventlog show "$arch" --json >"$tmpd/events.json"
	python3 -c 'import json, sys
for e in json.load(open(sys.argv[1])):
    if e["pcr"] in (4, 7) and e["type"] != 3:
        print("%d:sha256=%s" % (e["pcr"], e["digests"]["sha256"]))' "$tmpd/events.json" >"$tmpd/extends"
	ok=1
	while read -r ext; do
		tpm2_pcrextend -T "$SWTPM_TCTI" "$ext" >/dev/null 2>&1 || ok=0
	done <"$tmpd/extends"
	[ $ok = 1 ] || fail "predict tpm setup" "tpm2_pcrextend failed"
	expect "predict tpm live matches" 0 '"live_checked": true' -- "$SKRCTL" predict --eventlog "$arch" \
		--kernel "$hello" --pcrs 4,7 --tcti "$SWTPM_TCTI" --json
	tpm2_pcrextend -T "$SWTPM_TCTI" "7:sha256=$(printf '%064d' 0)" >/dev/null 2>&1
	expect "predict tpm live mismatch" 1 'eventlog_replay_mismatch: PCR 7 \(sha256\)' -- "$SKRCTL" predict \
		--eventlog "$arch" --kernel "$hello" --pcrs 4,7 --tcti "$SWTPM_TCTI"
	stop_swtpm
	expect "predict tpm unreachable" 2 'tpm_unavailable' -- "$SKRCTL" predict --eventlog "$arch" \
		--kernel "$hello" --pcrs 7 --tcti "$SWTPM_TCTI"
else
	fail "predict tpm" "swtpm or tpm2_pcrextend is not available"
fi

# --- refusals: exit 1 and a reason naming the PCR and the events ---
expect "predict refuses no kernel event" 1 'predict_ambiguous: PCR 4 has no EV_EFI_BOOT_SERVICES_APPLICATION' -- \
	"$SKRCTL" predict --eventlog "$fedora" --kernel "$hello" --pcrs 4,7
expect "predict unbound doubt is a note" 0 'note: not bound, so not refused: PCR 4 has no' -- \
	"$SKRCTL" predict --eventlog "$fedora" --kernel "$hello" --pcrs 7
expect "predict refuses shim without current kernel" 1 'predict_ambiguous: shim \(PCR 4 event 15\)' -- \
	"$SKRCTL" predict --eventlog "$logs/uefi-sha1-log.bin" --kernel "$hello" --pcrs 4
expect "predict refuses unknown current kernel" 1 'predict_ambiguous: no EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 carries' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --current-kernel "$hello" --pcrs 4
python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(b".text\0\0\0")
b[i:i + 8] = b".linux\0\0"
open(sys.argv[2], "wb").write(b)' "$hello" "$tmpd/uki.efi"
expect "predict refuses a UKI" 1 'predict_unsupported: the new kernel is a unified kernel image' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$tmpd/uki.efi" --pcrs 4,7
expect "predict refusal json" 1 '"reason": "predict_ambiguous"' -- \
	"$SKRCTL" predict --eventlog "$fedora" --kernel "$hello" --pcrs 4 --json
expect "predict grub cmdline needs the path" 2 'usage: GRUB measures the kernel.s path' -- \
	"$SKRCTL" predict --eventlog "$logs/gce-ubuntu-2104-log.bin" --kernel "$hello" --pcrs 8 --cmdline "root=/dev/sda1 ro"

# --- usage and unreadable input: exit 2, naming what was wrong ---
expect "predict usage no kernel" 2 'skrctl predict: --kernel \(the new kernel image\) is required' -- \
	"$SKRCTL" predict --eventlog "$arch"
expect "predict usage bad pcrs" 2 "skrctl predict: --pcrs '4,x' is not a list of PCR indexes" -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 4,x
expect "predict usage pcr 24" 2 "--pcrs '24' is not a list" -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs 24
expect "predict usage extra argument" 2 "skrctl predict: unexpected argument 'extra'" -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" extra
expect "predict usage live twice" 2 'both name the live PCR values' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs-live "$tmpd/live.json" --tcti swtpm
expect "predict usage unknown option" 2 'usage: skrctl predict' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --frobnicate
expect "predict help" 0 'usage: skrctl predict --kernel IMG' -- "$SKRCTL" predict --help
expect "predict missing log" 2 'skrctl: io: cannot open' -- \
	"$SKRCTL" predict --eventlog "$tmpd/nonexistent.bin" --kernel "$hello"
expect "predict kernel not a PE" 2 "malformed: .*README.md: no MZ signature" -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$VECTORS/pe/README.md"
expect "predict missing initrd" 2 'io: cannot open .*nonexistent.img' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --initrd "$tmpd/nonexistent.img"
printf '{"sha256": ' >"$tmpd/bad.json"
expect "predict live not json" 2 'malformed: .*bad.json is not JSON' -- \
	"$SKRCTL" predict --eventlog "$arch" --kernel "$hello" --pcrs-live "$tmpd/bad.json"
head -c 1000 "$arch" >"$tmpd/truncated.bin"
expect "predict truncated log" 2 'malformed: event [0-9]+ at offset' -- \
	"$SKRCTL" predict --eventlog "$tmpd/truncated.bin" --kernel "$hello"
if [ ! -e /sys/kernel/security/tpm0/binary_bios_measurements ]; then
	expect "predict default log missing" 2 'io: cannot open /sys/kernel/security/tpm0/binary_bios_measurements' -- \
		"$SKRCTL" predict --kernel "$hello"
fi

[ "$fails" -eq 0 ]
