#!/bin/sh
# What skr adds to the initramfs (bench/README.md, "Initramfs size").
#
# In a copy of a cached Debian 12 root with a cloud kernel, builds with the
# distribution's own tools, in a chroot:
#   initramfs-tools  (a) baseline: cryptsetup-initramfs and a crypttab whose
#                        root volume opens with a key file in the initramfs;
#                    (b) the same root after `make install` of this tree and an
#                        /etc/skr/client.json with its CA;
#   dracut           the same two states, with and without the 90skr module
#                    (skipped when the root has no dracut).
# then unpacks every image and writes, per tool: files, uncompressed bytes and
# compressed image size of both, and the files skr adds or changes, grouped
# (skr's programs, libraries and the Debian packages they come from, kernel
# modules, scripts, configuration, other), to bench/results/initramfs.json.
# The run is kept under its label (BENCH_LABEL, default "current") with the
# commit; runs under other labels already in the file are kept.
#
# Usage: sh bench/initramfs.sh BUILD_DIR     (root; `make bench-initramfs`)
# The root: SKR_INITRAMFS_BASE, else the newest complete e2e base root
# (tests/e2e/build-base.sh, /var/cache/skr/e2e/base-*), else one this script
# debootstraps once into /var/cache/skr/initramfs-bench/base with the newest
# linux-image-cloud-amd64 (the metapackage: no pinned version).
set -eu

build=${1:?usage: initramfs.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "$build" && pwd)
label=${BENCH_LABEL:-current}
out=${BENCH_OUT:-$top/bench/results}
cache=${SKR_CACHE:-/var/cache/skr}
mirror=${SKR_MIRROR:-http://deb.debian.org/debian}
security=${SKR_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

[ "$(id -u)" = 0 ] || { echo "bench-initramfs: needs root (chroot, mounts)" >&2; exit 2; }
for f in skr-unlock skrctl skr-broker libcryptsetup-token-skr.so; do
	[ -e "$build/$f" ] || { echo "bench-initramfs: $build/$f is not built" >&2; exit 2; }
done

# A root of our own when there is no e2e base: what the initramfs tools need,
# skr's run-time libraries and the newest cloud kernel the archive has.
own_base() {
	pkgs=systemd,systemd-sysv,udev,kmod,busybox,zstd,util-linux,e2fsprogs,initramfs-tools
	pkgs=$pkgs,cryptsetup,cryptsetup-bin,cryptsetup-initramfs,dracut-core,dracut-network
	pkgs=$pkgs,libtss2-esys-3.0.2-0,libtss2-mu0,libtss2-rc0,libtss2-tctildr0,libtss2-tcti-device0
	pkgs=$pkgs,libjson-c5,libcryptsetup12,libssl3,ca-certificates
	d=$cache/initramfs-bench/base
	if [ -f "$d/.skr-base-done" ]; then
		echo "$d"
		return 0
	fi
	command -v debootstrap >/dev/null ||
		{ echo "bench-initramfs: no e2e root cached and no debootstrap: apt-get install debootstrap" >&2; exit 2; }
	mkdir -p "${d%/*}"
	rm -rf "$d.tmp"
	echo "bench-initramfs: debootstrap bookworm into $d (once; cached)" >&2
	debootstrap --variant=minbase --include="$pkgs" bookworm "$d.tmp" "$mirror" >&2
	printf 'deb %s bookworm main\ndeb %s bookworm-security main\n' "$mirror" "$security" \
		> "$d.tmp/etc/apt/sources.list"
	echo 'update_initramfs=no' > "$d.tmp/etc/initramfs-tools/update-initramfs.conf"
	chroot "$d.tmp" apt-get update -q >&2
	chroot "$d.tmp" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-image-cloud-amd64' >&2
	chroot "$d.tmp" apt-get clean >&2
	rm -rf "$d.tmp/var/lib/apt/lists"/* "$d.tmp"/boot/initrd.img-*
	touch "$d.tmp/.skr-base-done"
	mv "$d.tmp" "$d"
	echo "$d"
}

base=${SKR_INITRAMFS_BASE:-}
if [ -z "$base" ]; then
	for d in $(ls -dt "$cache"/e2e/base-* 2>/dev/null); do
		[ -f "$d/.skr-base-done" ] && { base=$d; break; }
	done
fi
[ -n "$base" ] || base=$(own_base)
echo "bench-initramfs: root $base" >&2

work=$cache/initramfs-bench/work-$$
root=$work/root
mounted=
cleanup() {
	for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir -p "$work"
cp -a "$base" "$root"
rm -f "$root/.skr-base-done"
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
echo "bench-initramfs: kernel $kver" >&2

# The baseline: the root volume opens with a key file in the initramfs, as
# tests/e2e/build-image.sh's baseline image.
uuid=0b7c3d2e-5a1f-4e6b-9c8d-7f6e5d4c3b2a
printf '/dev/mapper/root / ext4 defaults 0 1\n' > "$root/etc/fstab"
install -d -m 0700 "$root/etc/keys"
head -c 64 /dev/urandom > "$root/etc/keys/root.key"
chmod 0400 "$root/etc/keys/root.key"
printf 'root UUID=%s /etc/keys/root.key luks,discard,initramfs\n' "$uuid" > "$root/etc/crypttab"
mkdir -p "$root/etc/cryptsetup-initramfs" "$root/etc/initramfs-tools/conf.d"
printf 'CRYPTSETUP=y\nKEYFILE_PATTERN="/etc/keys/*.key"\n' > "$root/etc/cryptsetup-initramfs/conf-hook"
echo 'UMASK=0077' > "$root/etc/initramfs-tools/conf.d/umask"
# cryptroot learns the cipher modules from the active mapping, which a root
# without one does not have: name them.
printf 'dm_crypt\nxts\necb\n' >> "$root/etc/initramfs-tools/modules"

for m in proc sys dev; do
	mount --bind "/$m" "$root/$m"
	mounted="$root/$m $mounted"
done

have_dracut=false
chroot "$root" sh -c 'command -v dracut' >/dev/null 2>&1 && have_dracut=true
dracut_modules="systemd systemd-initrd systemd-udevd systemd-journald systemd-modules-load systemd-tmpfiles systemd-ask-password dracut-systemd crypt dm kernel-modules rootfs-block udev-rules base fs-lib"
mk_dracut() {	# OUTPUT EXTRA_MODULE
	chroot "$root" dracut --quiet --force --no-hostonly --no-hostonly-cmdline \
		--modules "$dracut_modules $2" --omit-drivers "nouveau amdgpu radeon i915" \
		"$1" "$kver" >&2
}

echo "bench-initramfs: initramfs-tools, baseline" >&2
chroot "$root" mkinitramfs -o /boot/itools-baseline.img "$kver" >&2
if $have_dracut; then
	echo "bench-initramfs: dracut, baseline" >&2
	mk_dracut /boot/dracut-baseline.img ""
fi

echo "bench-initramfs: make install, client configuration" >&2
make -s -C "$top" install BUILD="$build" DESTDIR="$root" PREFIX=/usr >&2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=skr-bench-ca -keyout "$work/ca.key" -out "$root/etc/skr/broker-ca.pem" 2>/dev/null
chmod 0644 "$root/etc/skr/broker-ca.pem"
cat > "$root/etc/skr/client.json" <<JSON
{"brokers": ["https://kbs.example:8443"], "ca": "/etc/skr/broker-ca.pem", "tcti": "device:/dev/tpmrm0"}
JSON
chmod 0644 "$root/etc/skr/client.json"

echo "bench-initramfs: initramfs-tools, with skr" >&2
chroot "$root" mkinitramfs -o /boot/itools-skr.img "$kver" >&2
if $have_dracut; then
	echo "bench-initramfs: dracut, with skr" >&2
	mk_dracut /boot/dracut-skr.img skr
fi

images="itools-baseline itools-skr"
$have_dracut && images="$images dracut-baseline dracut-skr"
for i in $images; do
	chroot "$root" unmkinitramfs "/boot/$i.img" "/tmp/x-$i" >&2
	# unmkinitramfs puts an early (microcode) archive in early*/ and the main
	# one in main/ when there is one; otherwise the tree itself.
	d=$root/tmp/x-$i
	[ -d "$d/main" ] && d=$d/main
	(cd "$d" && find . -type f -printf '%s\t%P\n') > "$work/$i.files"
	(cd "$d" && find . -type l -printf '%P\n') > "$work/$i.links"
	stat -c %s "$root/boot/$i.img" > "$work/$i.size"
done
# Which Debian package each library in the skr images comes from (the
# closure's cost, by name).
pkg_of() {
	for c in "/$1" "/usr/$1" "/${1#usr/}"; do
		p=$(chroot "$root" dpkg -S "$c" 2>/dev/null | head -1 | cut -d: -f1)
		[ -n "$p" ] && { echo "$p"; return 0; }
	done
	echo "?"
}
for i in $images; do
	case $i in *-skr) ;; *) continue ;; esac
	awk -F'\t' '{print $2}' "$work/$i.files" | grep -E '\.so(\.|$)' |
		while IFS= read -r f; do printf '%s\t%s\n' "$f" "$(pkg_of "$f")"; done
done > "$work/pkgs"

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$top" diff --quiet HEAD -- src Makefile initramfs 2>/dev/null || commit="$commit+dirty"
unlock_needed=$(readelf -d "$build/skr-unlock" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
mkdir -p "$out"
python3 "$here/initramfs_report.py" --work "$work" --label "$label" --commit "$commit" \
	--kernel "$kver" --root "$base" --unlock-needed "$unlock_needed" --images "$images" \
	--out "$out/initramfs.json"
