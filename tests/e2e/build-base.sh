#!/bin/sh
# Builds (once) the Debian 12 root every e2e guest image starts from, with
# debootstrap from Debian's archive, and caches it outside the repository:
#   $SKR_CACHE/e2e/base-<hash>/   (SKR_CACHE defaults to /var/cache/skr)
# The hash covers this script, so changing the package list rebuilds it.
# Prints the directory.  Needs root, debootstrap and network access to the
# archive (the same mirror apt uses).
set -eu

cache=${SKR_CACHE:-/var/cache/skr}/e2e
mirror=${SKR_MIRROR:-http://deb.debian.org/debian}
security=${SKR_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
kernel=${SKR_GUEST_KERNEL:-linux-image-cloud-amd64}

# Runtime libraries of skr's programs, the boot stack and the tools the guest
# scripts use.  Recommends are not installed: the list is the whole guest.
pkgs=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,e2fsprogs,util-linux,busybox,zstd
pkgs=$pkgs,initramfs-tools,cryptsetup,cryptsetup-bin,cryptsetup-initramfs,dracut-core,dracut-network
pkgs=$pkgs,libtss2-esys-3.0.2-0,libtss2-mu0,libtss2-rc0,libtss2-tctildr0,libtss2-tcti-device0
pkgs=$pkgs,libcurl4,libjson-c5,libcryptsetup12,libssl3,libmicrohttpd12,libsqlite3-0,ca-certificates

key=$( (cat "$0"; echo "$kernel") | sha256sum | cut -c1-12)
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
# The kernel comes from bookworm-security (debootstrap takes one suite only).
# No initramfs is built here: the image builder makes them with skr installed.
mkdir -p "$dir.tmp/etc/initramfs-tools/conf.d"
echo 'update_initramfs=no' > "$dir.tmp/etc/initramfs-tools/update-initramfs.conf"
chroot "$dir.tmp" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $kernel && apt-get clean" >&2
echo 'update_initramfs=yes' > "$dir.tmp/etc/initramfs-tools/update-initramfs.conf"
rm -rf "$dir.tmp/var/lib/apt/lists"/* "$dir.tmp"/boot/initrd.img-*
touch "$dir.tmp/.skr-base-done"
mv "$dir.tmp" "$dir"
echo "$dir"
