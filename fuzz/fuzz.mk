# placeholder: replaced by the fuzzing work
FUZZ_BINS :=
