#!/bin/sh
# Each header of the libraries compiles alone, with only the pkg-config
# packages it is allowed (README.md, "Layout"), and includes no header
# of another package.  Every package installs its headers under /usr/include,
# where the compiler finds them whatever the flags say: the include tree
# (cc -H) is what tells that luks/token.h, say, reaches tss2_esys.h.
#
# Usage: tools/check-headers.sh CC CFLAGS 'HEADER=PKG PKG...' ...
#   HEADER is relative to src/ (e.g. luks/token.h), the packages are those
#   whose headers it may reach; the Makefile's header-check gives each one
#   its folder's PKGS_* or its HEADER_PKGS_* when narrower.
# A header of src/common may moreover include no header of another folder,
# and a private header (*_int.h) is included only by the files private_users
# names.
set -eu
cc=${1:?usage: check-headers.sh CC CFLAGS HEADER=PKGS...}
cflags=${2?}
shift 2
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
fail=0
n=0
tree=$(mktemp)
trap 'rm -f "$tree"' EXIT

# The files that may include a private header (patterns, from the top).
private_users() {
	case $1 in
	# struct skr_tpm's members: the TPM code and its white-box tests only.
	vm/tpm_int.h)
		echo 'src/vm/tpm.c src/vm/tpm_ek.c src/vm/tpm_session.c src/vm/local_seal.c' \
			'tests/unit/test_tpm.c' \
			'tests/unit/test_local_seal.c tests/unit/test_makecred.c tests/helpers/fakevtpm.c' ;;
	*) echo "src/${1%%/*}/*" ;;
	esac
}

for arg in "$@"; do
	h=${arg%%=*}
	pkgs=${arg#*=}
	n=$((n + 1))
	# shellcheck disable=SC2086,SC2046 # word splitting of the flags is meant
	if ! echo "#include \"$h\"" | $cc $cflags $($PKG_CONFIG --cflags $pkgs) \
		-fsyntax-only -H -x c - 2>"$tree"; then
		grep -v '^\.' "$tree" >&2 || :
		echo "check-headers: $h does not compile alone with $pkgs" >&2
		fail=1
		continue
	fi
	# "... path" lines, the dots being the depth: each header that is not
	# allowed is reported once, with the chain of includes that reached it.
	awk -v top="$h" -v pkgs=" $pkgs " '
		function package_of(p) {
			if (p ~ /\/tss2\/tss2_(esys|sys)\.h$/) return "tss2-esys"
			if (p ~ /\/tss2\/tss2_tcti(ldr|_[a-z]+)?\.h$/) return "tss2-tctildr"
			if (p ~ /\/tss2\/tss2_rc\.h$/) return "tss2-rc"
			if (p ~ /\/tss2\//) return "tss2-mu"
			if (p ~ /\/curl\//) return "libcurl"
			if (p ~ /\/libcryptsetup\.h$/) return "libcryptsetup"
			if (p ~ /\/sqlite3\.h$/) return "sqlite3"
			if (p ~ /\/microhttpd\.h$/) return "libmicrohttpd"
			if (p ~ /\/json-c\//) return "json-c"
			if (p ~ /\/openssl\//) return "openssl"
			if (p ~ /\/cmocka\.h$/) return "cmocka"
			return ""
		}
		/^\.+ / {
			d = length($1); p = $2; local = sub(/^(\.\/)?src\//, "", p); chain[d] = p
			under[d] = under[d - 1]	# below a header already reported
			why = ""
			if (local) {
				split(top, t, "/"); split(p, f, "/")
				if (t[1] == "common" && f[1] != "common")
					why = "a header of src/" f[1] ", not of src/common"
			} else if ((k = package_of(p)) != "" && index(pkgs, " " k " ") == 0) {
				why = "a header of " k
			}
			if (why != "" && !under[d] && !(p in seen)) {
				seen[p] = 1; under[d] = 1; via = ""
				for (i = 1; i < d; i++) via = via chain[i] " > "
				printf "check-headers: %s includes %s (%s): %s%s\n", top, p, why,
				       via, p
				bad = 1
			}
		}
		END { exit bad }' "$tree" >&2 || fail=1
	case $h in
	*_int.h)
		allowed=$(private_users "$h")
		# shellcheck disable=SC2013 # no file of the tree has a blank in its name
		for f in $(grep -rlF "#include \"$h\"" src tests fuzz bench 2>/dev/null); do
			ok=
			for pat in $allowed; do
				# shellcheck disable=SC2254 # the patterns are meant
				case $f in $pat) ok=1 ;; esac
			done
			[ -n "$ok" ] && continue
			echo "check-headers: $f includes $h, which is private to $allowed" >&2
			fail=1
		done ;;
	esac
done

[ $fail -eq 0 ] && echo "check-headers: ok ($n headers)"
exit $fail
