# skr-fake-azure provisions a running swtpm like Azure's paravisor; the result
# is checked with skrctl and with tpm2-tools, independently of libskr's TPM code.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/swtpm.sh"

FA=$BUILD/tools/skr-fake-azure
d=$tmpd/fa
mkdir -p "$d"

if ! start_swtpm; then
	echo "FAIL swtpm-start"
	exit 1
fi
export TPM2TOOLS_TCTI="$SWTPM_TCTI"

expect fa-provision 0 'AK at 0x81000003; HCL report of [0-9]+ bytes in NV 0x01400001' -- \
	"$FA" --tcti "$SWTPM_TCTI" --out "$d"
expect fa-hcl-show 0 'binding holds' -- $SKRCTL hcl show "$d/hcl.bin"
expect fa-snp-verify 0 'valid' -- $SKRCTL snp verify "$d/report.bin" --vcek "$d/vcek.der" \
	--trust-anchor "$d/chain.pem"
expect fa-nvreadpublic 0 '0x1400001:' -- tpm2_nvreadpublic
expect_stdout fa-nv-attributes 'ownerread\|authread\|no_da\|written'
expect fa-nvread 0 -- tpm2_nvread -C o -o "$tmpd/nv.bin" 0x1400001
expect fa-nv-equals-hcl 0 -- cmp "$tmpd/nv.bin" "$d/hcl.bin"
expect fa-ak-readpublic 0 -- tpm2_readpublic -c 0x81000003
expect_stdout fa-ak-attributes 'fixedtpm\|fixedparent\|sensitivedataorigin\|userwithauth\|noda\|restricted\|sign'
expect_stdout fa-ak-scheme 'rsassa'
expect fa-ak-pem 0 -- tpm2_readpublic -c 0x81000003 -f pem -o "$tmpd/tpm-ak.pem"
expect fa-ak-pem-matches 0 -- cmp "$tmpd/tpm-ak.pem" "$d/ak.pem"

# Options land in the report, and the chain written next to it still verifies it.
expect fa-reprovision-options 0 -- "$FA" --tcti "$SWTPM_TCTI" --out "$d" --debug --tcb-snp 9 \
	--measurement "$(printf 'cd%.0s' $(seq 48))" --chip-seed 7 --user-data 00112233
expect fa-options-json 0 '"debug": true' -- $SKRCTL hcl show --json "$d/hcl.bin"
expect_stdout fa-options-measurement '"measurement": "(cd){48}"'
expect_stdout fa-options-user-data '"user-data": ?"00112233"'
expect_stdout fa-options-tcb '"snp": 9'
expect fa-options-debug-refused 1 'snp_debug_enabled' -- $SKRCTL snp verify "$d/report.bin" \
	--vcek "$d/vcek.der" --trust-anchor "$d/chain.pem"
expect fa-options-debug-allowed 0 'valid' -- $SKRCTL snp verify "$d/report.bin" \
	--vcek "$d/vcek.der" --trust-anchor "$d/chain.pem" --allow-debug

# An index defined but never written, then no index at all.
expect fa-define-only 0 'NOT written' -- "$FA" --tcti "$SWTPM_TCTI" --out "$d" --define-only
expect fa-define-only-public 0 '0x1400001:' -- tpm2_nvreadpublic 0x1400001
# Defined (its public area reads) but without the written attribute; a read
# fails for that reason (TPM_RC_NV_UNINITIALIZED), not for any other.
expect fa-define-only-unwritten 0 -- python3 -c 'import subprocess, sys
p = subprocess.run(["tpm2_nvreadpublic", "0x1400001"], capture_output=True, text=True)
lines = p.stdout.splitlines()
at = [i for i, l in enumerate(lines) if l.strip() == "attributes:"]
attrs = lines[at[0] + 1].split("friendly:")[1].strip().split("|") if at and "friendly:" in lines[at[0] + 1] else []
print(attrs)
sys.exit(not (p.returncode == 0 and "ownerread" in attrs and "written" not in attrs))'
expect fa-define-only-read-fails 1 'NV_UNINITIALIZED|0x14[aA]' -- tpm2_nvread -C o -o "$tmpd/nv2.bin" 0x1400001
expect fa-no-hcl 0 'not in NV' -- "$FA" --tcti "$SWTPM_TCTI" --out "$d" --no-hcl
# The NV index list reads, and the HCL index is not in it.
expect fa-no-hcl-gone 0 -- sh -c 'l=$(tpm2_nvreadpublic) || exit 2; ! printf "%s\n" "$l" | grep -q 0x1400001'

# Usage and an unreachable TPM.
expect fa-usage-no-out 2 'usage' -- "$FA" --tcti "$SWTPM_TCTI"
expect fa-usage-both 2 'usage' -- "$FA" --tcti "$SWTPM_TCTI" --out "$d" --no-hcl --define-only
expect fa-usage-measurement 2 '48 bytes' -- "$FA" --tcti "$SWTPM_TCTI" --out "$d" --measurement 00
port=$SWTPM_PORT pid=$SWTPM_PID
stop_swtpm
expect fa-unreachable 1 'tpm_unavailable.*swtpm:host=127.0.0.1' -- \
	"$FA" --tcti "swtpm:host=127.0.0.1,port=$port" --out "$d"
expect fa-swtpm-stopped 1 'No such process' -- kill -0 "$pid"

[ "$fails" -eq 0 ]
