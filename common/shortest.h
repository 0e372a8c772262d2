/* The shortest decimal that reads back as a given double (Ulf Adams's Ryu
 * algorithm, PLDI 2018): integer arithmetic only, no printf/strtod. Used by
 * rt_format_double() (common/strbuf.h), which lays the digits out. */
#ifndef RATCHET_SHORTEST_H
#define RATCHET_SHORTEST_H

#include <stdint.h>

/* For finite v > 0: *digits * 10^*exp10 is the decimal with the fewest
 * significant digits that lies in the interval of reals rounding to v (the
 * closest such decimal, ties to an even last digit). *digits has 1 to 17
 * digits and normally no trailing zero. */
void rt_shortest_decimal(double v, uint64_t *digits, int *exp10);

#endif
