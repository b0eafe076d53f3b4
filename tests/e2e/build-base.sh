#!/bin/sh
# Builds (once) the Debian 12 root every e2e guest image starts from, with
# debootstrap from Debian's archive, and caches it outside the repository:
#   $SKR_CACHE/e2e/base-<hash>/   (SKR_CACHE defaults to /var/cache/skr)
# The hash covers this script and the kernel versions, so changing the
# package list rebuilds it.
# Prints the directory.  Needs root, debootstrap and network access to the
# archive (the same mirror apt uses).
#
# Two kernels of consecutive ABIs, both from bookworm-security: the guest
# boots the older one (installed), and the newer one's .deb is kept in the
# root at $next_deb for the kernel-upgrade scenario (dpkg -i in the guest).
# Both are pinned ABI packages, not the linux-image-cloud-amd64 metapackage:
# the two newest the archive lists when the cache is built.
set -eu

# Without SKR_GUEST_KVER/SKR_GUEST_KVER_NEXT: the two newest cloud-amd64
# ABIs the archive has now (Debian drops old ABIs from bookworm-security, so
# nothing may depend on one version staying there).
newest_abis() {
	apt-cache pkgnames linux-image-6 2>/dev/null | grep -E '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' |
		sed 's/^linux-image-//' | sort -V | tail -n 2
}
if [ -z "${SKR_GUEST_KVER:-}" ] || [ -z "${SKR_GUEST_KVER_NEXT:-}" ]; then
	abis=$(newest_abis)
	[ "$(echo "$abis" | wc -l)" -eq 2 ] || {
		echo "e2e: apt-cache lists fewer than two cloud-amd64 kernels (run apt-get update)" >&2
		exit 1
	}
fi
kver=${SKR_GUEST_KVER:-$(echo "$abis" | head -n 1)}
kver_next=${SKR_GUEST_KVER_NEXT:-$(echo "$abis" | tail -n 1)}
echo "e2e: guest kernels $kver (booted) and $kver_next (upgrade)" >&2
next_deb=/var/cache/skr-e2e/linux-image-$kver_next.deb

cache=${SKR_CACHE:-/var/cache/skr}/e2e
mirror=${SKR_MIRROR:-http://deb.debian.org/debian}
security=${SKR_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# Runtime libraries of skr's programs, the boot stack and the tools the guest
# scripts use.  Recommends are not installed: the list is the whole guest.
pkgs=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,e2fsprogs,util-linux,busybox,zstd
pkgs=$pkgs,initramfs-tools,cryptsetup,cryptsetup-bin,cryptsetup-initramfs,dracut-core,dracut-network
# The peer the boot-time benchmark compares with: clevis + tang (its
# initramfs-tools hook goes into the clevis image only; build-image.sh).
pkgs=$pkgs,clevis,clevis-luks,clevis-initramfs
pkgs=$pkgs,libtss2-esys-3.0.2-0,libtss2-mu0,libtss2-rc0,libtss2-tctildr0,libtss2-tcti-device0
pkgs=$pkgs,libcurl4,libjson-c5,libcryptsetup12,libssl3,libmicrohttpd12,libsqlite3-0,libpq5,ca-certificates

key=$( (cat "$0"; echo "$kver $kver_next") | sha256sum | cut -c1-12)
dir=$cache/base-$key
if [ -f "$dir/.skr-base-done" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache"
rm -rf "$dir.tmp"
echo "e2e: debootstrap bookworm into $dir (once; cached)" >&2
debootstrap --variant=minbase --include="$pkgs" bookworm "$dir.tmp" "$mirror" >&2
cat > "$dir.tmp/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SRC
# The kernels come from bookworm-security (debootstrap takes one suite only).
# No initramfs is kept here: the image builder makes them with skr installed.
mkdir -p "$dir.tmp/etc/initramfs-tools/conf.d"
echo 'update_initramfs=no' > "$dir.tmp/etc/initramfs-tools/update-initramfs.conf"
chroot "$dir.tmp" apt-get update -q >&2
for v in "$kver" "$kver_next"; do
	if ! chroot "$dir.tmp" apt-cache policy "linux-image-$v" | grep -q 'Candidate: [0-9]'; then
		echo "e2e: linux-image-$v is not in bookworm-security; available ABIs:" >&2
		chroot "$dir.tmp" apt-cache pkgnames linux-image-6 | grep -- '-cloud-amd64$' | sort -V >&2
		echo "e2e: set SKR_GUEST_KVER/SKR_GUEST_KVER_NEXT (or the defaults in $0)" >&2
		exit 1
	fi
done
chroot "$dir.tmp" sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-image-$kver" >&2
mkdir -p "$dir.tmp${next_deb%/*}"
chroot "$dir.tmp" sh -c "cd ${next_deb%/*} && apt-get download -q linux-image-$kver_next && mv linux-image-${kver_next}_*.deb $next_deb && dpkg-deb -f $next_deb Package Version" >&2
chroot "$dir.tmp" apt-get clean >&2
echo 'update_initramfs=yes' > "$dir.tmp/etc/initramfs-tools/update-initramfs.conf"
rm -rf "$dir.tmp/var/lib/apt/lists"/* "$dir.tmp"/boot/initrd.img-*
# The booted guest mounts its ESP (vfat) with the kernel's own modules: no
# dosfstools in the guest.
for m in fs/fat/vfat fs/fat/fat fs/nls/nls_cp437 fs/nls/nls_ascii; do
	if ! ls "$dir.tmp/lib/modules/$kver/kernel/$m.ko"* >/dev/null 2>&1; then
		echo "e2e: $kver has no $m module" >&2
		exit 1
	fi
done
touch "$dir.tmp/.skr-base-done"
mv "$dir.tmp" "$dir"
echo "$dir"
