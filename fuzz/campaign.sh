#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The long fuzzing campaign (issue 18): every libFuzzer target of a build
# directory for FUZZ_CAMPAIGN_SECONDS each (default 600), one target at a
# time, accumulated across sessions in bench/results/fuzz-campaign.json.
#
#   [FUZZ_CAMPAIGN_SECONDS=N] [FUZZ_CAMPAIGN_UNTIL=HH:MM] sh fuzz/campaign.sh BUILD_DIR
#
# A target already recorded in the results with at least N seconds and no
# crash is skipped, so running the campaign again carries on where the last
# session stopped.  Each target starts from its seed corpus fuzz/corpus/NAME
# and its regression inputs fuzz/regressions/NAME-* (as fuzz/run.sh, with the
# same -max_len, fuzz/lib.sh) into a temporary working corpus that is thrown
# away afterwards: fuzz/corpus is never written to.  After each target the
# results file is rewritten atomically (a temporary file renamed over it), so
# an interrupted campaign keeps every target that finished.
#
# Per target it records: seconds (wall clock), execs
# (stat::number_of_executed_units), cov and ft (the last "cov: N ft: M" line
# of libFuzzer), corpus (the in-memory corpus of that line), the seed and
# regression inputs it started from, max_len, date, git commit (with
# "-dirty" if src/ or fuzz/ had uncommitted changes) and crashes: 0, or the
# names of the crash/leak/timeout artifacts, which are kept in
# BUILD_DIR/fuzz-campaign/NAME/ (a crash input is to be minimized, fixed and
# committed as fuzz/regressions/NAME-*; never committed from there as is).
#
# FUZZ_CAMPAIGN_UNTIL=HH:MM (UTC, today) starts no target that could not
# finish by then.  FUZZ_CAMPAIGN_RESULTS=FILE writes elsewhere (tests).
# FUZZ_CAMPAIGN_TARGETS="a b" runs only those, in that order.  At the end,
# fuzz/campaign-table.py rewrites the campaign's table in bench/README.md
# (not with FUZZ_CAMPAIGN_RESULTS, nor with FUZZ_CAMPAIGN_README=0).
# Exits 0 if no target crashed this time, 1 if one did, 2 on a usage error.
set -u

usage() {
	echo "usage: [FUZZ_CAMPAIGN_SECONDS=N] [FUZZ_CAMPAIGN_UNTIL=HH:MM] sh fuzz/campaign.sh BUILD_DIR" >&2
	exit 2
}

[ $# -eq 1 ] || usage
build=$1
seconds=${FUZZ_CAMPAIGN_SECONDS:-600}
case $seconds in
'' | *[!0-9]* | 0)
	echo "fuzz-campaign: FUZZ_CAMPAIGN_SECONDS must be a positive number of seconds, not '$seconds'" >&2
	exit 2
	;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$build" ] || {
	echo "fuzz-campaign: no build directory $build" >&2
	exit 2
}
build=$(cd "$build" && pwd)
results=${FUZZ_CAMPAIGN_RESULTS:-$top/bench/results/fuzz-campaign.json}
until_epoch=
if [ -n "${FUZZ_CAMPAIGN_UNTIL:-}" ]; then
	until_epoch=$(date -u -d "$FUZZ_CAMPAIGN_UNTIL" +%s 2>/dev/null) || {
		echo "fuzz-campaign: FUZZ_CAMPAIGN_UNTIL must be a time such as 12:05, not '$FUZZ_CAMPAIGN_UNTIL'" >&2
		exit 2
	}
fi

# max_len, fuzz_inputs, fuzz_stat
# shellcheck source=fuzz/lib.sh
. "$top/fuzz/lib.sh"

# The parsers of attacker-controlled bytes first (the host, the network, the
# LUKS header, a hostile client), then the rest in name order.
first="evidence broker_attested broker_answer http_response token cmdline gate
snp_report snp_certs svsm_manifest hcl_report tpms_attest akcert vcek_ext eventlog pe
local_policy jwk policy broker_refvals broker_admin wrap_key predict
broker_views audit_log"
if [ -n "${FUZZ_CAMPAIGN_TARGETS:-}" ]; then
	order=$FUZZ_CAMPAIGN_TARGETS
else
	order=
	for n in $first; do
		[ -x "$build/fuzz_$n" ] && order="$order $n"
	done
	for bin in "$build"/fuzz_*; do
		[ -f "$bin" ] || continue
		[ -x "$bin" ] || continue
		n=${bin##*/fuzz_}
		case " $order " in *" $n "*) ;; *) order="$order $n" ;; esac
	done
fi
[ -n "$order" ] || {
	echo "fuzz-campaign: no fuzz_* binaries in $build" >&2
	exit 2
}

# done_already NAME: true if the results hold NAME with >= $seconds and no crash.
done_already() {
	[ -f "$results" ] || return 1
	python3 - "$results" "$1" "$seconds" <<'EOF'
import json, sys
try:
    t = json.load(open(sys.argv[1]))["targets"][sys.argv[2]]
except (KeyError, ValueError, OSError):
    sys.exit(1)
sys.exit(0 if t.get("seconds", 0) >= int(sys.argv[3]) and t.get("crashes") == 0 else 1)
EOF
}

# record NAME KEY=VALUE...: sets the results' entry for NAME, atomically.
record() {
	python3 - "$results" "$seconds" "$@" <<'EOF'
import json, os, sys, tempfile
path, requested, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    data = json.load(open(path))
except (OSError, ValueError):
    data = {}
data.setdefault("description",
    "fuzz/campaign.sh: each libFuzzer target run alone on one core for "
    "'seconds' (wall clock) from fuzz/corpus/NAME and fuzz/regressions/NAME-*; "
    "execs is stat::number_of_executed_units, cov/ft the last 'cov: N ft: M' "
    "line (edges and features), corpus that line's in-memory corpus")
data["requested_seconds"] = requested
entry = {}
for kv in sys.argv[4:]:
    k, v = kv.split("=", 1)
    if k == "crashes":
        entry[k] = v.split() if v else 0
    elif k in ("seconds", "execs", "cov", "ft", "corpus", "seeds",
               "regressions", "max_len", "exit"):
        entry[k] = int(v) if v != "" else None
    else:
        entry[k] = v
targets = data.setdefault("targets", {})
targets[name] = entry
data["targets"] = dict(sorted(targets.items()))
d = os.path.dirname(os.path.abspath(path))
fd, tmp = tempfile.mkstemp(prefix=".fuzz-campaign.", dir=d)
with os.fdopen(fd, "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, path)
EOF
}

commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain --untracked-files=no -- src fuzz 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi

tmp=
trap '[ -n "$tmp" ] && rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

status=0
for name in $order; do
	bin=$build/fuzz_$name
	[ -x "$bin" ] || {
		echo "fuzz-campaign $name: no $bin, skipped"
		status=1
		continue
	}
	if done_already "$name"; then
		echo "fuzz-campaign $name: already done for >= $seconds s, skipped"
		continue
	fi
	if [ -n "$until_epoch" ] && [ $(($(date +%s) + seconds + 30)) -gt "$until_epoch" ]; then
		echo "fuzz-campaign $name: would not finish by $FUZZ_CAMPAIGN_UNTIL, stopping"
		break
	fi

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/skr-fuzz-campaign-$name.XXXXXX") || exit 2
	mkdir "$tmp/artifacts" || exit 2
	dirs=$(fuzz_inputs "$top" "$name" "$tmp") || exit 2
	nseeds=$(find "$top/fuzz/corpus/$name" -type f 2>/dev/null | wc -l)
	nregress=$(find "$tmp/regressions" -type f | wc -l)

	set -- -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
		-max_total_time="$seconds" -artifact_prefix="$tmp/artifacts/"
	len=$(max_len "$name")
	[ -n "$len" ] && set -- "$@" -max_len="$len"

	echo "fuzz-campaign $name: $seconds s from $nseeds seeds and $nregress regressions ($(date -u +%H:%M:%S))"
	start=$(date +%s)
	# shellcheck disable=SC2086 # $dirs: paths from mktemp and the tree, no spaces
	"$bin" "$@" $dirs >"$tmp/log" 2>&1
	rc=$?
	elapsed=$(($(date +%s) - start))

	execs=$(fuzz_stat "$tmp/log" number_of_executed_units)
	# The last status line: "#N  REDUCE cov: 1234 ft: 5678 corp: 90/12Kb ..."
	last=$(grep -E '^#[0-9]+.* cov: [0-9]+ ft: [0-9]+' "$tmp/log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')

	crashes=
	artifacts=$(ls "$tmp/artifacts" 2>/dev/null)
	if [ -n "$artifacts" ]; then
		mkdir -p "$build/fuzz-campaign/$name"
		for a in $artifacts; do
			cp "$tmp/artifacts/$a" "$build/fuzz-campaign/$name/$a"
			crashes="$crashes $a"
		done
		cp "$tmp/log" "$build/fuzz-campaign/$name/log"
	elif [ "$rc" -ne 0 ] || [ -z "$execs" ]; then
		# Failed without an artifact (killed, out of memory outside a unit...).
		mkdir -p "$build/fuzz-campaign/$name"
		cp "$tmp/log" "$build/fuzz-campaign/$name/log"
		crashes="no-artifact-exit-$rc"
	fi
	crashes=${crashes# }

	record "$name" seconds="$elapsed" execs="${execs:-}" cov="${cov:-}" \
		ft="${ft:-}" corpus="${corp:-}" seeds="$nseeds" regressions="$nregress" \
		max_len="${len:-}" exit="$rc" date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		commit="$commit" crashes="$crashes" || {
		echo "fuzz-campaign: could not write $results" >&2
		exit 2
	}
	if [ -n "$crashes" ]; then
		echo "fuzz-campaign $name: FAILED (exit $rc) after ${execs:-?} execs in $elapsed s: $crashes"
		echo "fuzz-campaign $name: kept in $build/fuzz-campaign/$name/ (log there)"
		status=1
	else
		echo "fuzz-campaign $name: $execs execs in $elapsed s, cov $cov ft $ft corpus $corp"
	fi
	rm -rf "$tmp"
	tmp=
done

# What is left for a later session.
left=
for name in $order; do
	done_already "$name" || left="$left $name"
done
if [ -n "$left" ]; then
	echo "fuzz-campaign: not done yet (< $seconds s or crashed):$left"
else
	echo "fuzz-campaign: every target done for >= $seconds s"
fi
# The table of bench/README.md, when the results are the tree's own.
if [ -z "${FUZZ_CAMPAIGN_RESULTS:-}" ] && [ "${FUZZ_CAMPAIGN_README:-1}" != 0 ]; then
	python3 "$top/fuzz/campaign-table.py" "$results" >/dev/null || status=1
fi
exit "$status"
