# tlsrpt-milter: one Makefile, no autotools.
#   make               build everything into $(BUILD)/
#   make check         run all tests (ends with "N passed, N failed")
#   make asan          build with AddressSanitizer/UBSan into build-asan/ and run the tests
#   make valgrind      unit tests and tlsrpt-parse under valgrind memcheck
#   make fuzz          build the libFuzzer target (clang) and run it FUZZ_SECONDS
#   make fuzz-auth     the same for the DKIM path (auth/)
#   make install DESTDIR= PREFIX=
#   make uninstall DESTDIR= PREFIX=   removes what install wrote
#   make bench         benchmarks (not part of check)
#   make mutate        the mutation pass of tests/mutations.txt (not part of check)
#   make clean

PREFIX  ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?=
FUZZ_SECONDS ?= 60

# pkg-config runs when a recipe first needs a flag, not when this file is read: on a
# bare machine `make demo` installs the packages (deps) before anything asks for them.
# $(call lazy,VAR,COMMAND) evaluates COMMAND once, on first use.
lazy = $(eval $(1) = $$(eval $(1) := $$$$(shell $(2)))$$($(1)))
$(call lazy,PKG_CFLAGS,pkg-config --cflags json-c zlib libmemcached libidn2 milter 2>/dev/null)
$(call lazy,JSONC_LIBS,pkg-config --libs json-c)
$(call lazy,ZLIB_LIBS,pkg-config --libs zlib)
$(call lazy,MEMC_LIBS,pkg-config --libs libmemcached libidn2)
$(call lazy,MILTER_LIBS,pkg-config --libs milter 2>/dev/null || echo -lmilter)
$(call lazy,DKIM_CFLAGS,pkg-config --cflags opendkim libpsl libcrypto 2>/dev/null)
$(call lazy,DKIM_LIBS,pkg-config --libs opendkim libpsl libcrypto)

WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes $(WERROR)
# CPPFLAGS and LDFLAGS come from the environment too (dpkg-buildflags: fortify, relro, now).
ALLCFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(MOD_INC) -MMD -MP
PTHREAD  = -pthread

PARSER_SRC := $(wildcard parser/*.c)
STORE_SRC  := $(wildcard store/*.c)
# Modules below the milter and the tools, each a library of its own directory:
# config/ (the one configuration reader), auth/ (DKIM verdicts), spool/ (the archive).
CONFIG_SRC := $(wildcard config/*.c)
AUTH_SRC   := $(wildcard auth/*.c)
SPOOL_SRC  := $(wildcard spool/*.c)
MOD_INC    := -Iparser -Istore $(if $(CONFIG_SRC),-Iconfig) $(if $(AUTH_SRC),-Iauth $(DKIM_CFLAGS)) $(if $(SPOOL_SRC),-Ispool)
BUILD_PKGS = json-c zlib libmemcached libidn2 $(if $(AUTH_SRC),opendkim libpsl libcrypto)
MILTER_SRC := $(wildcard milter/*.c)
PARSE_SRC  := $(wildcard tools/parse/*.c)
STATS_SRC  := $(wildcard tools/stats/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TESTLIB_SRC := $(wildcard tests/unit/tlib_*.c)
DRIVER_SRC := $(wildcard tests/driver/*.c)
STATSSEED_SRC := $(wildcard tests/stats-seed.c)
ARCHSEED_SRC := $(wildcard tests/archive-seed.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBTLSRPT := $(BUILD)/libtlsrpt.a
LIBSTORE  := $(BUILD)/libtlsrpt-store.a
LIBCONFIG := $(if $(CONFIG_SRC),$(BUILD)/libtlsrpt-config.a)
LIBAUTH   := $(if $(AUTH_SRC),$(BUILD)/libtlsrpt-auth.a)
LIBSPOOL  := $(if $(SPOOL_SRC),$(BUILD)/libtlsrpt-spool.a)
# Every library below the programs, in link order (each before the ones it uses).
LOWER_LIBS = $(LIBSPOOL) $(LIBCONFIG) $(LIBAUTH) $(LIBSTORE) $(LIBTLSRPT)
EXT_LIBS   = $(if $(AUTH_SRC),$(DKIM_LIBS)) $(MEMC_LIBS) $(JSONC_LIBS) $(ZLIB_LIBS)
PROGS := $(BUILD)/tlsrpt-parse
ifneq ($(MILTER_SRC),)
PROGS += $(BUILD)/tlsrpt-milter
endif
ifneq ($(STATS_SRC),)
PROGS += $(BUILD)/tlsrpt-stats
endif
ifneq ($(DRIVER_SRC),)
PROGS += $(BUILD)/tests/milter-driver
endif
ifneq ($(STATSSEED_SRC),)
PROGS += $(BUILD)/tests/stats-seed
endif
ifneq ($(ARCHSEED_SRC),)
PROGS += $(BUILD)/tests/archive-seed
endif
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.SECONDARY:
.PHONY: all build-libs-present check asan valgrind fuzz fuzz-build fuzz-auth fuzz-auth-build install uninstall clean bench demo deps mutate
all: build-libs-present $(LOWER_LIBS) $(PROGS) $(UNIT_BINS)

# A clear message instead of hundreds of undefined references when a -dev package is missing.
build-libs-present:
	@pkg-config --exists $(BUILD_PKGS) || { echo "missing build packages (pkg-config: $$(for m in $(BUILD_PKGS); do pkg-config --exists $$m || printf '%s ' $$m; done)): run 'make deps' as root" >&2; exit 1; }

# Every object also depends on this file: a change of include paths or flags (a header
# moving between modules) must rebuild, which the .d files alone cannot tell.
$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(PTHREAD) -c $< -o $@

$(LIBTLSRPT): $(call obj,$(PARSER_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSTORE): $(call obj,$(STORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libtlsrpt-config.a: $(call obj,$(CONFIG_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libtlsrpt-auth.a: $(call obj,$(AUTH_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libtlsrpt-spool.a: $(call obj,$(SPOOL_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tlsrpt-parse: $(call obj,$(PARSE_SRC)) $(LOWER_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(EXT_LIBS)

$(BUILD)/tlsrpt-milter: $(call obj,$(MILTER_SRC)) $(LOWER_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(MILTER_LIBS) $(EXT_LIBS)

$(BUILD)/tlsrpt-stats: $(call obj,$(STATS_SRC)) $(LOWER_LIBS)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(EXT_LIBS) -lm

$(BUILD)/tests/milter-driver: $(call obj,$(DRIVER_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^

# tests/t-stats.sh and the bench seed memcached through the store with it.
$(BUILD)/tests/stats-seed: $(call obj,$(STATSSEED_SRC)) $(LOWER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(EXT_LIBS)

# tests/t-rebuild.sh and the bench write archives (and count them) with it.
$(BUILD)/tests/archive-seed: $(call obj,$(ARCHSEED_SRC)) $(LOWER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(EXT_LIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(call obj,$(TESTLIB_SRC)) $(LOWER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(PTHREAD) -o $@ $^ $(EXT_LIBS)

# check and demo install what is missing first, then build in a fresh make that
# reads the flags of the packages just installed.
check: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(abspath $(BUILD)) sh tests/run-tests.sh

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check

valgrind: all
	@BUILD=$(abspath $(BUILD)) sh tests/valgrind.sh

fuzz-build: $(BUILD)/fuzz/fuzz_decoder
$(BUILD)/fuzz/fuzz_decoder: tests/fuzz/fuzz_decoder.c $(PARSER_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  $(PKG_CFLAGS) -Iparser -o $@ $^ $(JSONC_LIBS) $(ZLIB_LIBS)
fuzz: fuzz-build
	sh tests/fuzz/run-fuzz.sh $(BUILD)/fuzz/fuzz_decoder $(FUZZ_SECONDS)

# The DKIM path (auth/ over libopendkim) has a target of its own.
fuzz-auth-build: $(BUILD)/fuzz/fuzz_auth
$(BUILD)/fuzz/fuzz_auth: tests/fuzz/fuzz_auth.c $(AUTH_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iauth $(DKIM_CFLAGS) -o $@ $^ $(DKIM_LIBS) -pthread
fuzz-auth: fuzz-auth-build
	sh tests/fuzz/run-fuzz-auth.sh $(BUILD)/fuzz/fuzz_auth $(FUZZ_SECONDS)

bench: all
	sh bench/run.sh

# Plant each mutation of tests/mutations.txt in a copy of the tree, run its tests,
# report the kill rate (tests/MUTATIONS.md); MUT_ONLY="ID..." for a few.
mutate: deps
	sh tests/mutate.sh

deps:
	sh tests/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	sh tests/demo.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 755 $(BUILD)/tlsrpt-parse $(DESTDIR)$(BINDIR)/
	if [ -f $(BUILD)/tlsrpt-stats ]; then install -m 755 $(BUILD)/tlsrpt-stats $(DESTDIR)$(BINDIR)/; fi
	if [ -f $(BUILD)/tlsrpt-milter ]; then install -m 755 $(BUILD)/tlsrpt-milter $(DESTDIR)$(SBINDIR)/; fi
	if [ -f conf/tlsrpt-milter.conf ]; then install -m 644 conf/tlsrpt-milter.conf $(DESTDIR)$(SYSCONFDIR)/tlsrpt-milter.conf.sample; fi
	for f in man/*.1; do [ -f "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man1/; done; true
	for f in man/*.5; do [ -f "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man5/; done; true
	for f in man/*.8; do [ -f "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man8/; done; true
	for f in init/*.service init/*.timer; do [ -f "$$f" ] || continue; \
	  sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/usr/local/bin/|$(BINDIR)/|g' \
	      -e 's|/etc/tlsrpt-milter.conf|$(SYSCONFDIR)/tlsrpt-milter.conf|g' $$f \
	      > $(DESTDIR)$(UNITDIR)/$$(basename $$f) && chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename $$f); done
	install -d $(DESTDIR)$(SYSCONFDIR)/init.d
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/tlsrpt-milter.conf|$(SYSCONFDIR)/tlsrpt-milter.conf|g' \
	    init/tlsrpt-milter.init > $(DESTDIR)$(SYSCONFDIR)/init.d/tlsrpt-milter
	chmod 755 $(DESTDIR)$(SYSCONFDIR)/init.d/tlsrpt-milter

# uninstall: every file install writes (the same globs and names), never a
# /etc/tlsrpt-milter.conf made from the sample. With DESTDIR it also removes the
# directories left empty below DESTDIR; without, no directory (/usr/local/bin,
# /etc/init.d... are the system's).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tlsrpt-parse $(DESTDIR)$(BINDIR)/tlsrpt-stats $(DESTDIR)$(SBINDIR)/tlsrpt-milter
	rm -f $(DESTDIR)$(SYSCONFDIR)/tlsrpt-milter.conf.sample $(DESTDIR)$(SYSCONFDIR)/init.d/tlsrpt-milter
	for s in 1 5 8; do for f in man/*.$$s; do [ -f "$$f" ] || continue; \
	  rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$f); done; done
	for f in init/*.service init/*.timer; do [ -f "$$f" ] || continue; \
	  rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$f); done
	@D=$$(printf '%s' "$(DESTDIR)" | sed 's|/*$$||'); [ -n "$$D" ] || exit 0; \
	for d in $(BINDIR) $(SBINDIR) $(SYSCONFDIR)/init.d $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man8 $(UNITDIR); do \
	  d=$$D$$d; while [ "$${d#$$D/}" != "$$d" ] && rmdir "$$d" 2>/dev/null; do d=$$(dirname "$$d"); done; \
	done

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
