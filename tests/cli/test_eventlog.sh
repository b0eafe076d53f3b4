# skrctl eventlog replay / show against the real logs in tests/vectors/eventlog.
. "$(dirname "$0")/lib.sh"

logs="$VECTORS/eventlog"

# same_json NAME FILE_A FILE_B: PASS if both files hold the same JSON value.
same_json() {
	if python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
sys.exit(0 if a == b else 1)' "$2" "$3" 2>/dev/null; then
		echo "PASS $1"
	else
		echo "FAIL $1: $(head -c 300 "$2") differs from $3"
	fi
}

# (lib.sh's expect uses $name itself, so the loop variable is $vector.)
for bin in "$logs"/*.bin; do
	vector=$(basename "$bin" .bin)
	expect "replay-json-$vector" 0 -- "$SKRCTL" eventlog replay "$bin" --json
	same_json "replay-json-$vector-values" "$out" "$logs/$vector.pcrs.json"
done

# Text output: "BANK PCR N: hex", one line per extended PCR, same values.
expect replay-text 0 -- "$SKRCTL" eventlog replay "$logs/uefi-sha1-log.bin"
expect_stdout replay-text-pcr7 '^sha1 PCR 7: 9216fc0727c344b355a90a3f34f357e4362d51bb$'
if [ "$(wc -l <"$out")" -eq 8 ]; then echo "PASS replay-text-lines"; else
	echo "FAIL replay-text-lines: $(wc -l <"$out") lines, wanted 8"; fi

expect show-text 0 -- "$SKRCTL" eventlog show "$logs/sd-boot-fedora37.bin"
expect_stdout show-separator '^ +9  PCR 7 +EV_SEPARATOR +sha256:df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119  0x00000000$'
expect_stdout show-secureboot '^ +4  PCR 7 +EV_EFI_VARIABLE_DRIVER_CONFIG +sha256:[0-9a-f]{64}  SecureBoot 8be4df61-93ca-11d2-aa0d-00e098032b8c$'
expect_stdout show-spec-id '^ +0  PCR 0 +EV_NO_ACTION +sha1:0{40}  Spec ID Event03$'
expect_stdout show-ipl-utf16 'EV_IPL .* console=ttyS0 console=tty0 efi=debug'

expect show-image 0 -- "$SKRCTL" eventlog show "$logs/uefi-sha1-log.bin"
expect_stdout show-image-path 'EV_EFI_BOOT_SERVICES_APPLICATION +sha1:d0e6f939f1304a83975f34ff678da573ae2b3ee5  image at 0x9f64d018, 1334816 bytes, device path 146 bytes, file /EFI/ubuntu/shimx64.efi$'

expect show-json 0 -- "$SKRCTL" eventlog show "$logs/gce-ubuntu-2104-log.bin" --json
if python3 -c 'import json, sys
events = json.load(open(sys.argv[1]))
e = events[3]
assert e["index"] == 3 and e["pcr"] == 7 and e["type"] == 0x80000001, e
assert e["type_name"] == "EV_EFI_VARIABLE_DRIVER_CONFIG", e
assert sorted(e["digests"]) == ["sha1", "sha256", "sha384"], e
assert e["description"].startswith("SecureBoot "), e
assert "description" not in events[2], events[2]
keys = {"index", "pcr", "type", "type_name", "digests", "description"}
assert all(set(x) <= keys and set(x) >= keys - {"description"} for x in events)
' "$out"; then echo "PASS show-json-keys"; else echo "FAIL show-json-keys"; fi

# Unreadable and malformed input: exit 2, the reason on stderr.
expect missing-file 2 'skrctl: io: cannot open' -- "$SKRCTL" eventlog replay "$tmpd/nonexistent.bin"
head -c 1000 "$logs/arch-linux.bin" >"$tmpd/truncated.bin"
expect truncated-replay 2 'skrctl: malformed: event [0-9]+ at offset 0x[0-9a-f]+' -- \
	"$SKRCTL" eventlog replay "$tmpd/truncated.bin"
expect truncated-show 2 'malformed' -- "$SKRCTL" eventlog show "$tmpd/truncated.bin"
expect truncated-json 2 '"reason": "malformed"' -- "$SKRCTL" eventlog replay "$tmpd/truncated.bin" --json
: >"$tmpd/empty.bin"
expect empty 2 'malformed: the event log is empty' -- "$SKRCTL" eventlog replay "$tmpd/empty.bin"
expect usage-no-log 2 'usage: skrctl eventlog replay' -- "$SKRCTL" eventlog replay
expect help 0 'usage: skrctl eventlog replay LOG' -- "$SKRCTL" eventlog replay --help
expect usage-bad-option 2 'usage: skrctl eventlog show' -- "$SKRCTL" eventlog show --bogus "$logs/arch-linux.bin"

[ "$fails" -eq 0 ]
