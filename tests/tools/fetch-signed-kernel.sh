#!/bin/sh
# Fetches the signed Debian cloud kernel (a real Authenticode-signed PE, signed
# by Debian's Secure Boot key) into a cache for tests/cli/test_pe.sh, which
# cross-checks `skrctl pe hash` against osslsigncode on it.  Kernels are too
# large to commit, so CI runs this before the tests.  Idempotent: does nothing
# when a kernel is already cached.
#
#   tests/tools/fetch-signed-kernel.sh [CACHE_DIR]   (default /var/cache/skr/vectors)
set -eu
cache=${1:-${SKR_VECTOR_CACHE:-/var/cache/skr/vectors}}

for k in "$cache"/vmlinuz-*; do
	if [ -s "$k" ]; then
		echo "fetch-signed-kernel: cached: $k"
		exit 0
	fi
done

# The metapackage names the current ABI's image, e.g. linux-image-6.1.0-56-cloud-amd64.
pkg=$(apt-cache depends linux-image-cloud-amd64 |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "fetch-signed-kernel: cannot resolve linux-image-cloud-amd64 (run apt-get update?)" >&2
	exit 1
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download writes to the current directory and may drop privileges
# to _apt; a world-writable scratch directory keeps it from warning.
chmod 0777 "$work"
(cd "$work" && apt-get download -q "$pkg")
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/root"
for k in "$work"/root/boot/vmlinuz-*; do
	[ -s "$k" ] || continue
	# Rename into place last so an interrupted run leaves no partial kernel.
	cp "$k" "$work/kernel"
	mv "$work/kernel" "$cache/$(basename "$k")"
	echo "fetch-signed-kernel: fetched $cache/$(basename "$k") from $pkg"
	exit 0
done
echo "fetch-signed-kernel: $pkg has no /boot/vmlinuz-*" >&2
exit 1
