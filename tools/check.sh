#!/bin/sh
# The README's test command:
#
#   sh tools/check.sh
#
# On a fresh Debian 12 / Ubuntu 22.04 / 24.04 machine, as root: installs the
# missing build and test dependencies with one apt-get call (the list is
# tools/deps.sh's), then runs `make check` (every unit, CLI and attack test
# under ASan/UBSan).  Without root and with packages missing it stops at once
# and prints the exact apt-get command.  Arguments go to make, e.g.
# `sh tools/check.sh SKR_TESTS="test_wrap test_release.sh"` runs only those.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sh "$top/tools/deps.sh" test
exec make -C "$top" check "$@"
