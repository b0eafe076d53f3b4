#!/bin/sh
# Builds the e2e guest disk from the cached Debian 12 root (build-base.sh):
#   skr installed with `make install DESTDIR=`, three initramfs images made
#   inside the root by the real tools — initramfs-tools with skr's hook, a
#   key-file image without it (the baseline), dracut with the 90skr module
#   and clevis-initramfs bound to a tang server (the peer, without skr) —
#   and a GPT disk with an ESP (systemd-boot, kernel, the initramfs images)
#   and a LUKS2 root encrypted offline with `cryptsetup reencrypt --encrypt`.
# The ESP's files carry the kernel version: /vmlinuz-KVER and
# /initrd-{skr,baseline,dracut,clevis}-KVER.img.  The guest mounts the ESP at
# /boot/efi, and a test-only kernel hook (guest/zy-e2e-esp) puts a kernel
# installed in the guest (dpkg -i) on it and makes it the next boot's entry.
# Usage: build-image.sh OUTDIR   (needs root; the repository's `make all`)
# With SKR_E2E_FAULTS_SKRCTL=FILE (make e2e-powercut: a skrctl built with
# FAULTS=1), the root gets it as /usr/local/sbin/skrctl-faults, besides the
# normal, fault-free skrctl (the power-cut image only).
# With SKR_E2E_DEBS=DIR, skr comes from the skr-client and skr-dracut .debs
# in DIR (as built by `make package-test SKR_DEBS_OUT=DIR`) instead.
# Writes OUTDIR/disk.img, OUTDIR/passphrase, OUTDIR/image.env (offsets, UUID,
# kernel version, the next kernel's version and its .deb in the guest, the
# broker's ports), OUTDIR/broker-tls/ (the CA and broker certificate the
# guest's /etc/skr/client.json trusts), and the swap scenario's attacker disk
# OUTDIR/attacker.img with its passphrase OUTDIR/attacker-passphrase, and
# OUTDIR/prebuilt-install.list (lsinitramfs of the next kernel's prebuilt image),
# and OUTDIR/tang/db, the keys of the tang server the clevis image is bound to
# (on TANG_PORT).
# No device-mapper or loop device is used on the host.
set -eu

out=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
base=${SKR_E2E_BASE:-$(sh "$here/build-base.sh")}
root=$out/root
mkdir -p "$out"
rm -rf "$root"

# Each step with the seconds since the start (CI prints the stage's total).
t0=$(date +%s)
say() { echo "e2e: [$(($(date +%s) - t0)) s] $*" >&2; }

mounted=
cleanup() {
	for m in $mounted; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$root" "$out/rootfs.img" "$out/esp.img" "$out/itools-aside"
}
trap cleanup EXIT INT TERM

say "copying the cached root"
cp -a "$base" "$root"
rm -f "$root/.skr-base-done"
if [ -n "${SKR_E2E_DEBS:-}" ]; then
	# The packages operators install (make package-test builds them).
	say "installing the skr-client and skr-dracut packages from $SKR_E2E_DEBS"
	cp "$SKR_E2E_DEBS"/skr-client_*.deb "$SKR_E2E_DEBS"/skr-dracut_*.deb "$root/tmp/"
	echo 'update_initramfs=no' > "$root/etc/initramfs-tools/update-initramfs.conf"
	chroot "$root" sh -c 'dpkg -i /tmp/skr-client_*.deb /tmp/skr-dracut_*.deb' >&2
	echo 'update_initramfs=yes' > "$root/etc/initramfs-tools/update-initramfs.conf"
	rm -f "$root"/tmp/skr-*.deb
else
	make -s -C "$top" install DESTDIR="$root" PREFIX=/usr >&2
fi

if [ -n "${SKR_E2E_FAULTS_SKRCTL:-}" ]; then
	say "skrctl-faults (fault points, tests/e2e/powercut.py) from $SKR_E2E_FAULTS_SKRCTL"
	grep -q 'skr-fault' "$SKR_E2E_FAULTS_SKRCTL" ||
		{ echo "e2e: $SKR_E2E_FAULTS_SKRCTL has no fault points (build it with FAULTS=1)" >&2; exit 1; }
	install -m 0755 "$SKR_E2E_FAULTS_SKRCTL" "$root/usr/local/sbin/skrctl-faults"
fi
if grep -q 'skr-fault' "$root/usr/sbin/skrctl" "$root/usr/bin/skrctl" 2>/dev/null; then
	echo "e2e: the installed skrctl has fault points" >&2
	exit 1
fi

# build-base.sh installs one kernel and keeps the next ABI's .deb.
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
next_deb=$(ls "$root"/var/cache/skr-e2e/linux-image-*.deb 2>/dev/null | head -1)
next_deb=${next_deb#"$root"}
kver_next=${next_deb##*/linux-image-}
kver_next=${kver_next%.deb}
uuid=$(cat /proc/sys/kernel/random/uuid)
head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$out/passphrase"
head -c 64 /dev/urandom > "$out/root.key"

# Hooks of initramfs-tools that only some images may have: skr's (not in the
# baseline, not in the clevis image) and clevis's (only in the clevis image,
# and never in the guest's own root, whose mkinitramfs the prebuilt images
# of the upgrade scenario stand for).  aside NAME FILES / back NAME FILES
# move them (paths under /usr/share/initramfs-tools) out and in again.
itools=$root/usr/share/initramfs-tools
skr_itools="hooks/skr scripts/local-top/skr scripts/init-bottom/skr conf-hooks.d/skr"
clevis_itools="hooks/clevis scripts/local-top/clevis scripts/local-bottom/clevis"
aside() {
	name=$1
	shift
	for f in "$@"; do
		[ -e "$itools/$f" ] || { echo "e2e: $itools/$f is missing" >&2; exit 1; }
		mkdir -p "$out/itools-aside/$name/${f%/*}"
		mv "$itools/$f" "$out/itools-aside/$name/$f"
	done
}
back() {
	name=$1
	shift
	for f in "$@"; do mv "$out/itools-aside/$name/$f" "$itools/$f"; done
}
rm -rf "$out/itools-aside"
aside clevis $clevis_itools

# The tang server of the clevis image (e2e.py's "clevis" scenario runs
# tangd on TANG_PORT of the host's loopback, reached as 10.0.2.2 as the
# broker is): its keys, and the advertisement clevis binds to offline.
tang_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$out/tang"
install -d -m 0700 "$out/tang" "$out/tang/db"
/usr/libexec/tangd-keygen "$out/tang/db"
printf 'GET /adv HTTP/1.1\r\nHost: e2e\r\n\r\n' | /usr/libexec/tangd "$out/tang/db" 2>/dev/null |
	sed '1,/^\r$/d' > "$out/tang/adv.jws"
grep -q '"payload"' "$out/tang/adv.jws" || { echo "e2e: tangd gave no advertisement" >&2; exit 1; }

# The guest: crypttab, fstab, a console, and the unit that reports how the
# boot went (tests/e2e/guest/).  The ESP is mounted on first use (vfat from
# the kernel's modules; no fsck.vfat in the guest, hence pass 0).
esp_uuid=5E2E-0E5F
echo skr-e2e > "$root/etc/hostname"
printf '/dev/mapper/root / ext4 defaults,errors=remount-ro 0 1\n' > "$root/etc/fstab"
printf 'UUID=%s /boot/efi vfat umask=0077,nofail,x-systemd.automount 0 0\n' "$esp_uuid" \
	>> "$root/etc/fstab"
mkdir -p "$root/boot/efi"
printf 'root UUID=%s none luks,discard,initramfs\n' "$uuid" > "$root/etc/crypttab"
mkdir -p "$root/etc/cryptsetup-initramfs"
# cryptroot's hook learns the cipher modules from the active mapping, which
# an image built offline does not have: name them.
printf 'dm_crypt\nxts\necb\n' >> "$root/etc/initramfs-tools/modules"
echo 'CRYPTSETUP=y' > "$root/etc/cryptsetup-initramfs/conf-hook"
install -m 0755 "$here/guest/skr-e2e-report" "$root/usr/local/sbin/skr-e2e-report"
install -m 0644 "$here/guest/skr-e2e-report.service" "$root/etc/systemd/system/"
ln -sf /etc/systemd/system/skr-e2e-report.service \
	"$root/etc/systemd/system/multi-user.target.wants/skr-e2e-report.service"
# The reseal commit after each boot: the .debs enable it, make install does not.
ln -sf /lib/systemd/system/skr-reseal-commit.service \
	"$root/etc/systemd/system/multi-user.target.wants/skr-reseal-commit.service"
# A kernel installed in the guest goes to the ESP and becomes the next boot's
# entry (after initramfs-tools has made its initramfs, before skr's hook).
install -d "$root/etc/kernel/postinst.d"
install -m 0755 "$here/guest/zy-e2e-esp" "$root/etc/kernel/postinst.d/zy-e2e-esp"
# A kernel installed in the booted guest gets its initramfs from the kernel
# hook of initramfs-tools, with skr's hook.
grep -qx 'update_initramfs=yes' "$root/etc/initramfs-tools/update-initramfs.conf"
# The booted guest's network (the enroll step talks to the broker).
printf '[Match]\nType=ether\n\n[Network]\nDHCP=yes\n' > "$root/etc/systemd/network/20-e2e.network"
ln -sf /lib/systemd/system/systemd-networkd.service \
	"$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
mkdir -p "$root/etc/systemd/system/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
	"$root/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
# Nothing else to wait for in a test guest.
for u in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	fstrim.timer getty@tty1.service serial-getty@ttyS0.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done

# The client configuration (/etc/skr/client.json: the broker's URL as the
# guest sees it, its CA) goes in before any initramfs is built: they carry it,
# and skr-unlock and the token plugin take the broker and CA from it, never
# from the LUKS2 header.  The broker (stack.py) serves with the same CA and ports.
python3 "$here/stack.py" client-config "$out" "$root" > "$out/broker.env"

for m in proc sys dev; do
	mount --bind "/$m" "$root/$m"
	mounted="$root/$m $mounted"
done

say "initramfs-tools image with skr's hook"
chroot "$root" mkinitramfs -o /boot/initrd-skr.img "$kver" >&2

say "baseline image (key file in the initramfs, without skr's hook)"
aside skr $skr_itools
install -d -m 0700 "$root/etc/keys"
install -m 0400 "$out/root.key" "$root/etc/keys/root.key"
printf 'root UUID=%s /etc/keys/root.key luks,discard,initramfs\n' "$uuid" > "$root/etc/crypttab"
printf 'CRYPTSETUP=y\nKEYFILE_PATTERN="/etc/keys/*.key"\n' > "$root/etc/cryptsetup-initramfs/conf-hook"
echo 'UMASK=0077' > "$root/etc/initramfs-tools/conf.d/umask"
chroot "$root" mkinitramfs -o /boot/initrd-baseline.img "$kver" >&2
back skr $skr_itools
rm -rf "$root/etc/keys" "$root/etc/initramfs-tools/conf.d/umask"
printf 'root UUID=%s none luks,discard,initramfs\n' "$uuid" > "$root/etc/crypttab"
echo 'CRYPTSETUP=y' > "$root/etc/cryptsetup-initramfs/conf-hook"

say "dracut image with the 90skr module"
[ -n "${SKR_E2E_NO_DRACUT-}" ] && touch "$root/boot/initrd-dracut.img" ||
chroot "$root" dracut --quiet --force --no-hostonly --no-hostonly-cmdline \
	--modules "systemd systemd-initrd systemd-udevd systemd-journald systemd-modules-load systemd-tmpfiles systemd-ask-password dracut-systemd crypt dm kernel-modules rootfs-block udev-rules base fs-lib skr" \
	--omit-drivers "nouveau amdgpu radeon i915" \
	/boot/initrd-dracut.img "$kver" >&2

say "clevis image (clevis-initramfs and tang, without skr's hook)"
aside skr $skr_itools
back clevis $clevis_itools
chroot "$root" mkinitramfs -o /boot/initrd-clevis.img "$kver" >&2
aside clevis $clevis_itools
back skr $skr_itools

# The upgrade scenario's initramfs images of the next kernel, made here by the
# same mkinitramfs, hooks and configuration the guest has (the skr crypttab
# and conf-hook are back in place above), instead of inside the TCG guest,
# where mkinitramfs takes minutes: e2e.py boots the guest's `dpkg -i` and
# `update-initramfs -u` with guest/e2e-mkinitramfs first in PATH, which hands
# update-initramfs these images; its hooks (skr's reseal) run as ever.
#   .install    what `dpkg -i` of the next kernel builds
#   .noreseal   the same with the marker hook (guest/zz-e2e-marker) that the
#               initramfs-noreseal step installs
# The kernel's modules are unpacked for the build only (dpkg -i in the guest
# installs them).  SKR_E2E_GUEST_MKINITRAMFS=1 skips this: the guest builds them.
pre=/var/cache/skr-e2e/prebuilt
install -d "$root$pre" "$root/usr/local/share/skr-e2e"
install -m 0755 "$here/guest/zz-e2e-marker" "$root/usr/local/share/skr-e2e/zz-e2e-marker"
install -D -m 0755 "$here/guest/e2e-mkinitramfs" "$root/usr/local/share/skr-e2e/bin/mkinitramfs"
prebuilt=no
if [ -z "${SKR_E2E_GUEST_MKINITRAMFS-}" ]; then
	prebuilt=yes
	say "the next kernel's initramfs images ($kver_next)"
	dpkg-deb --fsys-tarfile "$root$next_deb" |
		tar -x -C "$root" ./lib/modules/"$kver_next" ./boot/config-"$kver_next"
	chroot "$root" depmod "$kver_next"
	# initramfs-tools' fsck hook finds the root's type (ext4: it adds fsck,
	# logsave and e2fsck) on the booted guest, not in this chroot: a
	# build-time hook runs it once more with FSTYPE=ext4 (not in conf.d,
	# which goes into the image; initramfs.conf's FSTYPE=auto overrides the
	# environment).  One difference stays (e2e.py --check-prebuilt, once: of
	# 824 entries, 16 differed, the fsck hook's and these): cryptroot's hook
	# cannot read the LUKS2 header's hash here, so it adds OpenSSL's legacy
	# provider (ossl-modules/legacy.so), which the guest leaves out.
	printf '#!/bin/sh\n[ "${1-}" = prereqs ] && exit 0\nFSTYPE=ext4 exec %s\n' \
		/usr/share/initramfs-tools/hooks/fsck > "$root/etc/initramfs-tools/hooks/zz-e2e-fsck"
	chmod 0755 "$root/etc/initramfs-tools/hooks/zz-e2e-fsck"
	chroot "$root" mkinitramfs -o "$pre/initrd.img-$kver_next.install" "$kver_next" >&2
	install -m 0755 "$here/guest/zz-e2e-marker" "$root/etc/initramfs-tools/hooks/zz-e2e-marker"
	chroot "$root" mkinitramfs -o "$pre/initrd.img-$kver_next.noreseal" "$kver_next" >&2
	chroot "$root" lsinitramfs "$pre/initrd.img-$kver_next.install" > "$out/prebuilt-install.list"
	rm -rf "$root/etc/initramfs-tools/hooks/zz-e2e-marker" "$root/etc/initramfs-tools/hooks/zz-e2e-fsck" \
		"$root/lib/modules/$kver_next" \
		"$root/boot/config-$kver_next"
fi

for m in $mounted; do umount "$m"; done
mounted=

say "ESP (systemd-boot)"
# Room for the kernels the guest installs: each adds a kernel and an
# initramfs (~35 MB) to the ~90 MB the image starts with.
esp_mb=256
esp=$out/esp.img
rm -f "$esp"
mkfs.vfat -C -n ESP -i "$(echo $esp_uuid | tr -d -)" "$esp" $((esp_mb * 1024)) >/dev/null
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$esp" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$root/boot/vmlinuz-$kver" "::/vmlinuz-$kver"
for i in skr baseline dracut clevis; do
	mcopy -i "$esp" "$root/boot/initrd-$i.img" "::/initrd-$i-$kver.img"
done
rm -f "$root"/boot/initrd-*.img

say "root file system, encrypted offline"
size_mb=1800
luks_mb=32
rootfs=$out/rootfs.img
rm -f "$rootfs"
mkfs.ext4 -q -L root -d "$root" "$rootfs" $((size_mb - luks_mb))M
truncate -s ${size_mb}M "$rootfs"
# PBKDF2 at 1000 iterations: this is a test passphrase, and the guest runs
# under TCG, where argon2id's memory-hard cost would dominate every boot.
cryptsetup reencrypt --batch-mode --encrypt --type luks2 --uuid "$uuid" \
	--reduce-device-size ${luks_mb}M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$out/passphrase" "$rootfs" >&2
cryptsetup luksAddKey --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$out/passphrase" "$rootfs" "$out/root.key" >&2
# The clevis image's binding, made as its users make it (clevis luks bind:
# a keyslot of its own, PBKDF2 at 1000 iterations, and a "clevis" token).
clevis luks bind -y -d "$rootfs" -k "$out/root.key" tang \
	"{\"url\":\"http://10.0.2.2:$tang_port\",\"adv\":\"$out/tang/adv.jws\"}" >&2

say "GPT disk"
disk=$out/disk.img
esp_start=2048
esp_sectors=$((esp_mb * 2048))
root_start=$((esp_start + esp_sectors))
root_sectors=$((size_mb * 2048))
rm -f "$disk"
truncate -s $(((root_start + root_sectors + 2048) * 512)) "$disk"
sfdisk -q "$disk" <<PART
label: gpt
start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
PART
dd if="$esp" of="$disk" bs=512 seek=$esp_start conv=notrunc,sparse status=none
dd if="$rootfs" of="$disk" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none
cat > "$out/image.env" <<ENV
KVER=$kver
KVER_NEXT=$kver_next
KERNEL_NEXT_DEB=$next_deb
PREBUILT_INITRAMFS=$prebuilt
LUKS_UUID=$uuid
ESP_OFFSET=$((esp_start * 512))
$(cat "$out/broker.env")
ESP_BYTES=$((esp_sectors * 512))
ROOT_OFFSET=$((root_start * 512))
TANG_PORT=$tang_port
ENV

# The swap scenario's attacker disk (e2e.py "swap"): the same layout and ESP,
# and a LUKS2 root the attacker made: the same LUKS UUID (the initramfs's
# crypttab names it), its own passphrase and its own root file system (this
# tree plus /etc/skr-e2e-attacker).  The harness copies the real disk's ESP
# and skr token onto it when the scenario runs.
say "attacker disk (swap scenario)"
head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$out/attacker-passphrase"
echo "this root is the attacker's" > "$root/etc/skr-e2e-attacker"
rm -f "$rootfs"
mkfs.ext4 -q -L root -d "$root" "$rootfs" $((size_mb - luks_mb))M
truncate -s ${size_mb}M "$rootfs"
cryptsetup reencrypt --batch-mode --encrypt --type luks2 --uuid "$uuid" \
	--reduce-device-size ${luks_mb}M --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$out/attacker-passphrase" "$rootfs" >&2
rm -f "$out/attacker.img"
truncate -s $(((root_start + root_sectors + 2048) * 512)) "$out/attacker.img"
sfdisk -q "$out/attacker.img" <<PART
label: gpt
start=$esp_start, size=$esp_sectors, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=$root_start, size=$root_sectors, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root
PART
dd if="$esp" of="$out/attacker.img" bs=512 seek=$esp_start conv=notrunc,sparse status=none
dd if="$rootfs" of="$out/attacker.img" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none
say "image ready in $out"
