# skrctl pe hash: Authenticode digests checked against an independent tool.
#
# osslsigncode (its own PE hashing code) computes the "Calculated message
# digest" of a signed image; each check signs or takes a signed image, and
# compares that digest with skrctl's, computed at test time.  The real signed
# Debian kernel comes from tests/tools/fetch-signed-kernel.sh (run by CI);
# without it the kernel checks FAIL rather than skip.
. "$(dirname "$0")/lib.sh"

cache=${SKR_VECTOR_CACHE:-/var/cache/skr/vectors}
pe="$VECTORS/pe"

# The digest osslsigncode computed itself (not the one inside the signature).
ossl_digest() {
	osslsigncode verify -in "$1" 2>/dev/null |
		sed -n 's/^Calculated message digest *: *\([0-9A-Fa-f]*\).*/\1/p' |
		head -n 1 | tr 'A-F' 'a-f'
}

skr_digest() {
	"$SKRCTL" pe hash "$@" 2>/dev/null
}

# same NAME WANT GOT: PASS if both are the same non-empty digest.
same() {
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		echo "PASS $1"
	else
		echo "FAIL $1: wanted '$2', got '$3'"
	fi
}

ossl_sign() { # ALG IN OUT
	osslsigncode sign -certs "$tmpd/cert.pem" -key "$tmpd/key.pem" -h "$1" \
		-in "$2" -out "$3" >/dev/null 2>&1
}

tools_ok=1
for tool in osslsigncode sbsign openssl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL pe tools: $tool is not installed"
		tools_ok=0
	fi
done

# A throwaway signing key: the checks need a signature, not a trusted one.
if [ "$tools_ok" = 1 ] && ! openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=skr-test \
	-days 2 -keyout "$tmpd/key.pem" -out "$tmpd/cert.pem" >/dev/null 2>&1; then
	echo "FAIL pe tools: cannot generate a test key"
	tools_ok=0
fi

# --- a real signed kernel (Debian's Secure Boot signature) ---
kernel=
for k in /boot/vmlinuz-* "$cache"/vmlinuz-*; do
	[ -s "$k" ] || continue
	if [ -n "$(ossl_digest "$k")" ]; then kernel=$k; break; fi
done
if [ -z "$kernel" ]; then
	echo "FAIL pe kernel: no signed kernel in /boot or $cache (run tests/tools/fetch-signed-kernel.sh)"
else
	want=$(ossl_digest "$kernel")
	got=$(skr_digest "$kernel")
	echo "# $kernel: osslsigncode $want, skrctl $got"
	same "pe kernel sha256 equals osslsigncode" "$want" "$got"
	# The same kernel without its signature hashes the same; re-signed
	# with SHA-1 it cross-checks the other digest.
	if osslsigncode remove-signature -in "$kernel" -out "$tmpd/kernel" >/dev/null 2>&1; then
		same "pe kernel unsigned equals signed" "$got" "$(skr_digest "$tmpd/kernel")"
		ossl_sign sha1 "$tmpd/kernel" "$tmpd/kernel.sha1"
		same "pe kernel sha1 equals osslsigncode" "$(ossl_digest "$tmpd/kernel.sha1")" \
			"$(skr_digest --alg sha1 "$tmpd/kernel.sha1")"
		rm -f "$tmpd/kernel" "$tmpd/kernel.sha1"
	else
		echo "FAIL pe kernel unsigned: osslsigncode remove-signature failed"
	fi
fi

# --- small EFI applications signed here ---
if [ "$tools_ok" = 1 ]; then
	x64=$pe/hello-x64.efi ia32=$pe/hello-ia32.efi
	sbsign --key "$tmpd/key.pem" --cert "$tmpd/cert.pem" --output "$tmpd/x64.signed" "$x64" >/dev/null 2>&1
	want=$(ossl_digest "$tmpd/x64.signed")
	same "pe sbsign PE32+ sha256 equals osslsigncode" "$want" "$(skr_digest "$tmpd/x64.signed")"
	same "pe sbsign PE32+ unsigned equals signed" "$want" "$(skr_digest "$x64")"

	for alg in sha1 sha256 sha384 sha512; do
		ossl_sign $alg "$ia32" "$tmpd/ia32.$alg"
		want=$(ossl_digest "$tmpd/ia32.$alg")
		same "pe PE32 $alg equals osslsigncode" "$want" "$(skr_digest --alg $alg "$tmpd/ia32.$alg")"
		same "pe PE32 $alg unsigned equals signed" "$want" "$(skr_digest --alg $alg "$ia32")"
	done

	# Trailing data that is not a multiple of 8: signers pad it with zeros
	# before the certificate table, and --pad-unsigned predicts that.
	{ cat "$x64"; printf 'tail!'; } > "$tmpd/odd.efi"
	sbsign --key "$tmpd/key.pem" --cert "$tmpd/cert.pem" --output "$tmpd/odd.sbsigned" "$tmpd/odd.efi" >/dev/null 2>&1
	ossl_sign sha1 "$tmpd/odd.efi" "$tmpd/odd.sha1"
	want=$(ossl_digest "$tmpd/odd.sbsigned")
	same "pe odd trailing: sbsigned equals osslsigncode" "$want" "$(skr_digest "$tmpd/odd.sbsigned")"
	same "pe odd trailing: --pad-unsigned predicts signed" "$want" "$(skr_digest --pad-unsigned "$tmpd/odd.efi")"
	same "pe odd trailing sha1: --pad-unsigned predicts signed" "$(ossl_digest "$tmpd/odd.sha1")" \
		"$(skr_digest --alg sha1 --pad-unsigned "$tmpd/odd.efi")"
	unpadded=$(skr_digest "$tmpd/odd.efi")
	if [ -n "$unpadded" ] && [ "$unpadded" != "$want" ]; then
		echo "PASS pe odd trailing: firmware digest has no padding"
	else
		echo "FAIL pe odd trailing: firmware digest '$unpadded' vs padded '$want'"
	fi
fi

# --- output and errors ---
expect "pe hash prints hex" 0 -- "$SKRCTL" pe hash "$pe/hello-x64.efi"
expect_stdout "pe hash stdout is one sha256" '^[0-9a-f]{64}$'
expect "pe hash --alg sha384" 0 -- "$SKRCTL" pe hash --alg sha384 "$pe/hello-x64.efi"
expect_stdout "pe hash sha384 length" '^[0-9a-f]{96}$'
expect "pe hash --json" 0 '"digest": "[0-9a-f]{40}"' -- "$SKRCTL" pe hash "$pe/hello-ia32.efi" --alg sha1 --json
expect "pe hash unknown alg" 2 'usage' -- "$SKRCTL" pe hash --alg md5 "$pe/hello-x64.efi"
expect "pe hash no image" 2 'usage' -- "$SKRCTL" pe hash
expect "pe hash two images" 2 'usage' -- "$SKRCTL" pe hash "$pe/hello-x64.efi" "$pe/hello-ia32.efi"
expect "pe hash unknown option" 2 'usage' -- "$SKRCTL" pe hash --frob "$pe/hello-x64.efi"
expect "pe hash missing file" 2 'io: cannot open' -- "$SKRCTL" pe hash "$tmpd/nonexistent.efi"
expect "pe hash not a PE" 2 'malformed: no MZ signature' -- "$SKRCTL" pe hash "$pe/README.md"
head -c 700 "$pe/hello-x64.efi" > "$tmpd/truncated.efi"
expect "pe hash truncated" 2 'malformed: section [0-9]+ \(\.[a-z]+\): raw data 0x[0-9a-f]+\+0x[0-9a-f]+ past end of file' \
	-- "$SKRCTL" pe hash "$tmpd/truncated.efi"
expect "pe hash malformed --json" 2 '"reason": "malformed"' -- "$SKRCTL" pe hash --json "$tmpd/truncated.efi"
