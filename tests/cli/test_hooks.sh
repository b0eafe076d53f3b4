# The reseal hooks in hooks/ (kernel postinst/postrm, initramfs-tools
# post-update, kernel-install plugin), run as the real scripts they are:
# what they pass to skrctl, when they skip it (SKR_RESEAL=no, skrctl or the
# hook library missing, no crypttab, no initramfs yet), that a failure
# leaves them exiting 0 with a banner on stderr naming the kernel and the
# status, that stdin never reaches skrctl and the kernel hooks print
# nothing on stdout, and the usage message without arguments.
#
# skrctl here is a stand-in first on PATH, never the real one: a real
# "skrctl reseal" needs a vTPM, a broker and LUKS devices (and was not
# written yet when these hooks were), and this test is about the hooks' own
# logic only.  It records its arguments and exits with FAKE_RC.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
hooks=$top/hooks
kver=6.1.0-99-cloud-amd64

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

# The stand-in: one line per call, "[arg][arg]...", plus " stdin:LINE" if
# anything could be read from stdin; it also writes to stdout and stderr.
mkdir -p "$tmpd/fake" "$tmpd/sys" "$tmpd/boot" "$tmpd/entry" "$tmpd/staging"
cat >"$tmpd/fake/skrctl" <<'EOF'
#!/bin/sh
line=
for a in "$@"; do line="$line[$a]"; done
if IFS= read -r x; then line="$line stdin:$x"; fi
printf '%s\n' "$line" >>"$FAKE_LOG"
echo "fake skrctl: on stdout"
echo "fake skrctl: on stderr" >&2
exit "${FAKE_RC:-0}"
EOF
chmod 0755 "$tmpd/fake/skrctl"
# Only what the hooks need besides shell builtins, so that no skrctl
# installed on this machine is found by mistake.
ln -s "$(command -v sh)" "$tmpd/sys/sh"
ln -s "$(command -v cat)" "$tmpd/sys/cat"
echo "an answer skrctl must never read" >"$tmpd/stdin"
: >"$tmpd/crypttab"
calls=$tmpd/calls

# hook [VAR=VALUE...] SCRIPT ARGS...: runs hooks/SCRIPT in a clean
# environment: the stand-in first on PATH (hook_path), the library of the
# tree (hook_lib), skr.conf, /boot and the crypttab in $tmpd.
hook_path=$tmpd/fake:$tmpd/sys
hook_lib=$hooks/skr-hook-lib
fake_rc=0
hook() {
	: >"$calls"
	env -i PATH="$hook_path" SKR_HOOK_LIB="$hook_lib" SKR_CONF="$tmpd/skr.conf" \
		SKR_BOOT_DIR="$tmpd/boot" SKR_CRYPTTAB="$tmpd/crypttab" FAKE_LOG="$calls" \
		FAKE_RC="$fake_rc" "$@" <"$tmpd/stdin"
}
post() { script=$1; shift; hook "$hooks/$script" "$@"; }

# calls_are NAME WANT: the stand-in's calls since the last hook are WANT.
calls_are() {
	got=$(cat "$calls")
	if [ "$got" = "$2" ]; then pass "$1"; else fail "$1" "skrctl calls '$got', wanted '$2'"; fi
}
expect_stderr() { # NAME REGEX
	if grep -Eq -- "$2" "$err"; then pass "$1"; else fail "$1" "stderr does not match /$2/: $(head -c 600 "$err")"; fi
}
no_stdout() { # NAME
	if [ ! -s "$out" ]; then pass "$1"; else fail "$1" "stdout: $(head -c 300 "$out")"; fi
}
quiet() { # NAME
	if [ ! -s "$out" ] && [ ! -s "$err" ]; then pass "$1"; else
		fail "$1" "printed: $(cat "$out" "$err" | head -c 300)"; fi
}
no_banner() { # NAME
	if ! grep -qi 'warning' "$err"; then pass "$1"; else fail "$1" "$(head -c 300 "$err")"; fi
}
conf() { printf '%s\n' "$@" >"$tmpd/skr.conf"; }

for s in kernel-postinst kernel-postrm initramfs-post-update kernel-install; do
	if [ -x "$hooks/$s" ]; then pass "$s is executable"; else fail "$s is executable" "mode"; fi
done

# --- kernel postinst: /etc/kernel/postinst.d/zz-skr VERSION [IMAGE] -------------
conf 'SKR_NETWORK=auto'
: >"$tmpd/boot/initrd.img-$kver"
expect "postinst: reseals, exits 0" 0 -- post kernel-postinst "$kver" "/boot/vmlinuz-$kver"
calls_are "postinst: skrctl reseal --all --kernel-version V" "[reseal][--all][--kernel-version][$kver]"
no_stdout "postinst: nothing on stdout (debconf)"
no_banner "postinst: no warning when skrctl succeeds"
expect_stderr "postinst: skrctl's own output reaches stderr" 'fake skrctl: on stdout'
expect "postinst: version only" 0 -- post kernel-postinst "$kver"
calls_are "postinst: version only, same call" "[reseal][--all][--kernel-version][$kver]"

rm "$tmpd/boot/initrd.img-$kver"
expect "postinst: no initramfs yet, exits 0" 0 -- post kernel-postinst "$kver" "/boot/vmlinuz-$kver"
calls_are "postinst: no initramfs yet, skrctl not run" ""
expect_stderr "postinst: no initramfs yet, says so" "initrd.img-$kver is not built yet: not resealing"
expect_stderr "postinst: no initramfs yet, says the initramfs hook reseals" \
	"initramfs hook reseals when update-initramfs builds it"
no_stdout "postinst: no initramfs yet, nothing on stdout"
: >"$tmpd/boot/initrd.img-$kver"

expect "postinst: no arguments, exits 0" 0 -- post kernel-postinst
expect_stderr "postinst: no arguments, usage" '^usage: .*kernel-postinst VERSION \[IMAGE\]'
calls_are "postinst: no arguments, skrctl not run" ""
expect "postinst: empty version, exits 0" 0 'usage:' -- post kernel-postinst ""
calls_are "postinst: empty version, skrctl not run" ""

# SKR_RESEAL in skr.conf.
conf 'SKR_NETWORK=auto' 'SKR_RESEAL=no'
expect "postinst: SKR_RESEAL=no, exits 0" 0 -- post kernel-postinst "$kver"
calls_are "postinst: SKR_RESEAL=no, skrctl not run" ""
expect_stderr "postinst: SKR_RESEAL=no, a note naming the kernel" "SKR_RESEAL=no in .*skr.conf: .*$kver"
if [ "$(wc -l <"$err")" -eq 1 ] && [ ! -s "$out" ]; then pass "postinst: SKR_RESEAL=no, one line"; else
	fail "postinst: SKR_RESEAL=no, one line" "$(cat "$out" "$err")"; fi
conf 'SKR_RESEAL=yes'
expect "postinst: SKR_RESEAL=yes" 0 -- post kernel-postinst "$kver"
calls_are "postinst: SKR_RESEAL=yes, reseals" "[reseal][--all][--kernel-version][$kver]"
conf 'SKR_RESEAL="no"  # quoted, with a comment'
expect "postinst: SKR_RESEAL=\"no\" read as shell" 0 -- post kernel-postinst "$kver"
calls_are "postinst: SKR_RESEAL=\"no\", skrctl not run" ""
conf 'SKR_RESEAL=nope'
expect "postinst: SKR_RESEAL=nope" 0 'neither yes nor no' -- post kernel-postinst "$kver"
calls_are "postinst: SKR_RESEAL=nope, reseals anyway" "[reseal][--all][--kernel-version][$kver]"
conf 'SKR_RESEAL=no' 'if then fi ('
expect "postinst: skr.conf with a syntax error, exits 0" 0 'file has an error' -- post kernel-postinst "$kver"
calls_are "postinst: skr.conf with a syntax error, reseals" "[reseal][--all][--kernel-version][$kver]"
conf 'SKR_RESEAL=no' 'exit 3'
expect "postinst: skr.conf that exits, exits 0" 0 'file has an error' -- post kernel-postinst "$kver"
calls_are "postinst: skr.conf that exits, reseals" "[reseal][--all][--kernel-version][$kver]"
conf 'echo "$UNSET_VARIABLE" on stdout' 'SKR_RESEAL=no'
expect "postinst: skr.conf using an unset variable, exits 0" 0 -- post kernel-postinst "$kver"
calls_are "postinst: skr.conf using an unset variable, its SKR_RESEAL=no counts" ""
no_stdout "postinst: skr.conf's own output is not passed on"
rm -f "$tmpd/skr.conf"
expect "postinst: no skr.conf" 0 -- post kernel-postinst "$kver"
calls_are "postinst: no skr.conf, reseals (default yes)" "[reseal][--all][--kernel-version][$kver]"
conf 'SKR_NETWORK=auto'

# skrctl, the library or the crypttab missing: nothing to do, nothing said.
hook_path=$tmpd/sys
expect "postinst: skrctl missing, exits 0" 0 -- post kernel-postinst "$kver"
quiet "postinst: skrctl missing, silent"
hook_path=$tmpd/fake:$tmpd/sys
hook_lib=$tmpd/nonexistent/hook-lib.sh
expect "postinst: hook library missing, exits 0" 0 -- post kernel-postinst "$kver"
quiet "postinst: hook library missing, silent"
calls_are "postinst: hook library missing, skrctl not run" ""
printf 'skr_hook_setup() {\n' >"$tmpd/broken-lib.sh"
hook_lib=$tmpd/broken-lib.sh
expect "postinst: damaged hook library, exits 0" 0 'is damaged' -- post kernel-postinst "$kver"
calls_are "postinst: damaged hook library, skrctl not run" ""
hook_lib=$hooks/skr-hook-lib
rm "$tmpd/crypttab"
expect "postinst: no crypttab, exits 0" 0 -- post kernel-postinst "$kver"
quiet "postinst: no crypttab, silent"
calls_are "postinst: no crypttab, skrctl not run" ""
: >"$tmpd/crypttab"

# skrctl fails: exit 0 all the same, and a banner on stderr.
for fake_rc in 1 2 77; do
	expect "postinst: skrctl exits $fake_rc, the hook exits 0" 0 -- post kernel-postinst "$kver"
	expect_stderr "postinst: skrctl exits $fake_rc, banner names the kernel" \
		"WARNING: resealing for kernel $kver FAILED"
	expect_stderr "postinst: skrctl exits $fake_rc, banner names the status" \
		"exited with status $fake_rc\\):"
	expect_stderr "postinst: skrctl exits $fake_rc, banner says the passphrase will be asked" \
		"passphrase"
	expect_stderr "postinst: skrctl exits $fake_rc, banner gives the check command" \
		"skrctl reseal --check --all --kernel-version $kver\$"
	expect_stderr "postinst: skrctl exits $fake_rc, banner gives the retry command" \
		"re-run: +skrctl reseal --all --kernel-version $kver\$"
	no_stdout "postinst: skrctl exits $fake_rc, nothing on stdout"
done
fake_rc=1
post kernel-postinst "$kver" >"$out" 2>"$err"
expect_stderr "postinst: status 1 explained (refused or queued)" 'refused.*or queued'
expect_stderr "postinst: banner mentions approval at the broker" "approve it at the broker's admin API"
fake_rc=0

# --- kernel postrm: /etc/kernel/postrm.d/zz-skr VERSION [IMAGE] -----------------
expect "postrm: withdraws, exits 0" 0 -- post kernel-postrm "$kver" "/boot/vmlinuz-$kver"
calls_are "postrm: skrctl reseal --all --withdraw V" "[reseal][--all][--withdraw][$kver]"
no_stdout "postrm: nothing on stdout"
no_banner "postrm: no warning when skrctl succeeds"
fake_rc=1
expect "postrm: skrctl fails, exits 0" 0 -- post kernel-postrm "$kver"
expect_stderr "postrm: warning names the kernel and the status" \
	"^$kver failed \(skrctl reseal --all --withdraw $kver exited with status 1\)"
expect_stderr "postrm: warning says the pending sets are harmless" 'They are harmless'
expect_stderr "postrm: warning says the next commit retires them" 'skrctl reseal --commit'
expect_stderr "postrm: warning gives the command to retry" "^ +skrctl reseal --all --withdraw $kver\$"
no_stdout "postrm: skrctl fails, nothing on stdout"
fake_rc=0
expect "postrm: no arguments, exits 0" 0 'usage: .*kernel-postrm VERSION' -- post kernel-postrm
calls_are "postrm: no arguments, skrctl not run" ""
conf 'SKR_RESEAL=no'
expect "postrm: SKR_RESEAL=no" 0 'SKR_RESEAL=no' -- post kernel-postrm "$kver"
calls_are "postrm: SKR_RESEAL=no, skrctl not run" ""
conf 'SKR_NETWORK=auto'
hook_path=$tmpd/sys
expect "postrm: skrctl missing, exits 0" 0 -- post kernel-postrm "$kver"
quiet "postrm: skrctl missing, silent"
hook_path=$tmpd/fake:$tmpd/sys

# --- initramfs-tools: /etc/initramfs/post-update.d/skr VERSION INITRAMFS -------
initrd=$tmpd/boot/initrd.img-$kver
expect "post-update: reseals, exits 0" 0 -- post initramfs-post-update "$kver" "$initrd"
calls_are "post-update: --kernel-version V --initrd INITRAMFS" \
	"[reseal][--all][--kernel-version][$kver][--initrd][$initrd]"
no_stdout "post-update: nothing on stdout"
no_banner "post-update: no warning when skrctl succeeds"
expect "post-update: version only" 0 -- post initramfs-post-update "$kver"
calls_are "post-update: version only, --kernel-version V" "[reseal][--all][--kernel-version][$kver]"
fake_rc=2
expect "post-update: skrctl fails, exits 0" 0 -- post initramfs-post-update "$kver" "$initrd"
expect_stderr "post-update: banner names the kernel" "WARNING: resealing for kernel $kver FAILED"
expect_stderr "post-update: banner names the status" 'exited with status 2\):'
expect_stderr "post-update: banner's retry command names the initramfs" \
	"re-run: +skrctl reseal --all --kernel-version $kver --initrd $initrd\$"
fake_rc=0
expect "post-update: no arguments, exits 0" 0 'usage: .*initramfs-post-update VERSION' -- \
	post initramfs-post-update
calls_are "post-update: no arguments, skrctl not run" ""
conf 'SKR_RESEAL=no'
expect "post-update: SKR_RESEAL=no" 0 "SKR_RESEAL=no.*$kver" -- post initramfs-post-update "$kver" "$initrd"
calls_are "post-update: SKR_RESEAL=no, skrctl not run" ""
conf 'SKR_NETWORK=auto'
hook_path=$tmpd/sys
expect "post-update: skrctl missing, exits 0" 0 -- post initramfs-post-update "$kver" "$initrd"
quiet "post-update: skrctl missing, silent"
hook_path=$tmpd/fake:$tmpd/sys

# --- kernel-install: 90-skr.install add|remove VERSION ENTRY_DIR [IMAGE [INITRD...]]
image=$tmpd/modules/vmlinuz
expect "kernel-install add: reseals, exits 0" 0 -- \
	post kernel-install add "$kver" "$tmpd/entry" "$image" "$tmpd/given-initrd" "$tmpd/second-initrd"
calls_are "kernel-install add: --kernel IMAGE --initrd (the first one given)" \
	"[reseal][--all][--kernel][$image][--initrd][$tmpd/given-initrd]"
no_banner "kernel-install add: no warning when skrctl succeeds"
: >"$tmpd/boot/initramfs-$kver.img"
expect "kernel-install add: Fedora's /boot/initramfs-V.img" 0 -- post kernel-install add "$kver" "$tmpd/entry" "$image"
calls_are "kernel-install add: --initrd /boot/initramfs-V.img" \
	"[reseal][--all][--kernel][$image][--initrd][$tmpd/boot/initramfs-$kver.img]"
: >"$tmpd/staging/initrd"
expect "kernel-install add: staging area" 0 -- hook KERNEL_INSTALL_STAGING_AREA="$tmpd/staging" \
	"$hooks/kernel-install" add "$kver" "$tmpd/entry" "$image"
calls_are "kernel-install add: --initrd STAGING/initrd before /boot" \
	"[reseal][--all][--kernel][$image][--initrd][$tmpd/staging/initrd]"
: >"$tmpd/entry/initrd"
expect "kernel-install add: ENTRY_DIR/initrd" 0 -- hook KERNEL_INSTALL_STAGING_AREA="$tmpd/staging" \
	"$hooks/kernel-install" add "$kver" "$tmpd/entry" "$image"
calls_are "kernel-install add: --initrd ENTRY_DIR/initrd first" \
	"[reseal][--all][--kernel][$image][--initrd][$tmpd/entry/initrd]"
rm "$tmpd/entry/initrd" "$tmpd/staging/initrd" "$tmpd/boot/initramfs-$kver.img"
expect "kernel-install add: no initramfs anywhere, exits 0" 0 -- \
	post kernel-install add "$kver" "$tmpd/entry" "$image"
calls_are "kernel-install add: no initramfs, skrctl not run" ""
expect_stderr "kernel-install add: no initramfs, banner names the kernel" \
	"WARNING: resealing for kernel $kver FAILED"
expect_stderr "kernel-install add: no initramfs, says so" 'no initramfs was given or found'
fake_rc=1
expect "kernel-install add: skrctl fails, exits 0" 0 -- \
	post kernel-install add "$kver" "$tmpd/entry" "$image" "$tmpd/given-initrd"
expect_stderr "kernel-install add: banner names the kernel" "WARNING: resealing for kernel $kver FAILED"
expect_stderr "kernel-install add: banner names the status" 'exited with status 1\):'
expect_stderr "kernel-install add: banner's retry command" \
	"re-run: +skrctl reseal --all --kernel $image --initrd $tmpd/given-initrd\$"
fake_rc=0
expect "kernel-install remove: exits 0" 0 -- post kernel-install remove "$kver" "$tmpd/entry"
calls_are "kernel-install remove: skrctl reseal --all --withdraw V" "[reseal][--all][--withdraw][$kver]"
fake_rc=1
expect "kernel-install remove: skrctl fails, exits 0" 0 "$kver failed .*status 1" -- \
	post kernel-install remove "$kver" "$tmpd/entry"
fake_rc=0
expect "kernel-install: another verb, exits 0" 0 -- post kernel-install inspect "$kver" "$tmpd/entry"
calls_are "kernel-install: another verb, skrctl not run" ""
quiet "kernel-install: another verb, silent"
expect "kernel-install: no arguments, exits 0" 0 'usage: .*kernel-install add VERSION' -- post kernel-install
calls_are "kernel-install: no arguments, skrctl not run" ""
conf 'SKR_RESEAL=no'
expect "kernel-install add: SKR_RESEAL=no" 0 "SKR_RESEAL=no.*$kver" -- \
	post kernel-install add "$kver" "$tmpd/entry" "$image" "$tmpd/given-initrd"
calls_are "kernel-install add: SKR_RESEAL=no, skrctl not run" ""
expect "kernel-install remove: SKR_RESEAL=no" 0 "SKR_RESEAL=no" -- post kernel-install remove "$kver"
calls_are "kernel-install remove: SKR_RESEAL=no, skrctl not run" ""
conf 'SKR_NETWORK=auto'
hook_path=$tmpd/sys
expect "kernel-install: skrctl missing, exits 0" 0 -- \
	post kernel-install add "$kver" "$tmpd/entry" "$image" "$tmpd/given-initrd"
quiet "kernel-install: skrctl missing, silent"
hook_path=$tmpd/fake:$tmpd/sys

# --- all hooks: skrctl never reads the caller's stdin --------------------------
# (Every call above had a line waiting on stdin; these four are the record.)
: >"$tmpd/calls.all"
for args in "kernel-postinst $kver" "kernel-postrm $kver" "initramfs-post-update $kver $initrd" \
	"kernel-install add $kver $tmpd/entry $image $tmpd/given-initrd"; do
	# shellcheck disable=SC2086  # words
	post $args >/dev/null 2>&1
	cat "$calls" >>"$tmpd/calls.all"
done
if [ "$(wc -l <"$tmpd/calls.all")" -eq 4 ] && ! grep -q 'stdin:' "$tmpd/calls.all"; then
	pass "skrctl gets no stdin from any hook"
else
	fail "skrctl gets no stdin from any hook" "$(cat "$tmpd/calls.all")"
fi

[ "$fails" -eq 0 ]
