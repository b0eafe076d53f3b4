#!/bin/sh
# skr (dracut pre-pivot hook): closes the boot gate before switch_root, as
# initramfs-tools' init-bottom/skr does (see there).  The token plugin does
# not measure its opens (it cannot see whether systemd-cryptsetup's
# activation used its key), so here every dm-crypt volume counts as opened
# by something else: a dracut boot cannot get a release after this point,
# and its reseal submissions are queued and its commits refused.
# It stops the boot only on bare SEV-SNP (no vTPM, exit 3): there every
# volume must have been opened by skr-unlock with a key shown to be the
# enrolled one (src/luks/disk_tag.h), which systemd-cryptsetup's opens are
# not; the machine is powered off rather than handed to that root.
if [ -x /usr/sbin/skr-unlock ]; then
	/usr/sbin/skr-unlock --handover
	rc=$?
	if [ "$rc" = 3 ]; then
		echo "skr: SECURITY: bare SEV-SNP: a volume not shown to be the enrolled one is open; powering off" >&2
		sleep 5
		poweroff -f
		echo o > /proc/sysrq-trigger
		while :; do sleep 60; done
	elif [ "$rc" != 0 ]; then
		echo "skr: WARNING: the boot gate (PCR 15) could not be closed; see the lines above" >&2
	fi
fi
