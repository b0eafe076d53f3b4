# skrctl eventlog replay and skrctl predict against an independent reference.
#
# tests/tools/tcg_replay.py parses and replays TCG event logs; it was written
# from the TCG PC Client Platform Firmware Profile specification, not from
# skr's code, and shares nothing with it but the log files.  The substituted
# kernel digests come from osslsigncode (its own Authenticode code), not from
# `skrctl pe hash`.  So a prediction checked here is checked end to end by
# code that does not share skr's parser, replay or PE hash.
#
#   (a) every real log in tests/vectors/eventlog (and fuzz/corpus/eventlog):
#       the Python replay equals `skrctl eventlog replay --json`, every bank
#       and PCR (and the values published beside the vector); a copy of a log given a StartupLocality event (PCR 0 starts
#       at 3) likewise;
#   (b) PCR 4 of arch-linux.bin (systemd-boot) predicted for another kernel
#       (hello-x64.efi and the real signed Debian kernel): the Python replay
#       with osslsigncode's digest substituted into the kernel's event equals
#       `skrctl predict --json`, sha1 and sha256 banks.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
replay="$top/tests/tools/tcg_replay.py"
logs="$VECTORS/eventlog"
corpus="$top/fuzz/corpus/eventlog"
cache=${SKR_VECTOR_CACHE:-/var/cache/skr/vectors}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# same_json NAME A.json B.json [A-NAME B-NAME]: PASS when both parse to the
# same non-empty object; otherwise names the first bank/PCR that differs.
same_json() {
	if why=$(python3 - "$2" "$3" "${4:-python}" "${5:-skrctl}" 2>&1 <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if not a or not all(a.values()):
    sys.exit("the reference is empty")
for bank in sorted(set(a) | set(b)):
    pa, pb = a.get(bank, {}), b.get(bank, {})
    for pcr in sorted(set(pa) | set(pb), key=int):
        if pa.get(pcr) != pb.get(pcr):
            sys.exit(f"{bank} PCR {pcr}: {sys.argv[3]} {pa.get(pcr)}, {sys.argv[4]} {pb.get(pcr)}")
EOF
	); then
		pass "$1"
	else
		fail "$1" "$why"
	fi
}

for tool in python3 osslsigncode openssl; do
	command -v "$tool" >/dev/null 2>&1 || fail "independent tools" "$tool is not installed"
done

# --- (a) replay: every log, every bank, every PCR ---
nlogs=0
for bin in "$logs"/*.bin "$corpus"/*.bin; do
	[ -f "$bin" ] || continue
	name=${bin#"$top"/}
	# A corpus file identical to a vector is the same check twice.
	case "$bin" in "$corpus"/*)
		if [ -f "$logs/${bin##*/}" ] && cmp -s "$bin" "$logs/${bin##*/}"; then
			echo "# $name: same bytes as tests/vectors/eventlog/${bin##*/}"
			continue
		fi ;;
	esac
	nlogs=$((nlogs + 1))
	if ! python3 "$replay" "$bin" >"$tmpd/py.json" 2>"$tmpd/py.err"; then
		fail "independent replay $name" "tcg_replay.py: $(cat "$tmpd/py.err")"
		continue
	fi
	if ! "$SKRCTL" eventlog replay "$bin" --json >"$tmpd/skr.json" 2>"$tmpd/skr.err"; then
		fail "independent replay $name" "skrctl: $(head -c 400 "$tmpd/skr.err")"
		continue
	fi
	same_json "independent replay $name" "$tmpd/py.json" "$tmpd/skr.json"
	# The values published beside a vector check the Python replay itself.
	pub=${bin%.bin}.pcrs.json
	[ -f "$pub" ] && same_json "independent replay $name equals published" "$pub" "$tmpd/py.json" published python
done
[ "$nlogs" -ge 5 ] && pass "independent replay: $nlogs logs" ||
	fail "independent replay" "only $nlogs event logs found in $logs"

# StartupLocality: none of the real logs has one; a copy of arch-linux.bin
# with one (locality 3) must start PCR 0 at 0x00..03 and change nothing else.
arch="$logs/arch-linux.bin"
if python3 "$replay" "$arch" --insert-locality 3 "$tmpd/loc3.bin" &&
	python3 "$replay" "$tmpd/loc3.bin" >"$tmpd/py.json" &&
	python3 "$replay" "$arch" >"$tmpd/py0.json" &&
	"$SKRCTL" eventlog replay "$tmpd/loc3.bin" --json >"$tmpd/skr.json"; then
	same_json "independent replay StartupLocality 3" "$tmpd/py.json" "$tmpd/skr.json"
	if python3 - "$tmpd/py.json" "$tmpd/py0.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a and set(a) == set(b), (list(a), list(b))
assert all(a[k]["0"] != b[k]["0"] for k in a), "PCR 0 did not change"
assert all({p: v for p, v in a[k].items() if p != "0"} == {p: v for p, v in b[k].items() if p != "0"} for k in a)
EOF
	then pass "independent StartupLocality changes PCR 0 only"
	else fail "independent StartupLocality changes PCR 0 only" "see above"
	fi
else
	fail "independent replay StartupLocality 3" "cannot build or replay the log"
fi

# --- (b) prediction of PCR 4 for another kernel ---
# The kernel's event in a systemd-boot / EFI-stub chain: the last
# EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4, found by the Python parser.
kernel_index=$(python3 "$replay" "$arch" --events | python3 -c '
import json, sys
apps = [e["index"] for e in json.load(sys.stdin) if e["pcr"] == 4 and e["type"] == 0x80000003]
print(apps[-1] if apps else "")')
echo "# arch-linux.bin: kernel measured by event $kernel_index (tcg_replay.py)"
[ -n "$kernel_index" ] || fail "independent kernel event" "no PCR 4 application in $arch"

# The digest osslsigncode computed itself (not the one inside the signature).
ossl_digest() {
	osslsigncode verify -in "$1" 2>/dev/null |
		sed -n 's/^Calculated message digest *: *\([0-9A-Fa-f]*\).*/\1/p' |
		head -n 1 | tr 'A-F' 'a-f'
}

# A throwaway key: osslsigncode prints its digest only for a signed image.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=skr-test -days 2 \
	-keyout "$tmpd/key.pem" -out "$tmpd/cert.pem" >/dev/null 2>&1 ||
	fail "independent signing key" "openssl req failed"

# resign ALG IN OUT: IN without its signature, signed with ALG.
resign() {
	osslsigncode remove-signature -in "$2" -out "$tmpd/unsigned" >/dev/null 2>&1 ||
		cp "$2" "$tmpd/unsigned"
	osslsigncode sign -certs "$tmpd/cert.pem" -key "$tmpd/key.pem" -h "$1" \
		-in "$tmpd/unsigned" -out "$3" >/dev/null 2>&1
	rm -f "$tmpd/unsigned"
}

# predict_check NAME IMAGE SHA1 SHA256: the Python replay of arch-linux.bin
# with the kernel event's digests replaced equals skrctl's PCR 4 prediction.
predict_check() {
	name=$1 image=$2 d1=$3 d256=$4
	if [ -z "$kernel_index" ] || [ ${#d1} -ne 40 ] || [ ${#d256} -ne 64 ]; then
		fail "$name" "no kernel event or no osslsigncode digest (sha1 '$d1', sha256 '$d256')"
		return
	fi
	python3 "$replay" "$arch" --substitute "$kernel_index:sha1:$d1" \
		--substitute "$kernel_index:sha256:$d256" >"$tmpd/want.json" || {
		fail "$name" "tcg_replay.py failed"; return; }
	if ! "$SKRCTL" predict --eventlog "$arch" --kernel "$image" --pcrs 4 --json \
		>"$tmpd/predict.json" 2>"$tmpd/predict.err"; then
		fail "$name" "skrctl predict: $(head -c 400 "$tmpd/predict.err")"
		return
	fi
	if why=$(python3 - "$tmpd/want.json" "$tmpd/predict.json" "$tmpd/py0.json" 2>&1 <<'EOF'
import json, sys
want, got, before = (json.load(open(p)) for p in sys.argv[1:4])
got = got["pcrs"]
for bank in ("sha1", "sha256"):
    if want[bank]["4"] == before[bank]["4"]:
        sys.exit(f"{bank}: the substitution did not change PCR 4")
    if got.get(bank, {}).get("4") != want[bank]["4"]:
        sys.exit(f"{bank} PCR 4: python {want[bank]['4']}, skrctl {got.get(bank, {}).get('4')}")
print(f"# sha256 PCR 4 {want['sha256']['4']}")
EOF
	); then
		echo "$why"
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

hello="$VECTORS/pe/hello-x64.efi"
resign sha1 "$hello" "$tmpd/hello.sha1"
resign sha256 "$hello" "$tmpd/hello.sha256"
predict_check "independent predict PCR 4 hello-x64.efi" "$hello" \
	"$(ossl_digest "$tmpd/hello.sha1")" "$(ossl_digest "$tmpd/hello.sha256")"

# The real signed Debian kernel: fetched as make check does; FAIL if absent.
find_kernel() {
	for k in "$cache"/vmlinuz-*; do
		[ -s "$k" ] && [ -n "$(ossl_digest "$k")" ] && { echo "$k"; return; }
	done
}
kernel=$(find_kernel)
if [ -z "$kernel" ]; then
	"$top/tests/tools/fetch-signed-kernel.sh" "$cache" >&2
	kernel=$(find_kernel)
fi
if [ -z "$kernel" ]; then
	fail "independent predict PCR 4 signed Debian kernel" \
		"no signed kernel in $cache (tests/tools/fetch-signed-kernel.sh failed)"
else
	echo "# $kernel"
	resign sha1 "$kernel" "$tmpd/kernel.sha1"
	predict_check "independent predict PCR 4 signed Debian kernel" "$kernel" \
		"$(ossl_digest "$tmpd/kernel.sha1")" "$(ossl_digest "$kernel")"
	rm -f "$tmpd/kernel.sha1"
fi

[ "$fails" -eq 0 ]
