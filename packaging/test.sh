#!/bin/sh
# make package-test: builds skr's .debs (dpkg-buildpackage) in a temporary
# copy of this tree, checks them with lintian, builds the RPMs (rpmbuild
# --nodeps) when rpmbuild is there, then installs the .debs into a copy of
# the cached Debian 12 root (tests/e2e/build-base.sh) and checks the files,
# the versions, the initramfs, the broker's user, state and start, and that
# a purge leaves nothing behind.  See packaging/README.md.
#
# Needs root.  Nothing is written into the repository; the temporary
# directory and every mount in it go away on every exit path.
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(cat "$repo/VERSION")
cache=${SKR_CACHE:-/var/cache/skr}/e2e
PATH_IN_ROOT=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
passed=0 failed=0 work= bg_pid=

ok() { passed=$((passed + 1)); echo "ok $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# t NAME COMMAND...: one check; the command's output is shown when it fails.
t() {
	name=$1
	shift
	if "$@" > "$work/out" 2>&1; then
		ok "$name"
	else
		bad "$name"
		tail -n 25 "$work/out" | sed 's/^/    /'
	fi
}

# Unmounts what is mounted below $work (deepest first) and removes it, but
# never a tree that still has a mount inside.
cleanup() {
	# The broker or the container (nspawn powers it off on TERM).
	if [ -n "$bg_pid" ]; then
		kill -TERM "$bg_pid" 2>/dev/null
		sleep 2
		kill -KILL "$bg_pid" 2>/dev/null
		wait "$bg_pid" 2>/dev/null
	fi
	[ -n "$work" ] && [ -d "$work" ] || return 0
	for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		echo "package-test: mounts remain under $work; left in place" >&2
	else
		rm -rf "$work"
	fi
	work=
}

finish() {
	echo "package-test: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "package-test: needs root (chroot, mounts)" >&2; exit 2; }
for tool in dpkg-buildpackage lintian groff man curl openssl unshare nsenter; do
	command -v "$tool" >/dev/null || { echo "package-test: $tool is missing" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/var/tmp}/skr-pkg.XXXXXX")
src=$work/src
root=$work/root

# --- static checks -----------------------------------------------------------

sh "$repo/man/check.sh" "$repo"/man/*.[58] > "$work/man.log" 2>&1
while read -r verdict page; do
	case $verdict in
	ok) ok "man page ${page##*/}" ;;
	FAIL) bad "man page ${page##*/}" ;;
	esac
done < "$work/man.log"
grep '^    ' "$work/man.log"

deb_version=$(dpkg-parsechangelog -l "$repo/packaging/debian/changelog" -S Version)
rpm_version=$(sed -n 's/^Version:[[:space:]]*//p' "$repo/packaging/rpm/skr.spec")
t "debian/changelog version $deb_version is VERSION $version" test "${deb_version%-*}" = "$version"
t "skr.spec version $rpm_version is VERSION $version" test "$rpm_version" = "$version"

# --- build -------------------------------------------------------------------

# The tree as git sees it: tracked and new files, not ignored ones (build/).
mkdir -p "$src"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -co --exclude-standard -z |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
else
	tar -C "$repo" --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
# The RPM's Source0, made before the Debian build touches the copy.
mkdir -p "$work/rpm/SOURCES"
tar -C "$work" --transform "s,^src,skr-$version," -czf "$work/rpm/SOURCES/skr-$version.tar.gz" src
cp -a "$repo/packaging/debian" "$src/debian"

echo "package-test: dpkg-buildpackage (its log's tail is shown if it fails)"
if (cd "$src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	bad "dpkg-buildpackage -us -uc -b"
	tail -n 40 "$work/build.log" | cut -c1-240 | sed 's/^/    /'
	finish
fi
debs="$work/skr-client_${deb_version}_amd64.deb $work/skr-broker_${deb_version}_amd64.deb"
debs="$debs $work/skr-dracut_${deb_version}_all.deb"
# The e2e guest image installs these very packages (make e2e E2E_DEBS=DIR).
if [ -n "${SKR_DEBS_OUT:-}" ]; then
	mkdir -p "$SKR_DEBS_OUT" && rm -f "$SKR_DEBS_OUT"/skr-*.deb && cp $debs "$SKR_DEBS_OUT"/
fi

# Lintian: no error, and no tag that packaging/README.md does not explain.
explained="initial-upload-closes-no-bugs package-supports-alternative-init-but-no-init.d-script"
lintian -I --pedantic "$work/skr_${deb_version}_amd64.changes" 2>&1 |
	grep -v 'running with root privileges' > "$work/lintian.log"
sed 's/^/    lintian: /' "$work/lintian.log"
t "lintian: no errors" sh -c '! grep -q "^E:" "$1"' sh "$work/lintian.log"
unexplained=$(awk '/^[EWIPX]:/ { print $3 }' "$work/lintian.log" | sort -u |
	while read -r tag; do
		case " $explained " in *" $tag "*) ;; *) echo "$tag" ;; esac
	done)
t "lintian: every tag explained in packaging/README.md" test -z "$unexplained"
[ -z "$unexplained" ] || echo "    unexplained: $unexplained"

# Expected files: "FORMAT PACKAGE MODE PATH" lines of packaging/files.list.
expected() { awk -v f="$1" -v p="$2" '$1 == f && $2 == p { print $3, $4 }' "$repo/packaging/files.list"; }

if command -v rpmbuild >/dev/null; then
	# Fedora's build dependencies are not in this machine's rpm database
	# (they are Debian packages here): --nodeps.
	if rpmbuild -bb --nodeps --define "_topdir $work/rpm" "$repo/packaging/rpm/skr.spec" \
		> "$work/rpmbuild.log" 2>&1; then
		ok "rpmbuild -bb --nodeps skr.spec"
		for p in skr skr-dracut skr-broker; do
			rpm=$(ls "$work"/rpm/RPMS/*/"$p-$version"-*.rpm 2>/dev/null | head -n 1)
			rpm -qp --qf '[%{FILEMODES:octal} %{FILENAMES}\n]' "$rpm" 2>/dev/null |
				awk '$2 !~ /^\/usr\/lib\/\.build-id/ {
					print substr($1, length($1) - 2), $2 ($1 ~ /^40/ ? "/" : "") }' |
				sort > "$work/rpm-$p.list"
			expected rpm "$p" | sort > "$work/rpm-$p.want"
			t "rpm $p: files as in packaging/files.list" diff "$work/rpm-$p.want" "$work/rpm-$p.list"
		done
	else
		bad "rpmbuild -bb --nodeps skr.spec"
		tail -n 30 "$work/rpmbuild.log" | sed 's/^/    /'
	fi
else
	# tools/deps.sh package installs rpm (which has rpmbuild): its absence
	# is a failure, not a skip.
	bad "rpmbuild is not installed (sh tools/deps.sh package)"
fi

# --- a fresh Debian 12 root --------------------------------------------------

# Another process may be debootstrapping the cache right now: wait for it
# (at most 40 minutes) rather than start a second debootstrap.
waited=0
while ls -d "$cache"/base-*.tmp >/dev/null 2>&1 && pgrep -f tests/e2e/build-base.sh >/dev/null &&
	[ $waited -lt 2400 ]; do
	[ $waited -eq 0 ] && echo "package-test: waiting for build-base.sh running elsewhere"
	sleep 10
	waited=$((waited + 10))
done
base=$(SKR_CACHE=${SKR_CACHE:-/var/cache/skr} sh "$repo/tests/e2e/build-base.sh") ||
	{ bad "cached Debian 12 root (tests/e2e/build-base.sh)"; finish; }
cp -a "$base" "$root"
mount -t proc proc "$root/proc"

in_root() { chroot "$root" env -i PATH=$PATH_IN_ROOT LANG=C.UTF-8 HOME=/root "$@"; }

# Every file below the root but the ones that change without the packages'
# doing: dpkg's and the system's logs and databases, the initramfs (the
# system's own, rebuilt) and the backups of the user database that adding
# the system user leaves (the user stays on purge, see below).
snapshot() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./var/log \
		-o -path ./var/lib/dpkg -o -path ./var/cache/debconf -o -path ./boot \
		-o -path ./var/lib/initramfs-tools \) -prune -o -print |
		grep -Ev '^\./etc/(passwd|group|shadow|gshadow)-$' | sort)
}

# A boot state like a real VM's: an initramfs for the kernel, then the list.
kver=$(ls "$root/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)
t "initramfs of the base root builds" in_root update-initramfs -c -k "$kver"
snapshot > "$work/before.list"

mkdir "$root/tmp/debs"
cp $debs "$root/tmp/debs/"
t "dpkg -i skr-client skr-broker skr-dracut" in_root sh -c 'dpkg -i /tmp/debs/*.deb'

for p in skr-client skr-dracut skr-broker; do
	in_root dpkg -L "$p" | while read -r f; do
		[ -d "$root$f" ] || echo "$(stat -c %a "$root$f") $f"
	done | sort > "$work/deb-$p.list"
	expected deb "$p" | sort > "$work/deb-$p.want"
	t "deb $p: files as in packaging/files.list" diff "$work/deb-$p.want" "$work/deb-$p.list"
done

t "skrctl --version is $version" sh -c '[ "$(chroot "$1" skrctl --version)" = "skrctl $2" ]' sh "$root" "$version"
t "skr-unlock --version is $version" \
	sh -c '[ "$(chroot "$1" skr-unlock --version)" = "skr-unlock $2" ]' sh "$root" "$version"
t "dpkg says skr-client $deb_version" \
	sh -c '[ "$(chroot "$1" dpkg-query -W -f "\${Version}" skr-client)" = "$2" ]' sh "$root" "$deb_version"
t "initramfs carries skr-unlock and the boot scripts (unlock, boot gate handover)" \
	sh -c 'chroot "$1" lsinitramfs "/boot/initrd.img-$2" | grep -q "skr-unlock$" &&
		chroot "$1" lsinitramfs "/boot/initrd.img-$2" | grep -q "scripts/local-top/skr$" &&
		chroot "$1" lsinitramfs "/boot/initrd.img-$2" | grep -q "scripts/init-bottom/skr$"' sh "$root" "$kver"
t "skr-broker is a system user with home /var/lib/skr-broker and no shell" \
	sh -c 'chroot "$1" getent passwd skr-broker |
		awk -F: "\$3 < 1000 && \$6 == \"/var/lib/skr-broker\" && \$7 ~ /nologin\$/ { ok = 1 } END { exit !ok }"' \
	sh "$root"
t "/var/lib/skr-broker is skr-broker's, 0700" \
	sh -c '[ "$(chroot "$1" stat -c "%U %G %a" /var/lib/skr-broker)" = "skr-broker skr-broker 700" ]' sh "$root"
t "/etc/skr/broker.json is root:skr-broker 0640" \
	sh -c '[ "$(chroot "$1" stat -c "%U %G %a" /etc/skr/broker.json)" = "root skr-broker 640" ]' sh "$root"

# --- the broker, as the operator runs it ---------------------------------------

# TLS and secrets as the operator steps in packaging/README.md make them,
# for the packaged broker.json as it is.
unit=$root/lib/systemd/system/skr-broker.service
user=$(sed -n 's/^User=//p' "$unit")
etc=$root/etc/skr
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=skr test CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$etc/broker.key" -out "$work/broker.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/broker.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-days 2 -extfile "$work/san.ext" -out "$etc/broker.pem" 2>/dev/null
head -c 32 /dev/urandom > "$etc/master.key"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$etc/admin.token"
head -c 32 /dev/urandom > "$etc/nonce.secret"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$etc/audit.key" 2>/dev/null
uid=$(in_root id -u "$user")
chown "$uid:$uid" "$etc/broker.key" "$etc/master.key" "$etc/admin.token" "$etc/nonce.secret" "$etc/audit.key"
chmod 0600 "$etc/broker.key" "$etc/master.key" "$etc/admin.token" "$etc/nonce.secret" "$etc/audit.key"
t "systemctl enable skr-broker" in_root systemctl enable skr-broker.service

# SKR_PKG_NO_NSPAWN=1 takes the other way even where systemd-nspawn exists.
if [ -z "${SKR_PKG_NO_NSPAWN:-}" ] && command -v systemd-nspawn >/dev/null; then
	# The real unit under systemd (its User=, StateDirectory= and sandbox),
	# in a booted container with a network of its own (loopback only).  It
	# boots a copy, so that what booting writes (journal, timers, machine
	# id) is not mistaken for the packages' leftovers at purge.
	how="systemd in systemd-nspawn"
	# /proc is unmounted first: cp -a would copy the host's processes.
	umount "$root/proc" && cp -a "$root" "$work/boot" && mount -t proc proc "$root/proc"
	systemd-nspawn -q --register=no --keep-unit --private-network -D "$work/boot" --boot \
		> "$work/nspawn.log" 2>&1 &
	bg_pid=$!
	ns() { nsenter -t "$ns_pid" -a "$@"; }
	ns_pid= i=0
	while [ $i -lt 300 ] && kill -0 "$bg_pid" 2>/dev/null; do
		# The container's init: a child of nspawn named systemd (an earlier
		# child of nspawn's is transient: a pid taken from it goes away).
		[ -n "$ns_pid" ] && [ -d "/proc/$ns_pid" ] ||
			ns_pid=$(pgrep -x -P "$bg_pid" systemd | head -n 1)
		[ -n "$ns_pid" ] && [ "$(ns systemctl is-active skr-broker.service 2>/dev/null)" = active ] &&
			break
		sleep 0.2
		i=$((i + 1))
	done
	t "skr-broker.service is active ($how)" sh -c '[ "$(nsenter -t "$1" -a systemctl is-active \
		skr-broker.service)" = active ]' sh "${ns_pid:-0}"
	# Active means started (Type=simple), not yet listening: wait for the
	# release listener as the other way does, at most 10 s.
	i=0
	until [ $i -ge 50 ] || [ -z "$ns_pid" ] || nsenter -t "$ns_pid" -n curl -s -o /dev/null \
		--cacert "$work/ca.pem" https://127.0.0.1:8443/healthz; do
		sleep 0.2
		i=$((i + 1))
	done
	main_pid=$(ns systemctl show -p MainPID --value skr-broker.service 2>/dev/null)
	status_text=$(ns cat "/proc/${main_pid:-0}/status" 2>/dev/null)
	stop_broker() { ns systemctl stop skr-broker.service && ns systemctl is-failed -q skr-broker.service
		[ $? -eq 1 ]; }
	db_root=$work/boot
	api_pid=$ns_pid
else
	# No systemd-nspawn: the unit's ExecStart as its User/Group with its
	# UMask, in a network namespace of its own.  No sandbox options.
	how="ExecStart under setpriv, no systemd"
	exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
	group=$(sed -n 's/^Group=//p' "$unit")
	umask_unit=$(sed -n 's/^UMask=//p' "$unit")
	# shellcheck disable=SC2086  # ExecStart is a command line
	(umask "${umask_unit:-0022}" && exec unshare --net sh -c 'r=$1 && shift &&
		chroot "$r" ip link set lo up && exec chroot "$r" env -i "$@"' sh "$root" PATH=$PATH_IN_ROOT \
		setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs -- $exec_start) \
		> "$work/broker.log" 2>&1 &
	bg_pid=$!
	i=0
	until [ $i -ge 50 ] || nsenter -t "$bg_pid" -n curl -s -o /dev/null --cacert "$work/ca.pem" \
		https://127.0.0.1:8443/healthz; do
		kill -0 "$bg_pid" 2>/dev/null || break
		sleep 0.2
		i=$((i + 1))
	done
	status_text=$(cat "/proc/$bg_pid/status" 2>/dev/null)
	stop_broker() { kill -TERM "$bg_pid" && wait "$bg_pid"; }
	db_root=$root
	api_pid=$bg_pid
fi
t "the broker runs as $user ($how)" sh -c 'printf "%s\n" "$1" |
	awk -v u="$2" "/^Uid:/ { ok = \$2 == u && \$3 == u } END { exit !ok }"' sh "$status_text" "$uid"
t "broker answers /healthz" sh -c '[ "$(nsenter -t "$1" -n curl -sS --max-time 5 --cacert "$2" \
	https://127.0.0.1:8443/healthz)" = ok ]' sh "$api_pid" "$work/ca.pem"
secret=$(head -c 32 /dev/urandom | base64)
t "admin API stores a key" sh -c '[ "$(nsenter -t "$1" -n curl -sS --max-time 5 -o /dev/null \
	-w "%{http_code}" --cacert "$2" -H "Authorization: Bearer $(cat "$3")" \
	-H "Content-Type: application/json" \
	--data "{\"key_id\": \"pkg-test\", \"secret\": \"$4\", \"policy\": {\"pcrs\": {\"indexes\": [7]}}}" \
	https://127.0.0.1:8444/v1/keys)" = 201 ]' sh "$api_pid" "$work/ca.pem" "$etc/admin.token" "$secret"
t "SQLite store /var/lib/skr-broker/broker.db is $user's, 0600" \
	sh -c '[ "$(chroot "$1" stat -c "%U %a" /var/lib/skr-broker/broker.db)" = "$2 600" ]' sh "$db_root" "$user"
t "the broker stops cleanly" stop_broker
if [ -n "${ns_pid:-}" ]; then
	kill -TERM "$bg_pid"	# nspawn powers the container off
	wait "$bg_pid"
fi
bg_pid=
[ "$failed" -eq 0 ] || sed 's/^/    broker: /' "$work/broker.log" "$work/nspawn.log" 2>/dev/null | tail -n 30

# --- maintainer scripts when the initramfs cannot be rebuilt -----------------

client_deb=/tmp/debs/skr-client_${deb_version}_amd64.deb
printf '#!/bin/sh\necho "update-initramfs: simulated failure" >&2\nexit 1\n' \
	> "$root/usr/local/sbin/update-initramfs"
chmod 0755 "$root/usr/local/sbin/update-initramfs"
t "reinstall with a failing update-initramfs succeeds and warns" \
	sh -c 'chroot "$1" env -i PATH="$2" dpkg -i "$3" 2>&1 | tee /dev/stderr | grep -q "WARNING" &&
		[ "$(chroot "$1" dpkg-query -W -f "\${Status}" skr-client)" = "install ok installed" ]' \
	sh "$root" "$PATH_IN_ROOT" "$client_deb"
rm -f "$root/usr/local/sbin/update-initramfs"
mv "$root/usr/sbin/update-initramfs" "$root/usr/sbin/update-initramfs.skr-test"
t "reinstall without update-initramfs succeeds" in_root dpkg -i "$client_deb"
mv "$root/usr/sbin/update-initramfs.skr-test" "$root/usr/sbin/update-initramfs"

# --- purge ---------------------------------------------------------------------

t "dpkg --purge skr-dracut skr-broker skr-client" in_root dpkg --purge skr-dracut skr-broker skr-client
t "initramfs rebuilt without skr" \
	sh -c '! chroot "$1" lsinitramfs "/boot/initrd.img-$2" | grep -q skr' sh "$root" "$kver"
t "no statoverride left" sh -c '! chroot "$1" dpkg-statoverride --list | grep -q skr' sh "$root"
snapshot > "$work/after.list"
t "purge leaves no stray files (and removes none)" diff "$work/before.list" "$work/after.list"
t "the skr-broker user stays after purge (Debian keeps system users)" in_root getent passwd skr-broker

finish
