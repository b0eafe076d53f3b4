#!/bin/sh
# The link rules of docs/DESIGN.md ("Layout"), checked on built programs:
#   - skr-unlock and the token plugin run in the initramfs: no SQLite, no
#     libmicrohttpd, no libcurl (its closure would bring LDAP, Kerberos,
#     GnuTLS, RTMP and SSH libraries into the initramfs: src/vm/https.c is
#     the HTTPS client, on OpenSSL), and none of the event-log parser or the
#     AMD roots (only the broker and skrctl verify evidence);
#   - libpq (the broker's PostgreSQL store) is the broker's alone;
#   - skr-broker never talks to a TPM, a LUKS header or another HTTPS server:
#     no tss2-esys, libcryptsetup or libcurl.
# NEEDED entries come from the dynamic section, code from the symbol table.
# Usage: tools/check-links.sh BUILD_DIR    (prints each program's libraries)
set -eu
build=${1:?usage: check-links.sh BUILD_DIR}
fail=0

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# refuse PROGRAM WHAT PATTERN...: fails when a NEEDED library matches.
refuse_lib() {
	prog=$1 shift
	for lib in $(needed "$build/$prog"); do
		for pat in "$@"; do
			case $lib in
			$pat*)
				echo "check-links: $prog links $lib, which it must not" >&2
				fail=1 ;;
			esac
		done
	done
}

# refuse_sym PROGRAM SYMBOL...: fails when the program carries the symbol.
refuse_sym() {
	prog=$1 shift
	syms=$(nm "$build/$prog" 2>/dev/null | awk '{print $NF}')
	[ -n "$syms" ] || { echo "check-links: $prog has no symbol table" >&2; fail=1; return; }
	for s in "$@"; do
		if printf '%s\n' "$syms" | grep -qx "$s"; then
			echo "check-links: $prog contains $s, which it must not" >&2
			fail=1
		fi
	done
}

for p in skr-unlock libcryptsetup-token-skr.so skr-broker skrctl; do
	[ -e "$build/$p" ] || { echo "check-links: $build/$p is not built" >&2; exit 1; }
	echo "check-links: $p: $(needed "$build/$p" | tr '\n' ' ')"
done
for p in skr-unlock libcryptsetup-token-skr.so; do
	refuse_lib "$p" libsqlite3 libpq libmicrohttpd libcurl
	refuse_sym "$p" skr_eventlog_parse skr_eventlog_replay skr_amd_builtin_certs \
		skr_evidence_verify skr_policy_parse
done
# skrctl never opens the broker's database: no SQLite, no libpq.
refuse_lib skrctl libsqlite3 libpq libmicrohttpd
refuse_lib skr-broker libtss2-esys libtss2-tctildr libcryptsetup libcurl
refuse_sym skr-broker skr_tpm_open skr_release skr_enroll

[ $fail -eq 0 ] && echo "check-links: ok ($build)"
exit $fail
