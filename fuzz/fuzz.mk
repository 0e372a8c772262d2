# libFuzzer harnesses (included at the end of the top-level Makefile).
#
#   make fuzz            build every harness and run each for FUZZ_SECONDS
#                        (default 60), two at a time, after replaying its
#                        regression inputs; prints execs, exec/s, corpus size
#                        and peak RSS per harness and "fuzz: N passed, M failed"
#   make fuzz-regress    replay the seed corpora, the work corpora and the
#                        regression inputs only (fast)
#   make fuzz-build      build the harnesses only
#   fuzz/run.sh BUILD SECONDS [run|regress]   what the targets call
#
# fuzz/fuzz_<name>.c becomes $(BUILD)/fuzz/fuzz_<name>; its seeds are in
# fuzz/corpus/<name>/ (read only: new units go to $(BUILD)/fuzz/work/<name>/),
# crash reproducers in fuzz/regressions/<name>/. Every library source the
# daemons and ratchetctl use is built once more with clang and
# -fsanitize=fuzzer-no-link,address,undefined into $(BUILD)/fuzz/obj/.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60

FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)

# The project's warnings with -Werror; clang also warns about designated
# initializers that leave fields to zero, which the sources use on purpose.
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARN) -Wno-missing-field-initializers -I. -I$(BUILD) $(PKG_CFLAGS) \
               -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)

# Allocations go through the wrappers of fuzz/fuzz_common.h (failure passes).
FUZZ_WRAP    := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=reallocarray,--wrap=strdup,--wrap=strndup

FUZZ_LIB_SRC := $(LIB_SRC) $(WD_LIB_SRC) $(ENF_LIB_SRC)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/gen/reason_codes.o
FUZZ_HDRS    := $(wildcard fuzz/*.h)

.PHONY: fuzz fuzz-regress fuzz-build

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@sh fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) run

fuzz-regress: $(FUZZ_BINS)
	@sh fuzz/run.sh $(BUILD) 0 regress

$(BUILD)/fuzz/obj/%.o: %.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/obj/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/gen/reason_codes.h
	@mkdir -p $(dir $@)
	@echo "  CC/FUZZ $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(BUILD)/fuzz/libratchet.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_HDRS) $(BUILD)/fuzz/libratchet.a
	@mkdir -p $(dir $@)
	@echo "  LD/FUZZ $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_WRAP) -MMD -MP -o $@ $< $(filter %.o,$^) \
	    $(BUILD)/fuzz/libratchet.a $(PKG_LIBS) -lm -lpthread

# The differential harness also links the unit tests' reference model.
$(BUILD)/fuzz/fuzz_engine_model: $(BUILD)/fuzz/obj/tests/unit/refmodel.o

# The generator of the binary seeds (fuzz/make-seeds.sh); the normal build.
$(BUILD)/fuzz/seedgen: fuzz/seedgen.c $(BUILD)/libratchet.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libratchet.a $(LDLIBS)
