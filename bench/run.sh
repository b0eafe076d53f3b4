#!/bin/sh
# The release benchmarks (`make bench`): writes bench/results/release.json and,
# when perf works here, bench/results/profile.txt.  See bench/README.md.
#
#   sh bench/run.sh [BUILD]        BUILD defaults to build (the optimized build)
#
# Knobs (environment): BENCH_RUNS (200 in-process releases), BENCH_CLEVIS_RUNS
# (50 runs of each whole process: skrctl release and clevis luks pass),
# BENCH_LOAD_SECONDS (10), BENCH_CONCURRENCY (1,2,4,8,16), BENCH_VMS (64),
# BENCH_THREADS (broker thread pool, 2), BENCH_PROFILE (1: perf profile of the
# broker under load), BENCH_POSTGRESQL (1: the load again on a PostgreSQL store),
# BENCH_SOAK_RELEASES (100000: broker RSS sampled across that many releases),
# BENCH_OUT (bench/results), BENCH_README (1: when the
# results went to bench/results, bench/figures.py writes them into
# bench/README.md and README.md; 0 leaves the READMEs alone).
#
# Everything it starts (swtpm, skr-broker, perf, the load generator) is stopped
# and its temporary files are removed, on every exit path.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
RUNS=${BENCH_RUNS:-200}
CLEVIS_RUNS=${BENCH_CLEVIS_RUNS:-50}
LOAD_SECONDS=${BENCH_LOAD_SECONDS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-1,2,4,8,16}
VMS=${BENCH_VMS:-64}
THREADS=${BENCH_THREADS:-2}
PROFILE=${BENCH_PROFILE:-1}
OUT=${BENCH_OUT:-$top/bench/results}
BENCH=$BUILD/bench/bench_release
UNLOCK_RUNS=${UNLOCK_RUNS:-50}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# Outside make (`sh bench/run.sh`), build what is needed first.
if [ -z "${MAKELEVEL:-}" ]; then
	rel=${BUILD#"$top"/}
	make -j2 BUILD="$rel" "$rel/skrctl" "$rel/skr-broker" "$rel/bench/bench_release" \
		"$rel/bench/bench_unlock" \
		"$rel/tools/skr-fake-azure" >&2 || die "build failed"
fi
for b in "$BUILD/skr-broker" "$BUILD/skrctl" "$BENCH" "$BUILD/tools/skr-fake-azure"; do
	[ -x "$b" ] || die "$b is missing (run make bench)"
done
for t in swtpm tpm2_pcrread python3 openssl curl xxd; do
	command -v $t >/dev/null 2>&1 || die "$t is not installed (see README.md, Build and test)"
done

tmpd=$(mktemp -d "${TMPDIR:-/tmp}/skr-bench.XXXXXX") || exit 1
. "$top/tests/cli/broker.sh"
. "$top/bench/lib.sh"
perf_pid=
load_pid=
az_vtpm_pid=
outdir=
cleanup() {
	[ -n "$perf_pid" ] && { kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; }
	[ -n "$load_pid" ] && { kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; }
	stop_broker KILL
	stop_pg
	stop_vtpm
	[ -n "$az_vtpm_pid" ] && { vtpm_pid=$az_vtpm_pid; stop_vtpm; }
	[ -n "$outdir" ] && rm -rf "$outdir"
	rm -rf "$tmpd"
}
bench_exit_traps cleanup
# Run copies: a rebuild of BUILD during the run changes nothing, and perf can
# still resolve the broker's symbols.
mkdir -p "$tmpd/bin/tools" "$tmpd/bin/bench"
cp "$BUILD/skr-broker" "$BUILD/skrctl" "$tmpd/bin/" &&
	cp "$BUILD/tools/skr-fake-azure" "$tmpd/bin/tools/" &&
	cp "$BENCH" "$BUILD/bench/bench_unlock" "$tmpd/bin/bench/" || die "cannot copy the binaries"
BUILD=$tmpd/bin
BENCH=$BUILD/bench/bench_release
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
# The source the binaries were built from, taken before anything is written:
# the commit and whether the tree differed from it.
python3 - "$top" "$tmpd/source.json" <<'PY' || die "cannot record the commit"
import json, subprocess, sys
top, out = sys.argv[1:]
def git(*a):
    r = subprocess.run(["git", "-C", top, *a], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None
head = (git("rev-parse", "HEAD") or "").strip() or None
st = git("status", "--porcelain", "--untracked-files=normal")
# What this script writes itself does not count: the results and the figures
# that bench/figures.py puts into the two READMEs.
own = ("bench/results/", "bench/README.md", "README.md")
dirty = None if st is None else sorted({l[3:] for l in st.splitlines()
                                        if l[3:] and not any(l[3:] == o or (o.endswith("/") and l[3:].startswith(o))
                                                             for o in own)})
json.dump({"commit": head,
           "commit_short": head[:7] if head else None,
           "tree_dirty": None if dirty is None else bool(dirty),
           "dirty_paths": dirty[:20] if dirty else [],
           "dirty_check": "git status --porcelain at the start of the run; bench/results/, "
                          "bench/README.md and README.md (written by the run) excluded"},
          open(out, "w"))
PY
mkdir -p "$OUT"
started=$(date +%s)

# 1. The crypto floor (in-process, one thread), before anything else loads the CPU.
log "crypto floor (3 s)"
"$BENCH" floor --seconds 3 --out "$tmpd/floor.json" || die "floor failed"
log "verification floor (3 s): the broker's verify functions in-process on one evidence"
"$BENCH" verify --seconds 3 --out "$tmpd/verify.json" || die "verify floor failed"

# 2. swtpm as a fake Azure vTPM, the load generator's test AMD CA, the broker.
bdir=$tmpd/broker
az=$tmpd/az
mkdir -p "$bdir/vcek" "$az" "$tmpd/ca"
start_vtpm "$tmpd/tpm" || die "swtpm did not start"
"$BUILD/tools/skr-fake-azure" --tcti "$TCTI" --out "$az" >/dev/null || die "fake Azure provisioning failed"
log "test AMD CA (RSA-4096) for the software VMs"
"$BENCH" mkca "$tmpd/ca" || die "mkca failed"
make_tls "$bdir" || die "TLS material"
write_broker_config "$bdir" "$az/chain.pem"
vcek_name=$("$BUILD/skrctl" hcl show "$az/hcl.bin" --json | python3 -c 'import json,sys
r = json.load(sys.stdin)["snp_report"]; print(r["chip_id"] + "-" + r["reported_tcb"]["raw"] + ".der")') ||
	die "cannot name the VCEK"
cp "$az/vcek.der" "$bdir/vcek/$vcek_name"
python3 - "$bdir/broker.json" "$tmpd/ca/chain.pem" "$bdir/vcek" "$THREADS" <<'PY' || die "broker config"
import json, sys
path, ca, vcek, threads = sys.argv[1:]
c = json.load(open(path))
c["trust_anchors"] = c.get("trust_anchors", []) + [ca]
c["vcek_cache_dir"] = vcek
c["threads"] = int(threads)
json.dump(c, open(path, "w"), indent=2)
PY
start_broker "$bdir" || die "broker did not start: $(cat "$bdir/broker.log")"
log "broker pid $broker_pid, $THREADS threads, $RELEASE_URL"

# 3. Release latency: skr_release() in-process against swtpm, over TLS.
register_swtpm_key bench-swtpm || die "the benchmark key could not be made"
log "release latency ($RUNS runs, swtpm)"
"$BENCH" latency --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --key-id bench-swtpm \
	--secret-hex "$secret_hex" --runs "$RUNS" --out "$tmpd/latency.json" || die "latency run failed"

# 3b. The unlock path: a LUKS2 image enrolled with skrctl enroll, then what
#     skr-unlock does (release + keyslot open), timed by part.
log "unlock path ($UNLOCK_RUNS runs, swtpm, LUKS2 image)"
img=$tmpd/unlock.img
printf 'bench passphrase' > "$tmpd/unlock.pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/unlock.pass" || die "luksFormat failed"
# enroll writes the client configuration (brokers, CA, TCTI) that bench_unlock reads.
export SKR_CONFIG=$tmpd/client.json
"$BUILD/skrctl" enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" --ca "$bdir/ca.pem" \
	--admin-token "$bdir/admin.token" --key-file "$tmpd/unlock.pass" --tcti "$TCTI" \
	--key-id bench-unlock --pcrs 4,7,9 >&2 || die "enroll failed"
"$BUILD/bench/bench_unlock" "$img" "$UNLOCK_RUNS" > "$tmpd/unlock.json" || die "unlock run failed"
# 4. Whole processes, the like-for-like comparison: `skrctl release` (fork/exec
#    of the skrctl binary; the same swtpm, broker and key as step 3) and
#    clevis's `clevis luks pass` (its own swtpm), alternating run by run (ABBA)
#    so both see the same machine load.  Every skrctl run writes the secret to
#    --out on tmpfs (skrctl fsyncs it; clevis's passphrase goes to a pipe, so
#    neither pays for the disk) and the secret must equal the registered one.
az_tcti=$TCTI
az_vtpm_pid=$vtpm_pid
vtpm_pid=
printf '%s' "$secret_hex" | xxd -r -p > "$tmpd/want.secret" && chmod 600 "$tmpd/want.secret" ||
	die "cannot write the expected secret"
outdir=$(mktemp -d /dev/shm/skr-bench-out.XXXXXX 2>/dev/null) || outdir=
if [ -z "$outdir" ]; then
	outdir=$tmpd/out
	mkdir -p "$outdir"
fi
out_fs=$(stat -f -c %T "$outdir" 2>/dev/null || echo unknown)
clevis_note=
clevis_ready=0
clevis_ok=0
slot=
img=$tmpd/luks.img
if ! command -v clevis >/dev/null 2>&1 || ! [ -x /usr/bin/clevis-decrypt-tpm2 ] ||
   ! command -v clevis-luks-pass >/dev/null 2>&1; then
	log "installing clevis, clevis-luks, clevis-tpm2"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y clevis clevis-luks clevis-tpm2 >"$tmpd/apt.log" 2>&1; then
		apt-get update >>"$tmpd/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y clevis clevis-luks clevis-tpm2 >>"$tmpd/apt.log" 2>&1 ||
			clevis_note="apt-get install clevis clevis-luks clevis-tpm2 failed: $(tail -1 "$tmpd/apt.log")"
	fi
fi
if [ -z "$clevis_note" ]; then
	printf 'bench-passphrase-%s' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$tmpd/pass"
	truncate -s 32M "$img"
	start_vtpm "$tmpd/tpm-clevis" || die "swtpm (clevis) did not start"
	clevis_tcti=$TCTI
	if ! cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
		--key-file "$tmpd/pass" "$img" >"$tmpd/clevis.log" 2>&1; then
		clevis_note="cryptsetup luksFormat failed: $(tail -1 "$tmpd/clevis.log")"
	elif ! TPM2TOOLS_TCTI=$clevis_tcti clevis luks bind -y -d "$img" -k "$tmpd/pass" tpm2 \
		'{"pcr_bank":"sha256","pcr_ids":"7"}' >>"$tmpd/clevis.log" 2>&1; then
		clevis_note="clevis luks bind failed: $(tail -2 "$tmpd/clevis.log" | tr '\n' ' ')"
	else
		slot=$(clevis luks list -d "$img" | sed -n 's/^\([0-9]*\): tpm2 .*/\1/p' | head -1)
		if [ -z "$slot" ]; then
			clevis_note="clevis luks list shows no tpm2 binding"
		elif ! TPM2TOOLS_TCTI=$clevis_tcti clevis luks pass -d "$img" -s "$slot" > "$tmpd/clevis.pass" 2>>"$tmpd/clevis.log" ||
		     ! cryptsetup open --test-passphrase --key-slot "$slot" --key-file "$tmpd/clevis.pass" "$img" 2>>"$tmpd/clevis.log"; then
			clevis_note="clevis luks pass did not yield the keyslot's passphrase: $(tail -2 "$tmpd/clevis.log" | tr '\n' ' ')"
		else
			clevis_ready=1
		fi
	fi
fi
if [ "$clevis_ready" = 1 ]; then
	log "whole processes: skrctl release and clevis luks pass (slot $slot), alternating, $CLEVIS_RUNS runs each"
else
	log "whole processes: skrctl release, $CLEVIS_RUNS runs (clevis not measured: $clevis_note)"
fi
python3 - "$tmpd/process.json" "$CLEVIS_RUNS" "$outdir/secret" "$tmpd/want.secret" "$clevis_ready" \
	"$img" "${slot:-0}" "$tmpd/clevis.pass" "${clevis_tcti:-}" -- \
	"$BUILD/skrctl" release --key-id bench-swtpm --broker "$RELEASE_URL" --ca "$bdir/ca.pem" \
	--tcti "$az_tcti" --timeout 30 --out "$outdir/secret" --json <<'PY' || die "whole-process timing failed"
import json, os, resource, subprocess, sys, time
(out, runs, secret_path, want_file, clevis_ready, img, slot, clevis_want_file,
 clevis_tcti) = sys.argv[1:10]
runs = int(runs)
skrctl = sys.argv[11:]
want = open(want_file, "rb").read()
clevis = clevis_ready == "1"
clevis_cmd = ["clevis", "luks", "pass", "-d", img, "-s", slot]
clevis_env = dict(os.environ, TPM2TOOLS_TCTI=clevis_tcti)
clevis_want = open(clevis_want_file, "rb").read() if clevis else b""
clevis_error = None

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def timed(argv, env=None):
    """Wall clock around one whole process tree (fork/exec, exit, reaped), and
    the user+sys CPU of that tree (swtpm and the broker are not in it)."""
    c0 = children_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    t1 = time.perf_counter()
    return r, (t1 - t0) * 1000, (children_cpu() - c0) * 1000

def run_skrctl():
    try:
        os.unlink(secret_path)
    except FileNotFoundError:
        pass
    r, ms, cpu = timed(skrctl)
    ok = r.returncode == 0 and os.path.exists(secret_path) and open(secret_path, "rb").read() == want
    try:
        # --json: skrctl's own timing of skr_release() inside the process.
        inner = json.loads(r.stdout)["total_ms"] if ok else None
    except (ValueError, KeyError):
        ok = False
    try:
        os.unlink(secret_path)
    except FileNotFoundError:
        pass
    if not ok:
        # stderr carries skrctl's reason, never the secret (that goes to --out only).
        sys.stderr.write("bench: skrctl release failed (exit %d, or the secret differs): %s\n"
                         % (r.returncode, r.stderr.decode(errors="replace").strip()[-400:]))
        sys.exit(1)
    return ms, cpu, inner

def run_clevis():
    r, ms, cpu = timed(clevis_cmd, clevis_env)
    if r.returncode != 0 or r.stdout != clevis_want:
        return None
    return ms, cpu

def stats(wall, cpu, inner=None):
    def pct(xs, p):
        xs = sorted(xs)
        rank = max(1, min(len(xs), int(p / 100 * len(xs) + 0.999999)))
        return round(xs[rank - 1], 3)
    s = {"runs": len(wall), "p50": pct(wall, 50), "p90": pct(wall, 90), "p99": pct(wall, 99),
         "min": round(min(wall), 3), "max": round(max(wall), 3),
         "cpu_ms_p50": pct(cpu, 50)}
    if inner:
        s["skr_release_inside_ms_p50"] = pct(inner, 50)
    return s

run_skrctl()                      # warm-up (page cache, the broker's caches)
if clevis and run_clevis() is None:
    clevis_error = "the clevis luks pass warm-up run failed"
    clevis = False
sw, sc, si, cw, cc = [], [], [], [], []
for i in range(runs):
    order = ("skrctl", "clevis") if i % 2 == 0 else ("clevis", "skrctl")
    for what in order:
        if what == "skrctl":
            ms, cpu, inner = run_skrctl()
            sw.append(ms)
            sc.append(cpu)
            si.append(inner)
        elif clevis:
            m = run_clevis()
            if m is None:
                clevis_error = "timed clevis luks pass run %d failed or printed another passphrase" % i
                clevis = False
                continue
            cw.append(m[0])
            cc.append(m[1])
res = {"skrctl": stats(sw, sc, si),
       "clevis": stats(cw, cc) if clevis else None,
       "clevis_error": clevis_error,
       "order": "alternating, ABBA (skrctl first on even runs), one warm-up run each"
                if clevis_ready == "1" else "skrctl only, one warm-up run"}
json.dump(res, open(out, "w"), indent=2)
s = res["skrctl"]
sys.stderr.write("bench: skrctl release (process): p50 %.1f ms, p90 %.1f, p99 %.1f, %d runs\n"
                 % (s["p50"], s["p90"], s["p99"], s["runs"]))
if res["clevis"]:
    c = res["clevis"]
    sys.stderr.write("bench: clevis luks pass (process): p50 %.1f ms, p90 %.1f, p99 %.1f, %d runs\n"
                     % (c["p50"], c["p90"], c["p99"], c["runs"]))
PY
if [ "$clevis_ready" = 1 ]; then
	clevis_error=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clevis_error"] or "")' "$tmpd/process.json")
	if [ -n "$clevis_error" ]; then
		clevis_note=$clevis_error
	else
		# Proof that clevis used its swtpm: a fresh TPM state cannot unseal the binding.
		stop_vtpm
		start_vtpm "$tmpd/tpm-clevis-fresh" || die "swtpm (fresh) did not start"
		if TPM2TOOLS_TCTI=$TCTI clevis luks pass -d "$img" -s "$slot" >/dev/null 2>&1; then
			clevis_note="clevis luks pass still works against a fresh swtpm: it did not use the swtpm"
		else
			clevis_ok=1
		fi
	fi
fi
stop_vtpm	# clevis's
vtpm_pid=$az_vtpm_pid
TCTI=$az_tcti
az_vtpm_pid=
stop_vtpm	# the load generator needs no TPM: its VMs are software
[ "$clevis_ok" = 1 ] || log "clevis baseline not measured: $clevis_note"


# 5. Broker throughput per CPU second with many software VMs.  The floor is
#    taken again first: the machine may be shared, and the best of the two
#    runs is the least disturbed one.
"$BENCH" floor --seconds 3 --out "$tmpd/floor2.json" || die "floor failed"
"$BENCH" verify --seconds 3 --out "$tmpd/verify2.json" || die "verify floor failed"
log "load: $VMS software VMs, concurrency $CONCURRENCY, ${LOAD_SECONDS} s each"
"$BENCH" load --broker "$RELEASE_URL" --admin "$ADMIN_URL" --token-file "$bdir/admin.token" \
	--ca "$bdir/ca.pem" --cadir "$tmpd/ca" --broker-pid "$broker_pid" --vms "$VMS" \
	--duration "$LOAD_SECONDS" --concurrency "$CONCURRENCY" --out "$tmpd/load.json" ||
	die "load run failed"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics.txt" 2>/dev/null

# profile_report PERF_DATA CONCURRENCY: the text of bench/results/profile.txt.
profile_report() {
	echo "# skr-broker under load: perf record -e cpu-clock -F 999 --call-graph dwarf -p PID"
	echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) x $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# broker threads $THREADS; load: bench_release load, 16 software VMs, closed loop at concurrency $2;"
	echo "# 8 s recorded inside the 10 s window (setup and warm-up excluded)"
	grep -h '^load: c=' "$tmpd/profile-load.log" | sed 's/^/# /'
	echo
	echo "## CPU by shared object (self time)"
	perf report -i "$1" --stdio --no-children --sort dso -g none --percent-limit 0.5 2>/dev/null |
		grep -v '^#' | grep -v '^$'
	echo
	echo "## Top functions, self time (>= 0.4%)"
	perf report -i "$1" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.4 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -60
	echo
	echo "## Inclusive time (children) of skr functions and chosen library entry points (>= 0.5%)"
	perf report -i "$1" --stdio --children --sort symbol -g none --percent-limit 0.5 2>/dev/null |
		grep -E '\] (skr_|verify_|check_|load_|parse_|wrap_|derive_|audit|key_|refset_|handle|serve_|MHD_|gnutls_|json_tokener_parse |EVP_DigestVerifyFinal|EC_POINT_mul|RSA_verify|ASN1_item_d2i|OSSL_DECODER_CTX_new|EC_GROUP_new|EVP_PKEY_Q_keygen|EVP_PKEY_fromdata|sqlite3_step|sqlite3_prepare|__GI_fdatasync|__GI_mlock|__GI___setsockopt|epoll_wait)' |
		head -80
}

# 6. Where the broker's CPU goes under load (perf, software clock; frame pointers
#    are absent in -O2 builds, so call chains come from DWARF unwinding).  The
#    load generator creates its ready file when setup is over; perf records 8 s
#    of the window that follows.
profile_note="not profiled (BENCH_PROFILE=0)"
if [ "$PROFILE" = 1 ]; then
	if command -v perf >/dev/null 2>&1 &&
	   perf record -q -e cpu-clock -o "$tmpd/probe.data" -- true >/dev/null 2>&1; then
		best=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best_concurrency"])' "$tmpd/load.json")
		log "profile: perf record of the broker at concurrency $best (8 s)"
		rm -f "$tmpd/ready"
		"$BENCH" load --broker "$RELEASE_URL" --admin "$ADMIN_URL" --token-file "$bdir/admin.token" \
			--ca "$bdir/ca.pem" --cadir "$tmpd/ca" --broker-pid "$broker_pid" --vms 16 \
			--duration 10 --concurrency "$best" --half-threads 0 --ready-file "$tmpd/ready" \
			--out "$tmpd/profile-load.json" 2>"$tmpd/profile-load.log" &
		load_pid=$!
		i=0
		while [ ! -e "$tmpd/ready" ] && kill -0 "$load_pid" 2>/dev/null && [ $i -lt 600 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		# Only the measured window: setup (admin API) and warm-up are over.
		sleep 0.5
		perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$broker_pid" \
			-o "$tmpd/perf.data" -- sleep 8 >/dev/null 2>&1 &
		perf_pid=$!
		wait "$perf_pid"
		perf_pid=
		wait "$load_pid" || log "profile load run failed: $(tail -3 "$tmpd/profile-load.log")"
		load_pid=
		profile_report "$tmpd/perf.data" "$best" > "$OUT/profile.txt" 2>"$tmpd/perf-report.log" &&
			profile_note="${OUT#"$top"/}/profile.txt" || profile_note="perf report failed"
	else
		profile_note="perf is not usable on this machine"
	fi
fi

# 6a. Memory over a long run: the broker's resident set sampled every 2 s
#     while BENCH_SOAK_RELEASES releases (100,000; 0: none) run at the best
#     concurrency; "flat" is every sample after the first tenth of the run
#     within ±10 % of the sample taken there (allocator warm-up excluded).
SOAK=${BENCH_SOAK_RELEASES:-100000}
soak_note="not run (BENCH_SOAK_RELEASES=0)"
if [ "$SOAK" -gt 0 ]; then
	soak_note=
	best=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best_concurrency"])' "$tmpd/load.json")
	secs=$(python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["max_releases_per_s"]
print(max(5, int(int(sys.argv[2]) / r * 1.1) + 1))' "$tmpd/load.json" "$SOAK")
	log "soak: about $SOAK releases at concurrency $best ($secs s), broker RSS sampled"
	"$BENCH" load --broker "$RELEASE_URL" --admin "$ADMIN_URL" --token-file "$bdir/admin.token" \
		--ca "$bdir/ca.pem" --cadir "$tmpd/ca" --broker-pid "$broker_pid" --vms "$VMS" \
		--duration "$secs" --concurrency "$best" --half-threads 0 --out "$tmpd/soak.json" \
		2>"$tmpd/soak.log" &
	load_pid=$!
	: > "$tmpd/rss.txt"
	while kill -0 "$load_pid" 2>/dev/null; do
		echo "$(date +%s.%N) $(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$broker_pid/status")" \
			>> "$tmpd/rss.txt"
		sleep 2
	done
	wait "$load_pid" || soak_note="the soak run failed: $(tail -2 "$tmpd/soak.log")"
	load_pid=
fi
stop_broker

# 6b. The same load against a broker whose store is PostgreSQL: a private
#     server (tests/cli/pg.sh) on loopback with fsync on, as SQLite's
#     synchronous=FULL, and a broker with the same configuration but its
#     "database".  The per-core figure is the broker's CPU, as for SQLite;
#     the server's own CPU over the same runs is reported beside it.
pg_note="not measured (BENCH_POSTGRESQL=0)"
if [ "${BENCH_POSTGRESQL:-1}" = 1 ]; then
	pg_note=
	if PG_FSYNC=on start_pg "$tmpd/pg"; then
		pdir=$tmpd/broker-pg
		mkdir -p "$pdir"
		python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["database"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=2)' "$bdir/broker.json" "$pdir/broker.json" "$PG_CONNINFO" ||
			die "broker config (PostgreSQL)"
		start_broker "$pdir" || die "broker on PostgreSQL did not start: $(cat "$pdir/broker.log")"
		log "load on PostgreSQL: broker pid $broker_pid"
		pg_cpu() { # CPU seconds of the server's processes so far
			python3 -c 'import os, sys
t = 0
for p in os.listdir("/proc"):
    try:
        if p.isdigit() and open("/proc/%s/comm" % p).read().strip() == "postgres" and \
           sys.argv[1] in open("/proc/%s/cmdline" % p).read() + os.readlink("/proc/%s/cwd" % p):
            f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
    except OSError:
        pass
print(t / os.sysconf("SC_CLK_TCK"))' "$PG_DIR"; }
		cpu0=$(pg_cpu)
		"$BENCH" load --broker "$RELEASE_URL" --admin "$ADMIN_URL" --token-file "$bdir/admin.token" \
			--ca "$bdir/ca.pem" --cadir "$tmpd/ca" --broker-pid "$broker_pid" --vms "$VMS" \
			--duration "$LOAD_SECONDS" --concurrency "$CONCURRENCY" --out "$tmpd/load-pg.json" ||
			pg_note="the load run on PostgreSQL failed"
		echo "$cpu0 $(pg_cpu)" > "$tmpd/pg-cpu.txt"
		stop_broker
		stop_pg
	else
		pg_note="PostgreSQL did not start"
	fi
	[ -z "$pg_note" ] || log "PostgreSQL: $pg_note"
fi

# 7. release.json.
python3 - "$tmpd" "$OUT/release.json" "$clevis_ok" "$clevis_note" "$THREADS" "$RUNS" \
	"$CLEVIS_RUNS" "$profile_note" "$started" "$loadavg_start" "$out_fs" "$top" "$pg_note" "$soak_note" <<'PY' || die "cannot write release.json"
import json, os, platform, re, subprocess, sys, time
(tmpd, out, clevis_ok, clevis_note, threads, runs, clevis_runs, profile, started, la0,
 out_fs, top, pg_note, soak_note) = sys.argv[1:]
metrics = {}
try:
    for line in open(os.path.join(tmpd, "metrics.txt")):
        m = re.match(r'(skr_chain_cache_total|skr_releases_total)\{([^}]*)\} (\d+)', line)
        if m:
            metrics[m.group(1) + "{" + m.group(2) + "}"] = int(m.group(3))
        m = re.match(r'(skr_audit_flushes_total|skr_audit_flushes_failed_total|'
                     r'skr_audit_flush_rows_total|skr_audit_flush_rows_max) (\d+)', line)
        if m:
            metrics[m.group(1)] = int(m.group(2))
except OSError:
    pass
lat = json.load(open(os.path.join(tmpd, "latency.json")))
unlock = json.load(open(os.path.join(tmpd, "unlock.json")))
load = json.load(open(os.path.join(tmpd, "load.json")))
proc = json.load(open(os.path.join(tmpd, "process.json")))
src = json.load(open(os.path.join(tmpd, "source.json")))
floors = [json.load(open(os.path.join(tmpd, f))) for f in ("floor.json", "floor2.json")]
floor = max(floors, key=lambda f: f["crypto_floor_per_s_per_core"])
verifies = [json.load(open(os.path.join(tmpd, f))) for f in ("verify.json", "verify2.json")]
verify = max(verifies, key=lambda f: f["verify_floor_per_s_per_core"])
vfl = verify["verify_floor_per_s_per_core"]
clevis = proc["clevis"] if clevis_ok == "1" else None
skrctl = proc["skrctl"]
model = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
r3 = lambda v: None if v is None else round(v, 3)
rps = load["broker_releases_per_s_per_core"]
# What a release cannot go below (issue 14): its TPM work, one TLS connection
# and the broker's verification.
client_floor = round(lat["release_tpm_ms_p50"] + lat["tls_connect_ms_p50"]
                     + verify["verify_us"] / 1000, 2)
# Memory over the soak run (step 6a).
soak = None
if not soak_note and os.path.exists(os.path.join(tmpd, "soak.json")):
    sj = json.load(open(os.path.join(tmpd, "soak.json")))
    samples = [(float(t), int(k)) for t, k in
               (l.split() for l in open(os.path.join(tmpd, "rss.txt")) if len(l.split()) == 2)]
    after = samples[len(samples) // 10:] if samples else []
    base = after[0][1] if after else None
    dev = max(abs(k - base) / base for _, k in after) if after else None
    soak = {"releases": sum(r["releases"] for r in sj["concurrency_table"]),
            "failures": sj["failures"], "concurrency": sj["best_concurrency"],
            "wall_s": round(sum(r["wall_s"] for r in sj["concurrency_table"]), 1),
            "rss_kib_first": samples[0][1] if samples else None,
            "rss_kib_at_tenth": base, "rss_kib_max": max(k for _, k in samples) if samples else None,
            "rss_kib_last": samples[-1][1] if samples else None, "samples": len(samples),
            "max_deviation_after_tenth": r3(dev),
            "basis": "VmRSS of skr-broker every 2 s; deviation of every later sample from the "
                     "one at a tenth of the run (allocator warm-up excluded)"}
# The PostgreSQL store under the same load (step 6b), when it was measured.
pg = None
if not pg_note and os.path.exists(os.path.join(tmpd, "load-pg.json")):
    lpg = json.load(open(os.path.join(tmpd, "load-pg.json")))
    c0, c1 = (float(x) for x in open(os.path.join(tmpd, "pg-cpu.txt")).read().split())
    pg = {"broker_releases_per_s_per_core": lpg["broker_releases_per_s_per_core"],
          "best_concurrency": lpg["best_concurrency"],
          "concurrency_table": lpg["concurrency_table"],
          "failures": lpg["failures"],
          "postgresql_cpu_s": round(c1 - c0, 2),
          "postgresql_cpu_ms_per_release":
              round(1000 * (c1 - c0) / max(1, sum(r["releases"] for r in lpg["concurrency_table"])), 2),
          "basis": "the same load generator, VMs and concurrency levels against a broker on a "
                   "private PostgreSQL on loopback (fsync on); releases per broker CPU second, "
                   "best level; postgresql_cpu_s: the server's processes over all levels "
                   "(the load generator's key setup included), per release in "
                   "postgresql_cpu_ms_per_release"}
fl = floor["crypto_floor_per_s_per_core"]
table = load["concurrency_table"]
levels = [row["concurrency"] for row in table]
best = load["best_concurrency"]
speedup = r3(clevis["p50"] / skrctl["p50"]) if clevis else None
process_note = (f"wall clock around each whole process from Python (spawn to exit and reap), "
                f"{skrctl['runs']} runs each, "
                + ("skrctl and clevis alternating run by run (ABBA) in the same run"
                   if clevis else "skrctl only") +
                f"; skrctl release writes the secret to --out on {out_fs} (checked against the "
                f"registered secret after every run); cpu_ms_p50 is the process tree's user+sys "
                f"(swtpm and the broker are other processes); skr_release_inside_ms_p50 is "
                f"skrctl's own timing of skr_release() inside the process (--json)")
res = {
    "speedup_vs_clevis": speedup,
    "speedup_vs_clevis_basis": ("p50 of clevis luks pass / p50 of skrctl release, both whole "
                                "processes timed the same way in the same run"),
    "skrctl_release_process_ms": skrctl,
    "clevis_tpm2_pass_process_ms": clevis,
    "process_timing": process_note,
    "clevis_note": (f"clevis luks pass of a clevis tpm2 binding (sha256 PCR 7) on a LUKS2 image file, "
                    f"its own swtpm via TPM2TOOLS_TCTI (verified: a fresh swtpm state cannot unseal it)")
                   if clevis else clevis_note,
    "release_in_process_ms": {"runs": lat["runs"], "p50": lat["release_latency_ms_p50"],
                              "p90": lat["release_latency_ms_p90"],
                              "p99": lat["release_latency_ms_p99"],
                              "min": lat["release_latency_ms_min"],
                              "max": lat["release_latency_ms_max"]},
    "speedup_vs_clevis_in_process": r3(clevis["p50"] / lat["release_latency_ms_p50"]) if clevis else None,
    "release_latency_ms_p50": lat["release_latency_ms_p50"],
    "release_latency_ms_p90": lat["release_latency_ms_p90"],
    "release_latency_ms_p99": lat["release_latency_ms_p99"],
    "release_tpm_ms_p50": lat["release_tpm_ms_p50"],
    "release_network_ms_p50": lat["release_network_ms_p50"],
    "tls_connect_ms_p50": lat["tls_connect_ms_p50"],
    "client_floor_ms": client_floor,
    "release_vs_client_floor": r3(lat["release_latency_ms_p50"] / client_floor),
    "client_floor_basis": ("release_tpm_ms_p50 (the TPM commands of a release, timed inside it "
                           "on the same swtpm: NV read, create, certify, quote, ECDH_ZGen) + "
                           "tls_connect_ms_p50 (one loopback TLS connection) + the broker's "
                           "verification CPU (verify_floor_us); release_vs_client_floor is the "
                           "in-process release p50 over it"),
    "clevis_tpm2_pass_ms_p50": clevis["p50"] if clevis else None,
    "clevis_tpm2_pass_ms_p90": clevis["p90"] if clevis else None,
    "clevis_tpm2_pass_ms_p99": clevis["p99"] if clevis else None,
    "skrctl_release_ms_p50": skrctl["p50"],
    "headline_per_core_throughput": {
        "value": rps,
        "unit": "releases per broker CPU second",
        "concurrency": best,
        "selection": f"best of {len(levels)} concurrency levels ({','.join(map(str, levels))})",
        "by_concurrency": {str(row["concurrency"]): row["releases_per_broker_cpu_s"] for row in table},
    },
    "broker_releases_per_s_per_core": rps,
    "release_p99_ms_at_half_load": load["release_p99_ms_at_half_load"],
    "crypto_floor_per_s_per_core": fl,
    "broker_vs_floor": r3(rps / fl),
    "verify_floor_per_s_per_core": vfl,
    "verify_floor_us": verify["verify_us"],
    "verify_floor_runs_per_s": [v["verify_floor_per_s_per_core"] for v in verifies],
    "verify_floor_basis": ("bench_release verify: the broker's verification of one release "
                           "in-process on one evidence, per CPU second of one thread (evidence "
                           "decoded and verified with a warm chain cache, certify checked, "
                           "secret wrapped; no HTTP, TLS, body parsing or database); best of "
                           "two runs"),
    "broker_vs_verify_floor": r3(rps / vfl),
    "postgresql": pg,
    "soak": soak,
    "soak_note": soak_note or None,
    "postgresql_note": pg_note or None,
    "postgresql_vs_verify_floor": r3(pg["broker_releases_per_s_per_core"] / vfl) if pg else None,
    "audit_group_commit": {k: metrics.get(k) for k in ("skr_audit_flushes_total",
                           "skr_audit_flushes_failed_total", "skr_audit_flush_rows_total",
                           "skr_audit_flush_rows_max")},
    **unlock,
    "goals": {
        "5x_faster_than_clevis": (speedup >= 5) if clevis else None,
        "800_releases_per_s_per_core": rps >= 800,
        "keyslot_open_at_most_5_ms": unlock["keyslot_open_ms_p50"] <= 5,
        "80_percent_of_crypto_floor": rps / fl >= 0.8,
        "80_percent_of_verify_floor": rps / vfl >= 0.8,
        "release_within_1_5x_client_floor": lat["release_latency_ms_p50"] <= 1.5 * client_floor,
        "rss_flat_within_10_percent": (soak["max_deviation_after_tenth"] <= 0.10
                                       and soak["releases"] >= 100000) if soak else None,
        "70_percent_of_verify_floor_on_postgresql":
            (pg["broker_releases_per_s_per_core"] / vfl >= 0.7) if pg else None,
    },
    "runs": int(runs),
    "release_failures": lat["failures"],
    "load": {
        "vms": load["vms"],
        "keys": "one key per software VM (own secret, same policy and reference set)",
        "window_s": load["duration_s"],
        "best_concurrency": best,
        "max_releases_per_s_wall": load["max_releases_per_s"],
        "half_load": {k: load.get(k) for k in ("recalibrated_max_releases_per_s",
                      "half_load_offered_releases_per_s", "half_load_releases_per_s",
                      "half_load_threads", "half_load_sustained")},
        "half_load_window": load.get("half_load_window"),
        "closest_to_half_concurrency": {"concurrency": load["closest_to_half_concurrency"],
                                        "releases_per_s": load["closest_to_half_releases_per_s"],
                                        "p99_ms": load["closest_to_half_p99_ms"]},
        "failures": load["failures"],
        "concurrency_table": table,
        "broker_metrics_after": metrics,
    },
    "crypto_floor_runs_per_s": [f["crypto_floor_per_s_per_core"] for f in floors],
    "crypto_floor_breakdown_us": {
        "ecdsa_p384_verify": floor["ecdsa_p384_verify_us"],
        "rsa2048_pkcs1_verify_x2": floor["rsa2048_verify_x2_us"],
        "p256_keygen_plus_ecdh": floor["p256_keygen_ecdh_us"],
    },
    "broker_threads": int(threads),
    "machine": {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
                "loadavg_at_start": la0,
                "loadavg_at_end": " ".join(open("/proc/loadavg").read().split()[:3])},
    **src,
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(started))),
    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "bench_seconds": int(time.time()) - int(started),
    "profile": profile,
}
json.dump(res, open(out, "w"), indent=2)
open(out, "a").write("\n")
PY
log "wrote $OUT/release.json in $(( $(date +%s) - started )) s"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); [print(f"  {k}: {v}") for k, v in r.items() if not isinstance(v, (dict, list))]' "$OUT/release.json"

# 8. The figures in bench/README.md and README.md come from this release.json
#    (bench/figures.py), when this run wrote bench/results.
if [ "${BENCH_README:-1}" != 0 ] && [ "$(cd "$OUT" && pwd -P)" = "$(cd "$top/bench/results" && pwd -P)" ]; then
	if [ "$clevis_ok" != 1 ]; then
		log "README figures not updated: no clevis figures ($clevis_note)"
	elif python3 "$top/bench/figures.py" "$OUT"; then
		log "updated the figures in bench/README.md and README.md"
	else
		die "bench/figures.py failed"
	fi
fi
