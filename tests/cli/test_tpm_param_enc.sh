# TPM parameter encryption of TPM2_ECDH_ZGen (issue 18): Z, the shared
# secret that opens the released disk key, must not cross the TPM interface
# in the clear.  A real release (swtpm provisioned as a fake Azure vTPM,
# skr-broker over TLS, skrctl release) runs through a recording proxy on the
# TPM's TCP channel (tpm_record_proxy.py); tpm_capture.py then looks for Z
# in every byte the client and the TPM exchanged, and checks how ZGen's
# session was made.  Z comes from the client itself through a hook that
# exists only in test builds (-DSKR_TEST_FAULTS, the sanitizer build of
# make check): SKR_TEST_Z_FILE.  The same release forced onto the old
# password-session path (SKR_TEST_ZGEN=clear, test builds only) must show
# Z in its capture: the search can find it, so the encrypted checks can fail.
# SKR_TEST_ZGEN=primary makes the client act as if the TPM refused to salt
# with the wrap key: the fallback (a storage primary as the salt key) must
# keep Z off the interface too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/broker.sh"
proxy_pid=
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

start_stack || exit 1

SECRET_B64=$(head -c 32 /dev/urandom | base64 -w0)
POLICY='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$SECRET_B64\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] || echo "FAIL admin-create-key: $http_status $(cat "$tmpd/admin.out")"
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || echo "FAIL admin-add-refset: $http_status $(cat "$tmpd/admin.out")"

upstream=${TCTI##*port=}
mkdir -p "$tmpd/rec"
python3 "$(dirname "$0")/tpm_record_proxy.py" "$upstream" "$tmpd/proxy.port" "$tmpd/rec" &
proxy_pid=$!
i=0
while [ ! -s "$tmpd/proxy.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if [ -s "$tmpd/proxy.port" ]; then
	PTCTI="swtpm:host=127.0.0.1,port=$(cat "$tmpd/proxy.port")"
	echo "PASS recording-proxy-up"
else
	echo "FAIL recording-proxy-up"
	exit 1
fi

# release MODE: one release through the proxy; its capture in $tmpd/MODE.
release() {
	mode=$1
	shift
	rm -f "$tmpd/rec/"*
	env "$@" SKR_TEST_Z_FILE="$tmpd/z-$mode" $SKRCTL release --key-id disk-1 \
		--broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$PTCTI" --timeout 20 \
		--out "$tmpd/secret-$mode" >"$out" 2>"$err"
	rc=$?
	mkdir -p "$tmpd/$mode"
	mv "$tmpd/rec/"* "$tmpd/$mode/" 2>/dev/null
	if [ $rc -eq 0 ] && [ "$(base64 -w0 < "$tmpd/secret-$mode")" = "$SECRET_B64" ]; then
		echo "PASS $mode-release-opens-the-secret"
	else
		echo "FAIL $mode-release-opens-the-secret: exit $rc; $(head -c 400 "$err")"
	fi
	python3 "$(dirname "$0")/tpm_capture.py" "$tmpd/$mode" "$tmpd/z-$mode" \
		"$tmpd/secret-$mode" "$mode" "$mode"
}

release encrypted SKR_TEST_ZGEN=
release fallback SKR_TEST_ZGEN=primary
release clear SKR_TEST_ZGEN=clear

# Each release made a fresh wrap key, so each had its own Z.
if [ -s "$tmpd/z-encrypted" ] && [ -s "$tmpd/z-fallback" ] && [ -s "$tmpd/z-clear" ] &&
	[ "$(cat "$tmpd/z-encrypted" "$tmpd/z-fallback" "$tmpd/z-clear" | sort -u | wc -l)" = 3 ]; then
	echo "PASS each-release-has-its-own-z"
else
	echo "FAIL each-release-has-its-own-z"
fi

# No transient object or session is left in the TPM by either path.
if TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-transient >"$tmpd/tr" 2>"$err" &&
	TPM2TOOLS_TCTI=$TCTI tpm2_getcap handles-loaded-session >"$tmpd/ss" 2>>"$err"; then
	left=$(grep -c 0x "$tmpd/tr")
	sess=$(grep -c 0x "$tmpd/ss")
	[ "$left" = 0 ] && [ "$sess" = 0 ] && echo "PASS nothing-left-loaded" ||
		echo "FAIL nothing-left-loaded: $left transient objects, $sess sessions"
else
	echo "FAIL nothing-left-loaded: tpm2_getcap: $(head -c 300 "$err")"
fi
