#!/bin/sh
# The price of TPM parameter encryption on TPM2_ECDH_ZGen (issue 18):
# writes bench/results/tpm_session.json.  See bench/README.md.
#
#   sh bench/tpm_session.sh
#
# The clear path (ZGen under a password session, as before issue 18) exists
# only in builds with -DSKR_TEST_FAULTS, so this builds its own optimized
# copy with it in build/bench-tf (-O2 -g, no sanitizers), starts swtpm as a
# fake Azure vTPM and a TLS broker (tests/cli/broker.sh, as bench/run.sh
# does), and runs `bench_release zgen-session`: BENCH_TPM_SESSION_RUNS (100)
# releases in each mode, alternating AB/BA in one process.
# Knobs: BENCH_TPM_SESSION_RUNS, BENCH_OUT (bench/results).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
RUNS=${BENCH_TPM_SESSION_RUNS:-100}
OUT=${BENCH_OUT:-$top/bench/results}
rel=build/bench-tf
BUILD=$top/$rel

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

make -j2 BUILD="$rel" CFLAGS="-O2 -g -DSKR_TEST_FAULTS" "$rel/skrctl" "$rel/skr-broker" \
	"$rel/bench/bench_release" "$rel/tools/skr-fake-azure" >&2 || die "build failed"
for t in swtpm tpm2_pcrread python3 openssl curl xxd; do
	command -v $t >/dev/null 2>&1 || die "$t is not installed (see README.md, Build and test)"
done

tmpd=$(mktemp -d "${TMPDIR:-/tmp}/skr-bench-pe.XXXXXX") || exit 1
. "$top/tests/cli/broker.sh"
. "$top/bench/lib.sh"
bench_exit_traps 'stop_broker KILL; stop_vtpm; rm -rf "$tmpd"'
bench_stamp
dirty=$(git -C "$top" status --porcelain --untracked-files=normal 2>/dev/null |
	grep -v ' bench/results/' | head -c 1)

bdir=$tmpd/broker
az=$tmpd/az
mkdir -p "$bdir/vcek" "$az"
start_vtpm "$tmpd/tpm" || die "swtpm did not start"
"$BUILD/tools/skr-fake-azure" --tcti "$TCTI" --out "$az" >/dev/null || die "fake Azure provisioning failed"
make_tls "$bdir" || die "TLS material"
write_broker_config "$bdir" "$az/chain.pem"
vcek_name=$("$BUILD/skrctl" hcl show "$az/hcl.bin" --json | python3 -c 'import json,sys
r = json.load(sys.stdin)["snp_report"]; print(r["chip_id"] + "-" + r["reported_tcb"]["raw"] + ".der")') ||
	die "cannot name the VCEK"
cp "$az/vcek.der" "$bdir/vcek/$vcek_name"
sed -i "s|\"threads\": 2|\"threads\": 2, \"vcek_cache_dir\": \"$bdir/vcek\"|" "$bdir/broker.json"
start_broker "$bdir" || die "broker did not start: $(cat "$bdir/broker.log")"

register_swtpm_key bench-pe || die "the benchmark key could not be made"

log "TPM2_ECDH_ZGen session: $RUNS releases encrypted, $RUNS clear, alternating"
"$BUILD/bench/bench_release" zgen-session --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
	--tcti "$TCTI" --key-id bench-pe --secret-hex "$secret_hex" --runs "$RUNS" \
	--out "$tmpd/pe.json" || die "zgen-session run failed"

mkdir -p "$OUT"
python3 - "$tmpd/pe.json" "$OUT/tpm_session.json" "$started" "$loadavg_start" "$commit" \
	"${dirty:+dirty}" "$(swtpm --version 2>&1 | head -n 1)" <<'PY' || die "cannot write the results"
import json, sys
src, out, started, load, commit, dirty, swtpm = sys.argv[1:]
r = json.load(open(src))
res = {
    "what": "TPM time of a whole release (skr_release_timing.tpm_ms: NV read of the HCL "
            "report, wrap key, certify, quote, PCR read, ECDH_ZGen) with TPM2_ECDH_ZGen under "
            "its salted AES-128-CFB response-encrypting HMAC session (encrypted, the product) "
            "and under a plain password session (clear, the path before issue 18; "
            "SKR_TEST_ZGEN=clear in a -DSKR_TEST_FAULTS build), in-process, alternating AB/BA, "
            "same swtpm, broker and process; zgen_only_*: skr_tpm_ecdh_zgen alone on one open "
            "TPM, a fresh wrap key per call, AB/BA",
    "date": started,
    "commit": commit or None,
    "tree_dirty": bool(dirty),
    "loadavg_start": load,
    "tpm": swtpm,
    "build": "build/bench-tf: -O2 -g -DSKR_TEST_FAULTS, no sanitizers",
}
res.update(r)
json.dump(res, open(out, "w"), indent=2)
open(out, "a").write("\n")
print(json.dumps(res, indent=2))
PY
