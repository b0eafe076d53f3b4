#!/bin/sh
# skr (dracut pre-pivot hook): closes the boot gate before switch_root, as
# initramfs-tools' init-bottom/skr does (see there).  The token plugin does
# not measure its opens (it cannot see whether systemd-cryptsetup's
# activation used its key), so here every dm-crypt volume counts as opened
# by something else: a dracut boot cannot get a release after this point,
# and its reseal submissions are queued and its commits refused.
# Never stops the boot.
if [ -x /usr/sbin/skr-unlock ]; then
	/usr/sbin/skr-unlock --handover ||
		echo "skr: WARNING: the boot gate (PCR 15) could not be closed; see the lines above" >&2
fi
