# ratchet — see README.md. `make demo` and `make test` are the two commands.
#
# Sources are discovered by directory so adding a file needs no Makefile edit:
#   policy/ feeds/ common/  -> build/libratchet.a (pure logic + small I/O helpers),
#   plus the daemons' modules (all of watchdog/ and enforcer/ but main.c)
#   ctl/                    -> build/ratchetctl
#   watchdog/, enforcer/    -> build/ratchet-watchdog, build/ratchet-enforcer
#   tests/unit/test_*.c     -> build/tests/test_*  (and build/asan/tests/test_*)

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build

PKGS    := jansson libevent libevent_openssl libcurl libsystemd openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
           -Wstrict-prototypes -Wvla -Wpointer-arith -Wundef
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) -I. -I$(BUILD) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm

# `make V=1` shows full command lines.
V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRC   := $(sort $(wildcard policy/*.c feeds/*.c common/*.c cmdlog/*.c))
CTL_SRC   := $(sort $(wildcard ctl/*.c))
# Each daemon is its main.c plus a library of its other files, so unit tests
# can link the daemon's modules.
WD_SRC    := $(sort $(wildcard watchdog/*.c))
ENF_SRC   := $(sort $(wildcard enforcer/*.c))
WD_LIB_SRC  := $(filter-out watchdog/main.c,$(WD_SRC))
ENF_LIB_SRC := $(filter-out enforcer/main.c,$(ENF_SRC))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_SUPPORT := $(sort $(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c)))
GEN_SRC   := $(BUILD)/gen/reason_codes.c

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/reason_codes.o $(WD_LIB_SRC:%.c=$(BUILD)/obj/%.o) $(ENF_LIB_SRC:%.c=$(BUILD)/obj/%.o)
CTL_OBJ   := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)
WD_OBJ    := $(BUILD)/obj/watchdog/main.o
ENF_OBJ   := $(BUILD)/obj/enforcer/main.o
SUP_OBJ   := $(TEST_SUPPORT:%.c=$(BUILD)/obj/%.o)
TESTS     := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/obj/%.o) $(BUILD)/asan/obj/gen/reason_codes.o $(WD_LIB_SRC:%.c=$(BUILD)/asan/obj/%.o) $(ENF_LIB_SRC:%.c=$(BUILD)/asan/obj/%.o)
ASAN_SUP_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/asan/obj/%.o)
ASAN_TESTS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/asan/tests/%)

BINS := $(BUILD)/ratchetctl
ifneq ($(wildcard watchdog/main.c),)
BINS += $(BUILD)/ratchet-watchdog
endif
ifneq ($(wildcard enforcer/main.c),)
BINS += $(BUILD)/ratchet-enforcer
endif

.PHONY: all deps deps-test deps-demo test chaos unit asan-unit check-tests demo install uninstall clean lint-reasons reasons-lock
.DEFAULT_GOAL := all

all: deps $(BINS)

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test

deps-demo:
	@sh scripts/deps.sh demo

# ---- generated reason-code table (the registry is the single source) ----
$(BUILD)/tools/reasongen: tools/reasongen.c | deps
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) -std=c17 -D_GNU_SOURCE $(WARN) $(PKG_CFLAGS) $(CFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/gen/reason_codes.h $(BUILD)/gen/reason_codes.c &: policy/reason-codes.json $(BUILD)/tools/reasongen
	@mkdir -p $(BUILD)/gen
	$(BUILD)/tools/reasongen gen policy/reason-codes.json $(BUILD)/gen/reason_codes.h $(BUILD)/gen/reason_codes.c

# ---- normal build ----
$(BUILD)/obj/%.o: %.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libratchet.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/ratchetctl: $(CTL_OBJ) $(BUILD)/libratchet.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(CTL_OBJ) $(BUILD)/libratchet.a $(LDLIBS) -lpthread

$(BUILD)/ratchet-watchdog: $(WD_OBJ) $(BUILD)/libratchet.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(WD_OBJ) $(BUILD)/libratchet.a $(LDLIBS)

$(BUILD)/ratchet-enforcer: $(ENF_OBJ) $(BUILD)/libratchet.a
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(ENF_OBJ) $(BUILD)/libratchet.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(SUP_OBJ) $(BUILD)/libratchet.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(SUP_OBJ) $(BUILD)/libratchet.a $(LDLIBS)

# test_allocfail fails each allocation in turn: ratchet's own calls go
# through its __wrap_ functions (libraries' calls are not affected).
ALLOCFAIL_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=reallocarray,--wrap=strdup,--wrap=asprintf,--wrap=vasprintf,--wrap=free
$(BUILD)/tests/test_allocfail $(BUILD)/asan/tests/test_allocfail: LDLIBS += $(ALLOCFAIL_WRAP)

# ---- ASan + UBSan build of the library and unit tests ----
$(BUILD)/asan/obj/%.o: %.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC/SAN  $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC/SAN  $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/asan/libratchet.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/asan/tests/%: tests/unit/%.c $(ASAN_SUP_OBJ) $(BUILD)/asan/libratchet.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -MMD -MP -o $@ $< $(ASAN_SUP_OBJ) $(BUILD)/asan/libratchet.a $(LDLIBS)

# ---- tests ----
# tests/run-all.sh runs every suite and prints one closing "N passed, N failed".
test: deps-test
	@$(MAKE) --no-print-directory all $(TESTS) $(ASAN_TESTS) $(BUILD)/tools/reasongen $(FUZZ_BINS)
	@sh tests/run-all.sh $(BUILD)

# The failure-injection scenarios alone (make test runs them too).
chaos: deps-test
	@$(MAKE) --no-print-directory all
	@sh chaos/run.sh $(BUILD)

lint-reasons: $(BUILD)/tools/reasongen
	@sh tests/lint-reasons.sh $(BUILD)

# Regenerate the lock after deliberately adding codes; the lint refuses removals and rewording.
reasons-lock: $(BUILD)/tools/reasongen
	$(BUILD)/tools/reasongen lock policy/reason-codes.json policy/reason-codes.lock

demo: deps-demo
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

# ---- install ----
BINDIR := $(DESTDIR)$(PREFIX)/bin
SBINDIR := $(DESTDIR)$(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
POLKITDIR ?= $(PREFIX)/share/polkit-1/rules.d
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ratchet
ONCALL_GROUP ?= oncall
UNITS := ratchet-watchdog.service ratchet-enforcer.service ratchet-enforcer.socket ratchet.slice
EXAMPLES := watchdog.json enforcer.json watchdog.systemd.json enforcer.systemd.json
install: all
	install -d $(BINDIR)
	install -m 0755 $(BUILD)/ratchetctl $(BINDIR)/ratchetctl
	@if [ -x $(BUILD)/ratchet-watchdog ]; then install -d $(SBINDIR) && install -m 0755 $(BUILD)/ratchet-watchdog $(SBINDIR)/; fi
	@if [ -x $(BUILD)/ratchet-enforcer ]; then install -d $(SBINDIR) && install -m 0755 $(BUILD)/ratchet-enforcer $(SBINDIR)/; fi
	install -d $(DESTDIR)$(PREFIX)/share/ratchet
	install -m 0644 policy/reason-codes.json $(DESTDIR)$(PREFIX)/share/ratchet/reason-codes.json
	install -m 0644 policy/default-policy.json $(DESTDIR)$(PREFIX)/share/ratchet/default-policy.json
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(POLKITDIR)
	for u in $(UNITS); do sed 's|/usr/sbin/|$(PREFIX)/sbin/|g' systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 0644 systemd/ratchet.sysusers $(DESTDIR)$(SYSUSERSDIR)/ratchet.conf
	install -m 0644 systemd/ratchet.tmpfiles $(DESTDIR)$(TMPFILESDIR)/ratchet.conf
	sed -e 's|/usr/sbin/|$(PREFIX)/sbin/|g' -e 's/^\(    var ONCALL_GROUP = \)"oncall";/\1"$(ONCALL_GROUP)";/' \
	    systemd/00-ratchet-oncall.rules >$(DESTDIR)$(POLKITDIR)/00-ratchet-oncall.rules
	chmod 0644 $(DESTDIR)$(POLKITDIR)/00-ratchet-oncall.rules
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 man/ratchetctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/ratchet-policy.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/ratchet-watchdog.8 man/ratchet-enforcer.8 $(DESTDIR)$(MANDIR)/man8/
	for e in $(EXAMPLES); do install -m 0644 examples/$$e $(DESTDIR)$(DOCDIR)/examples/; done
	@echo "installed; then: systemd-sysusers ratchet.conf; systemd-tmpfiles --create ratchet.conf; systemctl daemon-reload (see README)"

uninstall:
	rm -f $(BINDIR)/ratchetctl $(SBINDIR)/ratchet-watchdog $(SBINDIR)/ratchet-enforcer
	rm -rf $(DESTDIR)$(PREFIX)/share/ratchet $(DESTDIR)$(DOCDIR)
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -f $(DESTDIR)$(SYSUSERSDIR)/ratchet.conf $(DESTDIR)$(TMPFILESDIR)/ratchet.conf $(DESTDIR)$(POLKITDIR)/00-ratchet-oncall.rules
	rm -f $(DESTDIR)$(MANDIR)/man1/ratchetctl.1 $(DESTDIR)$(MANDIR)/man5/ratchet-policy.5
	rm -f $(DESTDIR)$(MANDIR)/man8/ratchet-watchdog.8 $(DESTDIR)$(MANDIR)/man8/ratchet-enforcer.8

clean:
	rm -rf $(BUILD)

# libFuzzer harnesses (make fuzz) and the benchmarks (make bench).
include fuzz/fuzz.mk
include bench/bench.mk

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
