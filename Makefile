# skr — attested release of LUKS keys to confidential VMs.
#
#   make            build skrctl (and later the other programs) into build/
#   make check      unit and CLI tests, built with ASan/UBSan into build/san/
#   make fuzz       libFuzzer targets (clang) into build/fuzz/; FUZZ_SECONDS=N runs each
#   make fuzz-campaign  each target for FUZZ_CAMPAIGN_SECONDS (600), carried on across runs -> bench/results/fuzz-campaign.json
#   make bench      release benchmarks (swtpm, broker, clevis baseline) -> bench/results/
#   make e2e        QEMU boots of an encrypted root (initramfs-tools, dracut); needs root
#   make bench-boot the timed boots (skr, key file, dracut, clevis+tang), 3 each -> bench/results/boot.json
#   make bench-storm  a 100,000-release boot storm on one broker -> bench/results/storm.json
#   make e2e-powercut  power cuts in a real guest at every step of enroll, reseal
#                   and reseal --commit -> bench/results/powercut.json; needs root
#   make bench-initramfs  what skr adds to an initramfs -> bench/results/initramfs.json; needs root
#   make install    PREFIX=/usr/local DESTDIR=
#   make man-check  man pages through groff and man with all warnings on
#   make package-test  build the .debs/RPMs, install into a Debian 12 root; needs root
#   make clean

.DEFAULT_GOAL := all

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
INITRAMFS_TOOLS_DIR ?= /usr/share/initramfs-tools
DRACUT_MODULES_DIR  ?= /usr/lib/dracut/modules.d
# kernel-install reads its plugins from /usr/lib and /etc only, whatever PREFIX is.
KERNEL_INSTALL_DIR  ?= /usr/lib/kernel/install.d
PKGDATADIR ?= $(PREFIX)/share/skr
MANDIR     ?= $(PREFIX)/share/man
VERSION    ?= $(shell cat VERSION)
BUILD      ?= build
CC         ?= cc
PKG_CONFIG ?= pkg-config
FUZZ_SECONDS ?= 0
FUZZ_JOBS ?= 1
FUZZ_CAMPAIGN_SECONDS ?= 600
NPROC      ?= $(shell nproc 2>/dev/null || echo 2)
# Where libcryptsetup loads token plugins from (compiled into it; cryptsetup --help says).
CRYPTSETUP_TOKEN_DIR ?= $(or $(shell cryptsetup --help 2>/dev/null | sed -n 's/^LUKS2 external token plugin path: \(.*\)\.$$/\1/p'),/lib/x86_64-linux-gnu/cryptsetup)

# What each part of the tree needs (pkg-config packages).  A program links
# the packages of the folders it is built from and nothing else, so that the
# initramfs never carries the broker's libraries nor the broker the TPM's;
# tools/check-links.sh enforces it on every build (make check runs it).
PKGS_common  := openssl json-c
PKGS_verify  := $(PKGS_common) tss2-mu
PKGS_vm      := $(PKGS_verify) tss2-esys tss2-rc tss2-tctildr
PKGS_luks    := $(PKGS_vm) libcryptsetup
PKGS_predict := $(PKGS_common)
PKGS_broker  := $(PKGS_verify) sqlite3 libpq libmicrohttpd
PKGS_unlock  := $(PKGS_luks)
PKGS_token   := $(PKGS_luks)
PKGS_ctl     := $(sort $(PKGS_luks) $(PKGS_predict))
PKGS_all     := $(sort $(PKGS_ctl) $(PKGS_broker))
# Quiet when the libraries are not installed yet: `make check` installs them
# first (tools/deps.sh) and then builds in a sub-make that sees them.
pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(PKGS_$(1)) 2>/dev/null)
pkg_libs   = $(shell $(PKG_CONFIG) --libs $(PKGS_$(1)) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DSKR_VERSION='"$(VERSION)"' -fstack-protector-strong -fPIC $(WARN) \
	-Isrc -I$(BUILD)/gen $(CFLAGS)
# Each folder compiles against the headers of its own packages only.
ALL_CFLAGS = $(BASE_CFLAGS) $(call pkg_cflags,$(or $(FOLDER),all))
# Debian's gcc turns --as-needed off under -fsanitize: it is given explicitly,
# and the per-program package lists keep the NEEDED entries right without it.
ALL_LDFLAGS := -Wl,--as-needed $(LDFLAGS)

ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
BASE_CFLAGS += $(SAN_FLAGS) -O1 -DSKR_TEST_FAULTS
ALL_LDFLAGS += $(SAN_FLAGS)
endif
# FAULTS=1: the fault points (SKR_FAULT) without the sanitizers, for the
# power-cut guest's skrctl-faults (make e2e-powercut builds it in build/faults).
# Never for what is installed or packaged.
ifeq ($(FAULTS),1)
BASE_CFLAGS += -DSKR_TEST_FAULTS
endif
ifeq ($(FUZZ),1)
BASE_CFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DSKR_FUZZING
endif

# One static library per concern (src/<folder>); see docs/DESIGN.md, "Layout".
LIB_FOLDERS := common verify vm luks predict broker
define lib_template
$(1)_SRC := $$(filter-out src/broker/main.c,$$(wildcard src/$(1)/*.c))
$(1)_OBJ := $$($(1)_SRC:%.c=$$(BUILD)/%.o)
$$(BUILD)/libskr-$(1).a: $$($(1)_OBJ) $$(if $$(filter verify,$(1)),$$(BUILD)/gen/amd_roots.o $$(BUILD)/gen/azure_vtpm_certs.o)
	rm -f $$@
	ar rcs $$@ $$^
$$(BUILD)/src/$(1)/%.o: FOLDER := $(1)
endef
$(foreach f,$(LIB_FOLDERS),$(eval $(call lib_template,$(f))))
$(BUILD)/src/ctl/%.o: FOLDER := ctl
$(BUILD)/src/unlock/%.o: FOLDER := unlock
$(BUILD)/src/token/%.o: FOLDER := token
$(BUILD)/gen/%.o: FOLDER := verify

# The libraries each program is built from, dependents first.
LIBS_unlock := luks vm verify common
LIBS_token  := luks vm verify common
LIBS_ctl    := luks predict vm verify common
LIBS_broker := broker verify common
LIBS_all    := broker luks predict vm verify common
libs_of = $(foreach l,$(LIBS_$(1)),$(BUILD)/libskr-$(l).a)

CTL_SRC  := $(wildcard src/ctl/*.c)
CTL_OBJ  := $(CTL_SRC:%.c=$(BUILD)/%.o)
UNLOCK_SRC := $(wildcard src/unlock/*.c)
UNLOCK_OBJ := $(UNLOCK_SRC:%.c=$(BUILD)/%.o)
TOKEN_SRC := $(wildcard src/token/*.c)
TOKEN_OBJ := $(TOKEN_SRC:%.c=$(BUILD)/%.o)
TOKEN_SO := $(BUILD)/libcryptsetup-token-skr.so
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_OBJ := $(HELPER_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
AMD_PEMS := $(sort $(wildcard src/verify/certs/*.pem))
# The Azure vTPM AK root (the anchor) and CA-03 (chain-building material only), in that order.
AZURE_PEMS := src/verify/certs/azure/azure-vtpm-root-2023.pem src/verify/certs/azure/global-vtpm-ca-03.pem
# Tests, tools, fuzz targets and benchmarks may reach every library.
TEST_LINK = $(HELPER_OBJ) $(call libs_of,all) $(call pkg_libs,all) $(shell $(PKG_CONFIG) --libs cmocka)

.PHONY: all check tests link-check header-check vectors-cache fuzz fuzz-build fuzz-campaign bench bench-run bench-storm bench-storm-run e2e e2e-run e2e-powercut e2e-powercut-run bench-boot bench-boot-run bench-initramfs install clean
.DELETE_ON_ERROR:
.SECONDARY:

PROGRAMS := $(BUILD)/skrctl $(BUILD)/skr-broker $(BUILD)/skr-unlock $(TOKEN_SO)
all: $(PROGRAMS)

$(BUILD)/gen/amd_roots.c: tools/embed-pem.sh $(AMD_PEMS)
	@mkdir -p $(@D)
	sh tools/embed-pem.sh $(AMD_PEMS) > $@

$(BUILD)/gen/azure_vtpm_certs.c: tools/embed-azure-pem.sh $(AZURE_PEMS)
	@mkdir -p $(@D)
	sh tools/embed-azure-pem.sh $(AZURE_PEMS) > $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/skr-broker: $(BUILD)/src/broker/main.o $(call libs_of,broker)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,broker)

$(BUILD)/skrctl: $(CTL_OBJ) $(call libs_of,ctl)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,ctl)

$(BUILD)/skr-unlock: $(UNLOCK_OBJ) $(call libs_of,unlock)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pkg_libs,unlock)

# The libcryptsetup token plugin: only the cryptsetup_token_* symbols are exported.
$(TOKEN_SO): $(TOKEN_OBJ) $(call libs_of,token) src/token/token-skr.sym
	$(CC) $(ALL_LDFLAGS) -shared -fPIC -Wl,--version-script=src/token/token-skr.sym -Wl,-z,defs \
		-o $@ $(TOKEN_OBJ) $(call libs_of,token) $(call pkg_libs,token)

# What each program may link (tools/check-links.sh): run on every build variant.
link-check: $(PROGRAMS)
	sh tools/check-links.sh $(BUILD)

# Each header of the libraries compiles alone against its folder's packages
# and reaches no other package's headers (tools/check-headers.sh: they all sit
# in /usr/include, so the compiler would not notice); private *_int.h headers
# stay with their users.  The token format is read by code that never talks
# to a TPM: luks/token.h and what it includes need json-c and OpenSSL only.
HEADER_PKGS_luks/token.h          := $(PKGS_common)
HEADER_PKGS_vm/local_policy.h     := $(PKGS_common)
HEADERS := $(patsubst src/%,%,$(wildcard $(LIB_FOLDERS:%=src/%/*.h)))
header_pkgs = $(or $(HEADER_PKGS_$(1)),$(PKGS_$(firstword $(subst /, ,$(1)))))
header-check:
	@PKG_CONFIG='$(PKG_CONFIG)' sh tools/check-headers.sh '$(CC)' '$(BASE_CFLAGS)' \
		$(foreach h,$(HEADERS),'$(h)=$(strip $(call header_pkgs,$(h)))')

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/helpers -DSKR_SRCDIR='"$(CURDIR)"' -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(HELPER_OBJ) $(call libs_of,all)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_LINK)

# skr-unlock's objects come before the libraries they call into.
$(BUILD)/tests/test_unlock: $(BUILD)/tests/test_unlock.o $(BUILD)/src/unlock/handover.o \
		$(HELPER_OBJ) $(call libs_of,all)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BUILD)/tests/test_unlock.o $(BUILD)/src/unlock/handover.o $(TEST_LINK)

# test_secret sees what skr_secret_free hands to free() (its __wrap_free).
$(BUILD)/tests/test_secret: $(BUILD)/tests/test_secret.o $(HELPER_OBJ) $(call libs_of,all)
	$(CC) $(ALL_LDFLAGS) -Wl,--wrap=free -o $@ $< $(TEST_LINK)

# Test tools (fixture generators, fake platforms): never installed.
$(BUILD)/tools/%: tests/tools/%.c $(HELPER_OBJ) $(call libs_of,all)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/helpers -o $@ $< $(TEST_LINK)

# Unit and CLI tests against one build variant (BUILD, SAN).
# The plugin is loaded by cryptsetup (not built with ASan), so the tests use an
# uninstrumented one: SKR_TOKEN_PLUGIN names it (check builds build/'s), and
# SKR_PLAIN_BUILD the uninstrumented skrctl/skr-unlock (ASan's mlock always
# succeeds: the mlock-failure checks need them).
tests: $(PROGRAMS) $(TEST_BIN) $(TOOL_BIN) link-check
	SKR_TESTS="$(SKR_TESTS)" SKR_PLAIN_BUILD=$(SKR_PLAIN_BUILD) SKR_TOKEN_PLUGIN=$(or $(SKR_TOKEN_PLUGIN),$(CURDIR)/$(TOKEN_SO)) sh tests/run.sh $(BUILD)

# The signed Debian kernel the PE test cross-checks is cached outside the tree.
vectors-cache:
	sh tests/tools/fetch-signed-kernel.sh

# The README's test command: installs the missing test dependencies (as
# root; otherwise it prints the apt-get command and stops), then builds and
# runs every unit, CLI and attack test under ASan/UBSan.
check:
	sh tools/deps.sh test
	$(MAKE) vectors-cache
	$(MAKE) -j$(NPROC) BUILD=build SAN= build/libcryptsetup-token-skr.so build/skrctl build/skr-unlock \
		build/skr-broker link-check header-check
	$(MAKE) -j$(NPROC) BUILD=build/san SAN=1 SKR_TOKEN_PLUGIN=$(CURDIR)/build/libcryptsetup-token-skr.so \
		SKR_PLAIN_BUILD=$(CURDIR)/build tests

# Targets of the broker's handlers link its library, and the test helpers
# (a software VM for evidence that verifies); cmdline.o is skr-unlock's.
$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/broker_fixture.h $(HELPER_OBJ) $(call libs_of,all)
	$(CC) $(ALL_CFLAGS) -Itests/helpers -fsanitize=fuzzer -o $@ $< $(TEST_LINK)

# skrctl's reading of the admin API's answers: objects of skrctl itself.
$(BUILD)/fuzz_broker_views: fuzz/fuzz_broker_views.c $(BUILD)/src/ctl/broker_views.o \
		$(BUILD)/src/ctl/broker_out.o $(call libs_of,all)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/src/ctl/broker_views.o \
		$(BUILD)/src/ctl/broker_out.o $(call libs_of,all) $(call pkg_libs,all)

fuzz-build: $(FUZZ_BIN)

fuzz:
	sh tools/deps.sh fuzz
	$(MAKE) BUILD=build/fuzz CC=clang FUZZ=1 fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) sh fuzz/run.sh build/fuzz

# The long campaign (fuzz/campaign.sh): targets not yet run for
# FUZZ_CAMPAIGN_SECONDS, one at a time; FUZZ_CAMPAIGN_UNTIL=HH:MM (UTC) stops
# starting targets that would not finish by then.
fuzz-campaign:
	sh tools/deps.sh fuzz
	$(MAKE) BUILD=build/fuzz CC=clang FUZZ=1 fuzz-build
	FUZZ_CAMPAIGN_SECONDS=$(FUZZ_CAMPAIGN_SECONDS) sh fuzz/campaign.sh build/fuzz

# Benchmarks: never installed, not run by `make check` or CI (see bench/README.md).
# The load generator keeps connections alive with libcurl (bench only: skr's
# own client, src/vm/https.c, is one request per connection on OpenSSL).
$(BUILD)/bench/%: bench/%.c $(HELPER_OBJ) $(call libs_of,all)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null) -Itests/helpers -o $@ $< \
		$(TEST_LINK) $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null)

bench:
	sh tools/deps.sh bench
	$(MAKE) bench-run

bench-run: $(BUILD)/skrctl $(BUILD)/skr-broker $(BENCH_BIN) $(TOOL_BIN)
	sh bench/run.sh $(BUILD)

# The boot storm (issue 18): one SQLite broker, SKR_STORM_RELEASES (100000)
# releases from STORM_VMS (64) software VMs; exits non-zero when a release
# fails, an audit row is missing or extra, or the broker's RSS is not flat.
bench-storm:
	sh tools/deps.sh build
	$(MAKE) bench-storm-run

bench-storm-run: $(BUILD)/skr-broker $(BUILD)/tools/skr-storm
	sh bench/storm.sh $(BUILD)

# End-to-end boots under QEMU (TCG): the guest image is rebuilt from the
# cached debootstrap root (tests/e2e/build-base.sh) with this tree installed.
E2E_IMAGE ?= /var/cache/skr/e2e/image
E2E_RUNS  ?= 1
# E2E_JOBS=2: two groups of scenarios at once (e2e.py --jobs); 1: one guest at a time.
E2E_JOBS  ?= 2
# E2E_DEBS=DIR: install skr in the guest from the .debs in DIR (make
# package-test SKR_DEBS_OUT=DIR builds them) instead of `make install`.
E2E_DEBS  ?=
e2e:
	sh tools/deps.sh e2e
	$(MAKE) e2e-run

e2e-run: all $(TOOL_BIN)
	SKR_E2E_DEBS=$(E2E_DEBS) sh tests/e2e/build-image.sh $(E2E_IMAGE)
	python3 tests/e2e/e2e.py --build $(BUILD) --image $(E2E_IMAGE) --runs $(E2E_RUNS) \
		$(if $(filter 1,$(E2E_RUNS)),--jobs $(E2E_JOBS))

# Power cuts in a real guest (tests/e2e/powercut.py): QEMU's power goes at each
# fault point of enroll, reseal and reseal --commit, the vTPM's state kept; the
# next boot must unlock, the header must parse, a later enroll or reseal must
# repair.  The guest image (E2E_POWERCUT_IMAGE) carries a fault-enabled skrctl
# as /usr/local/sbin/skrctl-faults besides the normal one.  Not part of make e2e.
E2E_POWERCUT_IMAGE ?= /var/cache/skr/e2e/image-powercut
e2e-powercut:
	sh tools/deps.sh e2e
	$(MAKE) e2e-powercut-run

e2e-powercut-run: all $(TOOL_BIN)
	$(MAKE) BUILD=build/faults FAULTS=1 build/faults/skrctl
	@! grep -q 'skr-fault' $(BUILD)/skrctl || { echo "$(BUILD)/skrctl has fault points"; exit 1; }
	SKR_E2E_FAULTS_SKRCTL=build/faults/skrctl sh tests/e2e/build-image.sh $(E2E_POWERCUT_IMAGE)
	python3 tests/e2e/powercut.py --build $(BUILD) --image $(E2E_POWERCUT_IMAGE) \
		--results bench/results/powercut.json

# Boot-time benchmark: the timed e2e scenarios, medians of 3 boots each
# (make e2e runs the others: swap, refusal, upgrade, tl).
BENCH_BOOT_SCENARIOS ?= auto,baseline,dracut,clevis,local,broker-down
bench-boot:
	sh tools/deps.sh e2e
	$(MAKE) bench-boot-run

bench-boot-run: all $(TOOL_BIN)
	sh tests/e2e/build-image.sh $(E2E_IMAGE)
	python3 tests/e2e/e2e.py --build $(BUILD) --image $(E2E_IMAGE) --runs 3 \
		--only $(BENCH_BOOT_SCENARIOS) --results bench/results/boot.json

# What skr adds to an initramfs (initramfs-tools and dracut, in a chroot of the
# cached Debian 12 root): BENCH_LABEL names the run in bench/results/initramfs.json.
bench-initramfs:
	sh tools/deps.sh build
	$(MAKE) all
	sh bench/initramfs.sh $(BUILD)

# Configuration files are installed only where none exists yet: an upgrade
# never overwrites an operator's settings.
install: $(BUILD)/skrctl $(BUILD)/skr-broker $(BUILD)/skr-unlock $(TOKEN_SO)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(CRYPTSETUP_TOKEN_DIR)
	install -m 0755 $(BUILD)/skrctl $(DESTDIR)$(BINDIR)/skrctl
	install -m 0755 $(BUILD)/skr-unlock $(DESTDIR)$(SBINDIR)/skr-unlock
	install -m 0755 $(BUILD)/skr-broker $(DESTDIR)$(SBINDIR)/skr-broker
	install -m 0644 $(TOKEN_SO) $(DESTDIR)$(CRYPTSETUP_TOKEN_DIR)/libcryptsetup-token-skr.so
	install -d $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/hooks $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/scripts/local-top
	install -m 0755 initramfs/initramfs-tools/hook $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/hooks/skr
	install -m 0755 initramfs/initramfs-tools/local-top $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/scripts/local-top/skr
	install -d $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/scripts/init-bottom
	install -m 0755 initramfs/initramfs-tools/init-bottom $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/scripts/init-bottom/skr
	install -d $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/conf-hooks.d
	install -m 0644 initramfs/initramfs-tools/conf-hook $(DESTDIR)$(INITRAMFS_TOOLS_DIR)/conf-hooks.d/skr
	install -d $(DESTDIR)$(DRACUT_MODULES_DIR)/90skr
	install -m 0755 initramfs/dracut/90skr/*.sh $(DESTDIR)$(DRACUT_MODULES_DIR)/90skr/
	install -m 0644 initramfs/dracut/90skr/*.conf initramfs/dracut/90skr/*.network \
		$(DESTDIR)$(DRACUT_MODULES_DIR)/90skr/
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/systemd/skr-broker.service > $(DESTDIR)$(UNITDIR)/skr-broker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/skr-broker.service
	sed 's|@BINDIR@|$(BINDIR)|g' packaging/systemd/skr-reseal-commit.service \
		> $(DESTDIR)$(UNITDIR)/skr-reseal-commit.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/skr-reseal-commit.service
	install -d $(DESTDIR)$(PKGDATADIR) $(DESTDIR)$(SYSCONFDIR)/kernel/postinst.d \
		$(DESTDIR)$(SYSCONFDIR)/kernel/postrm.d $(DESTDIR)$(SYSCONFDIR)/initramfs/post-update.d \
		$(DESTDIR)$(KERNEL_INSTALL_DIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@PKGDATADIR@|$(PKGDATADIR)|g' hooks/skr-hook-lib \
		> $(DESTDIR)$(PKGDATADIR)/hook-lib.sh
	chmod 0644 $(DESTDIR)$(PKGDATADIR)/hook-lib.sh
	# An example only: /etc/skr/client.json is written by the first skrctl enroll
	# (an example there would make it refuse its --broker and --ca).
	install -m 0644 packaging/etc/client.json $(DESTDIR)$(PKGDATADIR)/client.json.example
	for h in kernel-postinst:$(SYSCONFDIR)/kernel/postinst.d/zz-skr \
		kernel-postrm:$(SYSCONFDIR)/kernel/postrm.d/zz-skr \
		initramfs-post-update:$(SYSCONFDIR)/initramfs/post-update.d/skr \
		kernel-install:$(KERNEL_INSTALL_DIR)/90-skr.install; do \
		sed 's|@PKGDATADIR@|$(PKGDATADIR)|g' hooks/$${h%%:*} > $(DESTDIR)$${h#*:} && \
		chmod 0755 $(DESTDIR)$${h#*:} || exit 1; \
	done
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/skr
	[ -e $(DESTDIR)$(SYSCONFDIR)/skr/skr.conf ] || install -m 0644 packaging/etc/skr.conf $(DESTDIR)$(SYSCONFDIR)/skr/skr.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/skr/broker.json ] || install -m 0640 packaging/etc/broker.json $(DESTDIR)$(SYSCONFDIR)/skr/broker.json
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for m in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
		sed 's|@VERSION@|$(VERSION)|g' $$m > $$d && chmod 0644 $$d || exit 1; \
	done

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Man pages: plain roff in man/ (@VERSION@ is filled in by install).
MAN_PAGES := $(wildcard man/*.5 man/*.8)
.PHONY: man-check package-test

# Every page through groff and man with all warnings on: no output allowed.
man-check:
	sh man/check.sh $(MAN_PAGES)

# Builds the .debs in a temporary copy of the tree and installs them into a
# copy of the cached Debian 12 root (root; see packaging/README.md).
package-test:
	sh tools/deps.sh package
	sh packaging/test.sh
