#!/bin/sh
# Proves the README's test command on a machine that has never built skr:
# a Debian 12 root made by `debootstrap --variant=minbase` (no compiler, no
# make, none of skr's libraries), the source tree copied in, and then only
#
#   sh tools/check.sh SKR_TESTS="$SKR_FRESH_TESTS"
#
# run inside it with systemd-nspawn.  The command must install what it needs
# (one apt-get call from tools/deps.sh), build everything (the whole `make
# check` build: programs, plugin, every unit test and tool, under ASan/UBSan)
# and pass the representative part of the tests named below — the full suite
# already runs on the host in the same CI run.  The minbase root is cached in
# /var/cache/skr/fresh (keyed by this script); the copy it runs in is
# temporary.  Needs root, debootstrap and systemd-nspawn (systemd-container).
#
# Also checks the other side of the contract: as a non-root user with the
# packages missing, the command stops at once (exit 2) and prints the exact
# apt-get command.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${SKR_CACHE:-/var/cache/skr}/fresh
mirror=${SKR_MIRROR:-http://deb.debian.org/debian}
# Unit tests of the parsers and verifiers, the broker's store, the swtpm-backed
# TPM and release path, and the CLI scripts for release and unlock (swtpm, TLS
# broker, libcryptsetup on LUKS2 images, the token plugin).
tests=${SKR_FRESH_TESTS:-test_snp test_wrap test_store test_tpm test_release.sh test_unlock.sh}

# Bump the version to rebuild the cached root.
base=$cache/minbase-bookworm-1
if [ ! -f "$base/.done" ]; then
	echo "fresh: debootstrap --variant=minbase bookworm (once; cached in $base)"
	rm -rf "$base.tmp"
	mkdir -p "$cache"
	debootstrap --variant=minbase bookworm "$base.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/debootstrap.log"; exit 1; }
	cat > "$base.tmp/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
	touch "$base.tmp/.done"
	mv "$base.tmp" "$base"
fi

work=$(mktemp -d /var/tmp/skr-fresh.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root
cp -a "$base" "$root"
mkdir -p "$root/srv/skr" /var/cache/skr/vectors
# The tracked files as they are in the working tree, nothing built.
(cd "$top" && git ls-files -z | xargs -0 tar cf - 2>/dev/null) | tar xf - -C "$root/srv/skr"
chmod -R a+rX "$root/srv/skr"

fail=0
for bin in cc make pkg-config swtpm; do
	if chroot "$root" sh -c "command -v $bin" >/dev/null 2>&1; then
		echo "FAIL fresh-root-is-bare: $bin is already in the minbase root"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "PASS fresh-root-is-bare"

# A user without root: exit 2 at once with the command to run.
chroot "$root" useradd -m tester >/dev/null 2>&1 || true
if chroot "$root" su tester -c 'cd /srv/skr 2>/dev/null || cd /tmp; sh /srv/skr/tools/check.sh' \
	>"$work/nonroot.log" 2>&1; then
	echo "FAIL fresh-nonroot-stops: it did not stop"
	fail=1
elif grep -q 'run as root:  apt-get update && apt-get install -y --no-install-recommends' "$work/nonroot.log"; then
	echo "PASS fresh-nonroot-stops"
else
	echo "FAIL fresh-nonroot-stops: $(head -c 300 "$work/nonroot.log")"
	fail=1
fi

echo "fresh: sh tools/check.sh SKR_TESTS=\"$tests\" in the bare root"
start=$(date +%s)
if systemd-nspawn -q --register=no --keep-unit -M "skr-fresh-$$" -D "$root" --chdir=/srv/skr \
	--bind-ro=/var/cache/skr/vectors \
	sh -c "sh tools/check.sh SKR_TESTS='$tests'" >"$work/check.log" 2>&1; then
	rc=0
else
	rc=$?
fi
echo "fresh: took $(( $(date +%s) - start )) s"
closing=$(grep -E '^check: [0-9]+ passed, [0-9]+ failed' "$work/check.log" | tail -n 1)
grep -E '^(FAIL|deps:)' "$work/check.log" || true
if [ "$rc" -eq 0 ] && echo "$closing" | grep -Eq '^check: [1-9][0-9]* passed, 0 failed'; then
	echo "PASS fresh-check ($closing)"
else
	echo "FAIL fresh-check: exit $rc; ${closing:-no closing line}"
	tail -n 40 "$work/check.log"
	fail=1
fi
[ "$fail" -eq 0 ]
