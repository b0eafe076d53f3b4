#!/bin/sh
# The boot-storm benchmark (`make bench-storm`, issue 18): writes
# bench/results/storm.json.  See bench/README.md, "Boot storm".
#
#   sh bench/storm.sh [BUILD]      BUILD defaults to build (the optimized build)
#
# One real skr-broker (SQLite, the default store, in a temporary directory;
# real TLS on 127.0.0.1, ports it picks) and tests/tools/skr-storm: STORM_VMS
# software VMs (64; each its own key, secret, chip, VCEK and AK), one thread
# each, SKR_STORM_RELEASES releases in all (100000), each a challenge, the
# VM's evidence, the release and the unwrap, over a new TLS connection per
# request as the real client does (src/vm/https.c).  While it runs the
# broker's VmRSS (/proc/PID/status) is sampled every second.  Asserted (exit
# 1 when any fails; the script is the test of the criteria):
#   - zero failed releases: every VM got its own secret back, byte for byte;
#   - one audit row per decision: every successful release has exactly one
#     "release" "allow" row (matched by the SHA-256 of its request body, the
#     row's evidence_digest), there is no allow row beyond them, and the only
#     other "release" rows are the "deny nonce_replayed" rows of the replays
#     skr-storm posts at the end (each refused); the audit seq runs 1..n;
#   - the broker's RSS flat: every sample taken after the first STORM_WARMUP
#     percent (10) of the releases within ±STORM_RSS_TOLERANCE percent (10)
#     of those samples' median.
# Reported: latency p50/p90/p99/max of the releases as the VMs measured them
# (retries included), throughput, the broker's CPU per release.
#
# Knobs (environment): SKR_STORM_RELEASES (100000), STORM_VMS (64, at most
# 256), STORM_THREADS (broker thread pool, 2), STORM_DEADLINE_MS (60000, per
# release), STORM_WARMUP (10, percent), STORM_RSS_TOLERANCE (10, percent),
# BENCH_OUT (bench/results).
#
# Everything it starts (the broker, the load generator) is stopped and its
# temporary files removed on every exit path: the EXIT trap, and a watchdog
# for a kill -9 of this shell.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
RELEASES=${SKR_STORM_RELEASES:-100000}
VMS=${STORM_VMS:-64}
THREADS=${STORM_THREADS:-2}
DEADLINE_MS=${STORM_DEADLINE_MS:-60000}
WARMUP=${STORM_WARMUP:-10}
TOLERANCE=${STORM_RSS_TOLERANCE:-10}
OUT=${BENCH_OUT:-$top/bench/results}

log() { echo "storm: $*" >&2; }
die() { log "FAIL $*"; exit 1; }

if [ -z "${MAKELEVEL:-}" ]; then
	rel=${BUILD#"$top"/}
	make -j2 BUILD="$rel" "$rel/skr-broker" "$rel/tools/skr-storm" >&2 || die "build failed"
fi
for b in "$BUILD/skr-broker" "$BUILD/tools/skr-storm"; do
	[ -x "$b" ] || die "$b is missing (run make bench-storm)"
done
for t in python3 openssl; do
	command -v $t >/dev/null 2>&1 || die "$t is not installed (see README.md, Build and test)"
done

tmpd=$(mktemp -d "${TMPDIR:-/tmp}/skr-storm.XXXXXX") || exit 1
SKR_TEST_DB=sqlite
unset BROKER_DATABASE
. "$top/tests/cli/broker.sh"
. "$top/bench/lib.sh"
storm_pid=
pids=$tmpd/pids
: > "$pids"
# The watchdog: once this shell is gone (even by kill -9, which runs no
# trap), it kills what is listed in $pids and removes the files.
(
	trap '' HUP INT TERM
	while kill -0 $$ 2>/dev/null; do sleep 1; done
	[ -s "$pids" ] && kill -9 $(cat "$pids") 2>/dev/null
	rm -rf "$tmpd"
) </dev/null >/dev/null 2>&1 &
cleanup() {
	[ -n "$storm_pid" ] && { kill -9 "$storm_pid" 2>/dev/null; wait "$storm_pid" 2>/dev/null; }
	stop_broker KILL
	: > "$pids"
	rm -rf "$tmpd"
}
bench_exit_traps cleanup

# Run copies: a rebuild during the run changes nothing.
mkdir -p "$tmpd/bin/tools"
cp "$BUILD/skr-broker" "$tmpd/bin/" && cp "$BUILD/tools/skr-storm" "$tmpd/bin/tools/" ||
	die "cannot copy the binaries"
BUILD=$tmpd/bin
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
# The source the binaries were built from, before anything is written.
python3 - "$top" "$tmpd/source.json" <<'PY' || die "cannot record the commit"
import json, subprocess, sys
top, out = sys.argv[1:]
def git(*a):
    r = subprocess.run(["git", "-C", top, *a], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None
head = (git("rev-parse", "HEAD") or "").strip() or None
st = git("status", "--porcelain", "--untracked-files=normal")
own = "bench/results/"
dirty = None if st is None else sorted({l[3:] for l in st.splitlines()
                                        if l[3:] and not l[3:].startswith(own)})
json.dump({"commit": head, "commit_short": head[:7] if head else None,
           "tree_dirty": None if dirty is None else bool(dirty),
           "dirty_paths": dirty[:20] if dirty else [],
           "dirty_check": "git status --porcelain at the start of the run; bench/results/ excluded"},
          open(out, "w"))
PY
mkdir -p "$OUT" || die "cannot make $OUT"

bdir=$tmpd/broker sdir=$tmpd/storm
mkdir -p "$bdir" "$sdir"
# The load generator makes its VMs first: the broker must trust their CA.
log "$VMS software VMs, $RELEASES releases, broker with $THREADS threads (SQLite)"
"$BUILD/tools/skr-storm" --dir "$sdir" --vms "$VMS" --releases "$RELEASES" \
	--deadline-ms "$DEADLINE_MS" >"$sdir/summary" 2>"$sdir/log" &
storm_pid=$!
echo "$storm_pid" >> "$pids"
i=0
while [ ! -s "$sdir/trust.pem" ] && [ $i -lt 1200 ]; do
	kill -0 "$storm_pid" 2>/dev/null || die "storm-setup: $(cat "$sdir/log")"
	sleep 0.1
	i=$((i + 1))
done
[ -s "$sdir/trust.pem" ] || die "storm-setup: no trust.pem after 120 s"
make_tls "$bdir" || die "tls material"
write_broker_config "$bdir" "$sdir/trust.pem" || die "broker configuration"
# The broker's defaults but two: its thread pool, and the connections one
# client address may hold (32 by default): a fleet's VMs come from as many
# addresses, here they all share 127.0.0.1.  The nonce lifetime stays 60 s.
sed -i "s|\"threads\": 2|\"threads\": $THREADS, \"per_client_connections\": $((VMS * 2 + 16))|" \
	"$bdir/broker.json"
start_broker "$bdir" || die "broker-start: $(cat "$bdir/broker.log")"
bpid=$broker_pid
echo "$bpid" >> "$pids"
printf '%s\n%s\n%s\n%s\n' "$ADMIN_URL" "$bdir/admin.token" "$bdir/ca.pem" "$RELEASE_URL" \
	> "$sdir/go.tmp" && mv "$sdir/go.tmp" "$sdir/go"

# Every second while the storm runs: time, the broker's VmRSS (kB), the
# releases done (ok.txt lines; skr-storm buffers a few), its CPU ticks.
sample() {
	rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$bpid/status" 2>/dev/null)
	cpu=$(cut -d' ' -f14,15 "/proc/$bpid/stat" 2>/dev/null)
	n=0
	[ -f "$sdir/ok.txt" ] && n=$(wc -l < "$sdir/ok.txt")
	echo "$(date +%s.%N) ${rss:-0} $n ${cpu:-0 0}"
}
: > "$tmpd/rss.txt"
next=$(($(date +%s) + 60))
while kill -0 "$storm_pid" 2>/dev/null; do
	sample >> "$tmpd/rss.txt"
	kill -0 "$bpid" 2>/dev/null || die "broker-alive: the broker died during the storm: $(tail -5 "$bdir/broker.log")"
	if [ "$(date +%s)" -ge "$next" ]; then
		log "$(tail -1 "$tmpd/rss.txt" | awk '{print $3 " releases done, broker RSS " $2 " kB"}')"
		next=$((next + 60))
	fi
	sleep 1
done
wait "$storm_pid"
storm_rc=$?
storm_pid=
sample > "$tmpd/rss_end.txt"
log "$(cat "$sdir/summary")"
[ "$storm_rc" = 0 ] || sed 's/^/storm: log: /' "$sdir/log" | tail -20 >&2
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics.txt" 2>/dev/null ||
	log "no /metrics"
kill -0 "$bpid" 2>/dev/null && broker_alive=1 || broker_alive=0
# Stopped before the database is read: every answered release's row is
# committed before its answer, so stopping loses nothing.
stop_broker TERM
sed -i "/^$bpid\$/d" "$pids"

python3 - "$tmpd" "$sdir" "$bdir/broker.db" "$OUT/storm.json" "$RELEASES" "$VMS" "$THREADS" \
	"$DEADLINE_MS" "$WARMUP" "$TOLERANCE" "$storm_rc" "$broker_alive" "$loadavg_start" \
	"$started" <<'PY'
import collections, json, math, os, platform, re, sqlite3, sys, time
(tmpd, sdir, db, out, releases, vms, threads, deadline_ms, warmup, tol, storm_rc,
 broker_alive, la0, started) = sys.argv[1:]
releases, vms, warmup, tol = int(releases), int(vms), float(warmup), float(tol)
fails = []
def check(name, cond, why=""):
    print(("storm: PASS %s" % name) if cond else ("storm: FAIL %s: %s" % (name, why)), file=sys.stderr)
    if not cond:
        fails.append(name)
summary = open(sdir + "/summary").read().strip()
f = dict(re.findall(r"(\w+)=([0-9.,/]+)", summary))
ok_n = int(f.get("ok", 0))
failed_n = int(f.get("failed", -1))
wall_s = float(f.get("wall_s", 0))
refused, tried = (int(x) for x in f.get("replays_refused", "0/0").split("/"))
check("storm-exit", storm_rc == "0", "skr-storm exited %s: %s" % (storm_rc, summary))
check("zero-failed-releases", ok_n == releases and failed_n == 0,
      "ok=%d failed=%d of %d" % (ok_n, failed_n, releases))
check("replays-refused", tried > 0 and refused == tried, "%d of %d" % (refused, tried))
check("broker-alive-at-end", broker_alive == "1", "the broker was gone")

# The audit: one row per decision.
c = sqlite3.connect(db, timeout=30)
allow = collections.Counter(r[0] for r in c.execute(
    "SELECT lower(hex(evidence_digest)) FROM audit WHERE action = 'release' AND verdict = 'allow'"))
other = [r[0] for r in c.execute("SELECT verdict || ' ' || coalesce(reason, '') FROM audit "
                                 "WHERE action = 'release' AND verdict <> 'allow'")]
rows = c.execute("SELECT count(*), min(seq), max(seq) FROM audit").fetchone()
head = c.execute("SELECT seq FROM audit_head").fetchall()
nonces = c.execute("SELECT count(*) FROM used_nonces").fetchone()[0]
c.close()
ok = [l.split() for l in open(sdir + "/ok.txt") if l.strip()]
bodies = [l[0] for l in ok]
bad = [b for b in bodies if allow[b] != 1]
check("one-allow-row-per-release", ok and not bad,
      "%d of %d successful releases without exactly one allow row" % (len(bad), len(ok)))
extra = set(allow) - set(bodies)
check("no-allow-row-without-a-release", not extra and sum(allow.values()) == len(ok),
      "%d allow rows, %d releases, %d rows no VM received" % (sum(allow.values()), len(ok), len(extra)))
check("no-other-release-row-but-the-replays", other == ["deny nonce_replayed"] * tried,
      "%d other rows (%d replays): %s" % (len(other), tried, sorted(set(other))[:3]))
check("audit-seq-without-gaps", rows[1] == 1 and rows[2] == rows[0] and head == [(rows[0],)],
      "%d rows, seq %s..%s, head %s" % (rows[0], rows[1], rows[2], head))

# Latency as the VMs measured it.
lat = sorted(float(l) for l in open(sdir + "/latency.txt") if l.strip())
def rank(p):
    return round(lat[max(0, math.ceil(p / 100 * len(lat)) - 1)], 2) if lat else None
check("a-latency-per-release", len(lat) == ok_n, "%d latencies, %d releases" % (len(lat), ok_n))
latency = {"releases": len(lat), "p50": rank(50), "p90": rank(90), "p99": rank(99),
           "p999": rank(99.9), "max": round(lat[-1], 2) if lat else None,
           "min": round(lat[0], 2) if lat else None,
           "mean": round(sum(lat) / len(lat), 2) if lat else None}

# RSS after the warm-up.
samples = []
for l in open(tmpd + "/rss.txt"):
    t, rss, n, ut, st = l.split()
    samples.append((float(t), int(rss), int(n), int(ut) + int(st)))
end = open(tmpd + "/rss_end.txt").read().split()
after = [s for s in samples if s[2] >= releases * warmup / 100 and s[1] > 0]
rss = None
if after:
    v = sorted(s[1] for s in after)
    med = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    rss = {"samples_after_warmup": len(v), "samples_total": len(samples),
           "warmup": "the samples taken before %g %% of the releases were done (%d)"
                     % (warmup, int(releases * warmup / 100)),
           "min_kb": v[0], "median_kb": med, "max_kb": v[-1],
           "min_over_median": round(v[0] / med, 4), "max_over_median": round(v[-1] / med, 4),
           "max_over_min": round(v[-1] / v[0], 4),
           "first_sample_kb": samples[0][1], "at_warmup_end_kb": after[0][1],
           "at_end_kb": int(end[1]), "tolerance_percent": tol,
           "series_kb_by_releases_done": [[s[2], s[1]] for s in samples[::max(1, len(samples) // 60)]]}
check("rss-sampled-after-warmup", after and len(after) >= 5,
      "%d samples after the warm-up" % len(after))
if rss:
    check("rss-flat-within-%g-percent" % tol,
          rss["min_over_median"] >= 1 - tol / 100 and rss["max_over_median"] <= 1 + tol / 100,
          "min %d / median %g / max %d kB" % (rss["min_kb"], rss["median_kb"], rss["max_kb"]))
tick = os.sysconf("SC_CLK_TCK")
cpu_s = (int(end[3]) + int(end[4]) - samples[0][3]) / tick if samples else None
metrics = {}
for l in open(tmpd + "/metrics.txt") if os.path.exists(tmpd + "/metrics.txt") else []:
    m = re.match(r"^((?:skr_audit_flush|skr_connections_refused|skr_releases_total|skr_challenges)"
                 r"[^\s]*)\s+([0-9.e+]+)$", l)
    if m:
        metrics[m.group(1)] = float(m.group(2))
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
res = {
    "what": ("boot storm (issue 18): one skr-broker (SQLite, real TLS on 127.0.0.1), "
             "tests/tools/skr-storm software VMs, one thread each, new TLS connection per request"),
    "passed": not fails,
    "failed_checks": fails,
    "releases": releases,
    "vms": vms,
    "ok": ok_n,
    "failed": failed_n,
    "attempts": int(f.get("attempts", 0)),
    "retries": int(f.get("retries", 0)),
    "audit": {"allow_rows": sum(allow.values()), "allow_rows_matching_a_release":
              sum(1 for b in bodies if allow[b] == 1), "other_release_rows": len(other),
              "other_release_rows_are": sorted(set(other)), "replays_posted": tried,
              "replays_refused": refused, "audit_rows_total": rows[0],
              "used_nonces_at_end": nonces,
              "one_row_per_decision": ("allow_rows == ok, each successful request body's "
                                       "digest exactly once, and the only other release rows "
                                       "are the replays' deny nonce_replayed rows")},
    "latency_ms": latency,
    "latency_basis": ("per release, as the VM measured it (CLOCK_MONOTONIC): first challenge to "
                      "the secret unwrapped and checked; software evidence, two HTTPS requests "
                      "each on a new TLS connection, retries included; nearest rank"),
    "wall_s": wall_s,
    "releases_per_s": round(ok_n / wall_s, 1) if wall_s else None,
    "broker_cpu_s": round(cpu_s, 1) if cpu_s is not None else None,
    "broker_cpu_ms_per_release": round(cpu_s * 1000 / ok_n, 3) if cpu_s and ok_n else None,
    "broker_cpu_basis": "utime+stime of skr-broker from the storm's start (VM registration included) to its end",
    "rss": rss,
    "broker": {"store": "sqlite", "threads": int(threads), "nonce_ttl_s": 60,
               "per_client_connections": vms * 2 + 16, "deadline_ms_per_release": int(deadline_ms)},
    "broker_metrics_after": metrics,
    "summary_line": summary,
    "machine": {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
                "loadavg_at_start": la0,
                "loadavg_at_end": " ".join(open("/proc/loadavg").read().split()[:3])},
    **json.load(open(tmpd + "/source.json")),
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(started))),
    "bench_seconds": int(time.time()) - int(started),
}
json.dump(res, open(out, "w"), indent=2)
open(out, "a").write("\n")
r = res["rss"] or {}
print("storm: %d releases, %d VMs: %d failed; %d allow rows (+%d replay denials); "
      "latency p50 %s p90 %s p99 %s max %s ms; %s releases/s over %.1f s; broker RSS "
      "min/median/max %s/%s/%s kB (%s..%s of the median); %s"
      % (releases, vms, failed_n, sum(allow.values()), len(other), latency["p50"], latency["p90"],
         latency["p99"], latency["max"], res["releases_per_s"], wall_s, r.get("min_kb"),
         r.get("median_kb"), r.get("max_kb"), r.get("min_over_median"), r.get("max_over_median"),
         "PASS" if not fails else "FAIL: " + ", ".join(fails)), file=sys.stderr)
print("storm: wrote %s" % out, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
