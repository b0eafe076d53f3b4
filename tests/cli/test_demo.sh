# The README's first command: tools/demo.sh runs the whole job and stays true.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
trap 'drop_plugin; rm -rf "$out" "$err" "$tmpd"' EXIT
own_plugin

sh "$top/tools/demo.sh" >"$out" 2>&1
rc=$?
[ $rc -eq 0 ] && echo "PASS demo-exits-0" || echo "FAIL demo-exits-0: $rc: $(tail -5 "$out")"
expect_stdout demo-enrolled 'enrolled .*disk.img: token [0-9]+, keyslot [0-9]+, key demo-disk'
expect_stdout demo-unlocked-by-broker 'checked .*disk.img with the key from https://127.0.0.1'
expect_stdout demo-refusal-reason 'pcr_mismatch.*PCR 7'
expect_stdout demo-passphrase-fallback 'checked .*disk.img with the passphrase'
leftover=$(ls -d /tmp/skr-demo.* 2>/dev/null | wc -l)
[ "$leftover" -eq 0 ] && echo "PASS demo-leaves-nothing" || echo "FAIL demo-leaves-nothing: $leftover dirs"
[ "$fails" -eq 0 ]
