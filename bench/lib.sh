# SPDX-License-Identifier: Apache-2.0
# Sourced by the benchmarks (bench/*.sh): what each of them does around its
# measurements, in one place.

# bench_exit_traps CLEANUP: CLEANUP (a command string) runs on every exit
# path; a signal ends the script with the shell's usual status, through it.
bench_exit_traps() {
	trap "$1" EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_stamp: what a result file records about its run: loadavg_start,
# started (UTC, ISO 8601) and commit.
bench_stamp() {
	loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
	started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	commit=$(git -C "$top" rev-parse HEAD 2>/dev/null)
}
