# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=sh
# Shared by fuzz/run.sh and fuzz/campaign.sh (sourced, not run).

# Largest input worth trying per target (inputs the target bounds itself, plus
# room to probe those bounds); other targets get libFuzzer's default.
max_len() {
	case $1 in
	snp_report) echo 2048 ;;	# a report is 1184 bytes
	snp_certs) echo 8192 ;;	# 64 entries (1.5 KiB) plus room for certificates
	svsm_manifest) echo 4096 ;;	# 64 entries (1.5 KiB) plus a 314-byte EK and room
	tpms_attest) echo 4608 ;;	# TPMS_ATTEST is at most 4096 bytes
	hcl_report) echo 16384 ;;	# 1236-byte fixed part + claims
	evidence | broker_attested) echo 32768 ;;	# real bundles are about 8 KiB of JSON
	broker_answer) echo 70000 ;;	# probes the client's 64 KiB answer bound
	http_response) echo 70000 ;;	# probes the 64 KiB bound and the 16 KiB header bound
	eventlog | pe | predict) echo 65536 ;;	# the seed logs and images are up to 33 KiB
	*) echo "" ;;
	esac
}

# fuzz_inputs TOP NAME TMP: copies the regression inputs fuzz/regressions/NAME-*
# into TMP/regressions (made here) and prints the input directories for
# libFuzzer: TMP/work first (where new inputs go), then the seed corpus
# fuzz/corpus/NAME if there is one, then TMP/regressions if it holds any.
# Seeds and regressions are read in place or copied: never written to.
fuzz_inputs() {
	_top=$1 _name=$2 _tmp=$3
	mkdir -p "$_tmp/work" "$_tmp/regressions" || return 1
	_dirs="$_tmp/work"
	[ -d "$_top/fuzz/corpus/$_name" ] && _dirs="$_dirs $_top/fuzz/corpus/$_name"
	_n=0
	for _r in "$_top/fuzz/regressions/$_name"-*; do
		[ -f "$_r" ] || continue
		cp "$_r" "$_tmp/regressions/" && _n=$((_n + 1))
	done
	[ "$_n" -gt 0 ] && _dirs="$_dirs $_tmp/regressions"
	echo "$_dirs"
}

# The last value of libFuzzer's final statistic STAT in LOG (empty if none).
fuzz_stat() {
	sed -n "s/^stat::$2: *\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1
}
