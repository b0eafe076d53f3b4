#!/bin/sh
# The one list of the Debian/Ubuntu packages skr's make targets need, and the
# step that installs the missing ones.  Used by `make check`, `make e2e`,
# `make bench`, `make fuzz`, `make package-test`, tools/demo.sh and .ci/run.
#
#   sh tools/deps.sh [--list] GROUP...
#
# Groups: build (compile skr), test (build + what `make check` runs), demo,
# e2e (QEMU boots), bench (clevis for the comparison, libcurl for the load
# generator), fuzz (clang/libFuzzer),
# package (Debian/RPM packaging).  Missing packages of the groups are
# installed with one apt-get call when run as root; otherwise it stops at once
# (exit 2) and prints the exact command to run.  --list prints the packages.
set -eu

build="build-essential pkg-config make python3 openssl ca-certificates
	libcryptsetup-dev libtss2-dev libssl-dev libjson-c-dev
	libmicrohttpd-dev libsqlite3-dev libpq-dev libcmocka-dev"
test="$build xxd clang libclang-rt-dev|libclang-rt-14-dev osslsigncode sbsigntool curl
	swtpm swtpm-tools tpm2-tools cryptsetup-bin util-linux python3-cryptography
	postgresql-15|postgresql faketime"
demo="$build curl swtpm swtpm-tools tpm2-tools cryptsetup-bin"
e2e="$build qemu-system-x86 ovmf debootstrap systemd-boot-efi mtools dosfstools
	fdisk e2fsprogs swtpm swtpm-tools cryptsetup-bin openssl util-linux iproute2
	clevis clevis-luks tang-common"
bench="$test libcurl4-openssl-dev clevis clevis-luks clevis-tpm2"
fuzz="$build clang libclang-rt-dev|libclang-rt-14-dev"
package="$build debhelper lintian rpm groff-base man-db systemd-container debootstrap"

list=false
[ "${1:-}" = --list ] && { list=true; shift; }
[ $# -gt 0 ] || { echo "usage: sh tools/deps.sh [--list] GROUP..." >&2; exit 2; }

want=
for g in "$@"; do
	case $g in
	build) want="$want $build" ;;
	test) want="$want $test" ;;
	demo) want="$want $demo" ;;
	e2e) want="$want $e2e" ;;
	bench) want="$want $bench" ;;
	fuzz) want="$want $fuzz" ;;
	package) want="$want $package" ;;
	*) echo "deps: unknown group '$g' (build test demo e2e bench fuzz package)" >&2; exit 2 ;;
	esac
done
want=$(printf '%s\n' $want | sort -u | tr '\n' ' ')
if $list; then
	echo "$want"
	exit 0
fi

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}
# "a|b": the first alternative installed, else the first the archive has
# (names differ between Debian 12 and Ubuntu releases).
pick() {
	for alt in $(echo "$1" | tr '|' ' '); do installed "$alt" && return 0; done
	for alt in $(echo "$1" | tr '|' ' '); do
		if apt-cache policy "$alt" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
			echo "$alt"
			return 0
		fi
	done
	echo "${1%%|*}"
}
missing=
for p in $want; do
	case $p in
	*'|'*) p=$(pick "$p") ;;
	*) installed "$p" && p= ;;
	esac
	[ -n "$p" ] && missing="$missing $p"
done
[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages for '$*':$missing" >&2
	echo "deps: run as root:  apt-get update && $cmd" >&2
	exit 2
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet (or stale ones): update first
# when the install cannot find a package.
if ! apt-get install -y -q --no-install-recommends $missing >&2; then
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends $missing >&2
fi
