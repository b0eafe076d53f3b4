#!/bin/sh
# skr demo: the whole job on one machine, with embedded defaults.
#
#   sh tools/demo.sh
#
# Installs what it needs (Debian 12, as root), builds skr, then: starts a
# swtpm provisioned like an Azure vTPM (test AMD chain, AK at 0x81000003, HCL
# report in NV 0x01400001), a broker on loopback over TLS with its SQLite
# store, makes a LUKS2 image, enrolls it with `skrctl enroll`, unlocks it with
# `skr-unlock` (no passphrase typed), shows a refusal after the boot state
# changes, and falls back to the passphrase. Everything it starts is stopped
# on exit; everything it writes lives in a temporary directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "checking the build and runtime dependencies (tools/deps.sh demo)"
sh "$top/tools/deps.sh" demo

say "building skr"
make -j"$(nproc)" BUILD=build SAN= FUZZ= CC=cc all build/tools/skr-fake-azure >/dev/null

BUILD=$top/build
SKRCTL=$BUILD/skrctl
tmpd=$(mktemp -d /tmp/skr-demo.XXXXXX)
out=$tmpd/out err=$tmpd/err
. "$top/tests/cli/broker.sh"
trap 'stop_broker; stop_vtpm; rm -rf "$tmpd"' EXIT INT TERM

say "a software vTPM provisioned like Azure's paravisor does, and the key broker on loopback over TLS"
start_stack
"$BUILD/skrctl" hcl show "$az/hcl.bin" | head -5
echo "release API $RELEASE_URL, admin API $ADMIN_URL"

say "a LUKS2 disk image with a passphrase"
img=$tmpd/disk.img
printf 'demo passphrase' > "$tmpd/pass"
truncate -s 32M "$img"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	"$img" "$tmpd/pass"

say "skrctl enroll: a broker key bound to this VM's evidence, a keyslot, a token"
# The first enrollment writes the client configuration (brokers, CA, TPM):
# here in the demo's directory instead of /etc/skr/client.json.
export SKR_CONFIG=$tmpd/client.json
"$BUILD/skrctl" enroll "$img" --broker "$RELEASE_URL" --admin "$ADMIN_URL" --ca "$bdir/ca.pem" \
	--admin-token "$bdir/admin.token" --key-file "$tmpd/pass" --tcti "$TCTI" --key-id demo-disk \
	--pcrs 4,7,9	# swtpm has no event log: kernel, initrd, Secure Boot state
"$BUILD/skrctl" status "$img" --tcti "$TCTI"

say "skr-unlock: attest, release, unwrap in the vTPM, open the keyslot (no passphrase typed)"
"$BUILD/skr-unlock" --device "$img" --name demo --test-passphrase --tries 1 </dev/null

say "the boot state changes (PCR 7 extended): the broker refuses and says why"
TPM2TOOLS_TCTI=$TCTI tpm2_pcrextend 7:sha256=$(printf 'demo' | sha256sum | cut -d' ' -f1) >/dev/null
"$BUILD/skrctl" status "$img" --tcti "$TCTI" || true

say "skr-unlock falls back to the passphrase (given here as a key file)"
"$BUILD/skr-unlock" --device "$img" --name demo --test-passphrase --key-file "$tmpd/pass" </dev/null

say "done: every process stopped, $tmpd removed"
