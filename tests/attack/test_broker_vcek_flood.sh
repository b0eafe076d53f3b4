# VCEK flood: an attacker sends releases whose evidence carries large junk
# "VCEK" certificates, a new one each time.  The broker must neither keep
# them (only certificates whose chain verified are cached) nor parse ones
# larger than a VCEK can be (request_too_large).  Asserts the broker's RSS
# growth over 300 such requests stays under a bound the old code exceeded by
# far (it kept every parsed certificate: about 420 KB per request).
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
trap 'stop_broker KILL; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT
# ASan keeps freed blocks in a quarantine (256 MB by default): that is not
# memory the broker retains, so the measurement turns it down.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
here=$(cd "$(dirname "$0")" && pwd)
N=${VCEK_FLOOD_N:-300}
BOUND_KB=${VCEK_FLOOD_BOUND_KB:-20480}

start_stack || exit 1
POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL vcek-flood-setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$broker_pid/status"; }

# Warm up (TLS sessions, thread stacks, SQLite page cache), then measure.
python3 "$here/flood_vcek.py" "$RELEASE_URL" "$bdir/ca.pem" "$az/hcl.bin" disk-1 10 190000 >/dev/null
before=$(rss)
python3 "$here/flood_vcek.py" "$RELEASE_URL" "$bdir/ca.pem" "$az/hcl.bin" disk-1 "$N" 190000 > "$tmpd/flood.out"
after=$(rss)
echo "vcek flood: $N requests with ~185 KB certificates: broker VmRSS ${before} kB -> ${after} kB (+$((after - before)) kB, bound $BOUND_KB kB)"
sed 's/^/  answers: /' "$tmpd/flood.out"
if [ $((after - before)) -lt "$BOUND_KB" ]; then echo "PASS vcek-flood-rss-bounded"; else echo "FAIL vcek-flood-rss-bounded: +$((after - before)) kB"; fi
if grep -qx "$N 400 request_too_large" "$tmpd/flood.out"; then echo "PASS vcek-flood-oversized-refused"; else echo "FAIL vcek-flood-oversized-refused: $(cat "$tmpd/flood.out")"; fi

# Certificates of a VCEK's size that do not verify are refused and not cached.
python3 "$here/flood_vcek.py" "$RELEASE_URL" "$bdir/ca.pem" "$az/hcl.bin" disk-1 50 1000 > "$tmpd/small.out"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
if grep -qx "50 403 chain_untrusted" "$tmpd/small.out"; then echo "PASS vcek-flood-untrusted-refused"; else echo "FAIL vcek-flood-untrusted-refused: $(cat "$tmpd/small.out")"; fi
if grep -q '^skr_chain_cache_entries 0$' "$tmpd/metrics"; then echo "PASS vcek-flood-nothing-cached"; else echo "FAIL vcek-flood-nothing-cached: $(grep chain_cache "$tmpd/metrics")"; fi

# The real VCEK still releases past the flood (and is then cached).
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
expect vcek-flood-real-release 0 'released' -- "$SKRCTL" release --key-id disk-1 --broker "$RELEASE_URL" --ca "$bdir/ca.pem" --tcti "$TCTI" --vcek "$az/vcek.der" --timeout 20 --out "$tmpd/secret"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
if grep -q '^skr_chain_cache_entries 1$' "$tmpd/metrics"; then echo "PASS vcek-flood-verified-cached"; else echo "FAIL vcek-flood-verified-cached: $(grep chain_cache "$tmpd/metrics")"; fi
[ "$fails" -eq 0 ]
