#!/bin/sh
# What tee "tpm" costs a release next to azure-tl (issue 15): writes
# bench/results/tpm_mode.json.  See bench/README.md.
#
#   sh bench/tpm_mode.sh            (after make all; BUILD=build by default)
#
# Two swtpms at once: one provisioned like Azure's Trusted Launch vTPM
# (skr-fake-azure provision-tl: AK at 0x81000003, AK certificate), one with
# an EK certificate from swtpm_setup --create-ek-cert and a local
# swtpm_localca CA; one TLS broker trusting both (ak_roots, ek_roots); then
# BENCH_TPM_MODE_RUNS (15) `skrctl release --json` of each, alternating
# (tl, tpm, tl, tpm, ...), whole processes.  The medians of total, TPM and
# network time are printed and written.  It measures the build it is given
# (the default build has sanitizers: compare the two modes, not absolutes).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
RUNS=${BENCH_TPM_MODE_RUNS:-15}
OUT=${BENCH_OUT:-$top/bench/results}
BUILD=${BUILD:-$top/build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
for t in swtpm swtpm_setup tpm2_pcrread python3 openssl curl; do
	command -v $t >/dev/null 2>&1 || die "$t is not installed"
done
[ -x "$BUILD/skrctl" ] && [ -x "$BUILD/skr-broker" ] && [ -x "$BUILD/tools/skr-fake-azure" ] ||
	die "build first (make all)"

tmpd=$(mktemp -d "${TMPDIR:-/tmp}/skr-bench-tpm.XXXXXX") || exit 1
. "$top/tests/cli/broker.sh"
. "$top/bench/lib.sh"
tl_pid=
bench_exit_traps 'stop_broker KILL; stop_vtpm; [ -n "$tl_pid" ] && kill "$tl_pid" 2>/dev/null; rm -rf "$tmpd"'
bench_stamp

bdir=$tmpd/broker ca=$tmpd/ek-ca
mkdir -p "$bdir" "$tmpd/tl" "$ca" "$tmpd/tpm-ek"
# The Trusted Launch vTPM.
start_vtpm "$tmpd/tpm-tl" || die "swtpm did not start"
"$BUILD/tools/skr-fake-azure" provision-tl --tcti "$TCTI" --out "$tmpd/tl" --ca-dir "$tmpd/tl-ca" >/dev/null ||
	die "provision-tl failed"
TCTI_TL=$TCTI tl_pid=$vtpm_pid vtpm_pid=
# The EK-certified TPM (as tests/attack/test_release_tpm.sh makes it).
printf 'create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s/localca.conf\ncreate_certs_tool_options = %s/localca.options\nactive_pcr_banks = sha256\n' \
	"$ca" "$ca" > "$ca/setup.conf"
printf 'statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n' \
	"$ca" "$ca" "$ca" "$ca" > "$ca/localca.conf"
printf -- '--platform-manufacturer skr\n--platform-version 2.1\n--platform-model swtpm\n' > "$ca/localca.options"
swtpm_setup --tpm2 --tpmstate "$tmpd/tpm-ek" --create-ek-cert --create-platform-cert --overwrite \
	--config "$ca/setup.conf" >"$ca/setup.log" 2>&1 || die "swtpm_setup failed: $(tail -3 "$ca/setup.log")"
start_vtpm "$tmpd/tpm-ek" || die "swtpm did not start"
TCTI_TPM=$TCTI

make_tls "$bdir" && write_broker_config "$bdir" || die "broker config"
sed -i "s|\"threads\": 2|\"threads\": 2, \"ak_roots\": \"$tmpd/tl-ca/root.pem\", \"ak_intermediates\": \"$tmpd/tl-ca/intermediate.pem\", \"ek_roots\": \"$ca/swtpm-localca-rootca-cert.pem\", \"ek_intermediates\": \"$ca/issuercert.pem\"|" "$bdir/broker.json"
start_broker "$bdir" || die "broker did not start: $(cat "$bdir/broker.log")"

for m in tl tpm; do
	tee=azure-tl
	[ $m = tpm ] && tee=tpm
	eval "TCTI=\$TCTI_$(echo $m | tr a-z A-Z)"
	admin POST /v1/keys "{\"key_id\": \"bench-$m\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": {\"tee\": \"$tee\", \"pcrs\": {\"bank\": \"sha256\", \"indexes\": [0, 7, 11]}}}" >/dev/null
	[ "$http_status" = 201 ] || die "key bench-$m: $http_status $(cat "$tmpd/admin.out")"
	admin POST /v1/keys/bench-$m/refsets "{\"label\": \"b\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
	[ "$http_status" = 201 ] || die "refset bench-$m: $http_status"
done

i=0
while [ $i -lt "$RUNS" ]; do
	for m in tl tpm; do
		eval "TCTI=\$TCTI_$(echo $m | tr a-z A-Z)"
		"$BUILD/skrctl" release --key-id "bench-$m" --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
			--tcti "$TCTI" --timeout 20 --out "$tmpd/secret" --json >"$tmpd/$m.$i.json" ||
			die "release bench-$m failed: $(cat "$tmpd/$m.$i.json")"
		rm -f "$tmpd/secret"
	done
	i=$((i + 1))
done

mkdir -p "$OUT"
python3 - "$tmpd" "$OUT/tpm_mode.json" "$RUNS" "$started" "$commit" "$loadavg_start" <<'PY'
import glob, json, statistics, sys
d, out, runs, started, commit, load = sys.argv[1:7]
res = {"runs": int(runs), "started": started, "commit": commit, "loadavg_start": load,
       "loadavg_end": open("/proc/loadavg").read().split()[:3], "median_ms": {}}
for m in ("tl", "tpm"):
    rows = [json.load(open(p)) for p in glob.glob(f"{d}/{m}.*.json")]
    res["median_ms"][m] = {k: round(statistics.median(r[k] for r in rows), 1)
                           for k in ("total_ms", "tpm_ms", "network_ms")}
t, p = res["median_ms"]["tl"], res["median_ms"]["tpm"]
res["tpm_minus_tl_ms"] = {k: round(p[k] - t[k], 1) for k in t}
json.dump(res, open(out, "w"), indent=1)
for m in ("tl", "tpm"):
    r = res["median_ms"][m]
    print(f"{m:4} median of {runs}: total {r['total_ms']} ms, tpm {r['tpm_ms']} ms, network {r['network_ms']} ms")
print("tpm - tl:", res["tpm_minus_tl_ms"])
PY
