# `make bench`: ratchet against anchors measured in the same run on the same
# machine (nginx, openssl speed, the file system's fdatasync rate). Prints one
# table; never fails for being slow (docs/performance.md).
# Included by the top-level Makefile: BUILD, ALL_CFLAGS, LDLIBS come from it.
# Each bench/NAME.c is one tool, $(BUILD)/bench/NAME, linked against the
# library the daemons are built from.
#   make bench                      everything (about 5 minutes)
#   make bench BENCH_QUICK=1        short durations (development)
#   make bench BENCH_ONLY="ingest verify"   some sections: ingest verify scale decision appends

BENCH_SRC   := $(sort $(wildcard bench/*.c))
BENCH_TOOLS := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: bench bench-tools

$(BUILD)/bench/%: bench/%.c $(wildcard bench/*.h) $(BUILD)/libratchet.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libratchet.a $(LDLIBS) -lpthread

bench-tools: $(BENCH_TOOLS)

bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all bench-tools
	@sh bench/run.sh $(BUILD)
