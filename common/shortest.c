/* Ryu (Ulf Adams, "Ryu: fast float-to-string conversion", PLDI 2018), the
 * d2d step of the reference implementation (github.com/ulfjack/ryu,
 * Apache-2.0 / Boost), for positive finite doubles. The bounds of the
 * rounding interval and the value are scaled by a power of ten with 125-bit
 * powers of five (common/shortest_tables.h), then digits are removed while
 * the interval still holds a shorter decimal. */
#include "common/shortest.h"

#include <stdbool.h>
#include <string.h>

#include "common/shortest_tables.h"

#define MANTISSA_BITS 52
#define EXPONENT_BITS 11
#define EXPONENT_BIAS 1023
#define POW5_INV_BITCOUNT 125
#define POW5_BITCOUNT 125

typedef unsigned __int128 u128;

/* ceil(log2(5^e)) for 0 <= e <= 3528 (1 for e = 0). */
static uint32_t pow5bits(int32_t e) { return (uint32_t)(((e * 1217359) >> 19) + 1); }
/* floor(log10(2^e)) for 0 <= e <= 1650. */
static uint32_t log10_pow2(int32_t e) { return (uint32_t)((e * 78913) >> 18); }
/* floor(log10(5^e)) for 0 <= e <= 2620. */
static uint32_t log10_pow5(int32_t e) { return (uint32_t)((e * 732923) >> 20); }

static uint32_t pow5_factor(uint64_t v) {
    uint32_t n = 0;
    while (v % 5 == 0) {
        v /= 5;
        n++;
    }
    return n;
}

static bool multiple_of_pow5(uint64_t v, uint32_t p) { return pow5_factor(v) >= p; }
static bool multiple_of_pow2(uint64_t v, uint32_t p) { return (v & ((UINT64_C(1) << p) - 1)) == 0; }

/* floor(m * mul / 2^j), mul a 128-bit {low, high} pair, j >= 64. */
static uint64_t mul_shift(uint64_t m, const uint64_t mul[2], int32_t j) {
    u128 b0 = (u128)m * mul[0];
    u128 b2 = (u128)m * mul[1];
    return (uint64_t)(((b0 >> 64) + b2) >> (j - 64));
}

void rt_shortest_decimal(double v, uint64_t *digits, int *exp10) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t ieee_m = bits & ((UINT64_C(1) << MANTISSA_BITS) - 1);
    uint32_t ieee_e = (uint32_t)((bits >> MANTISSA_BITS) & ((1u << EXPONENT_BITS) - 1));

    int32_t e2;
    uint64_t m2;
    if (ieee_e == 0) {
        e2 = 1 - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = ieee_m;
    } else {
        e2 = (int32_t)ieee_e - EXPONENT_BIAS - MANTISSA_BITS - 2;
        m2 = (UINT64_C(1) << MANTISSA_BITS) | ieee_m;
    }
    bool accept_bounds = (m2 & 1) == 0; /* round-half-even reads the bounds back as v */

    /* The value and its interval's bounds, times 4: mv - mm_shift - 1 .. mv + 2. */
    uint64_t mv = 4 * m2;
    uint32_t mm_shift = ieee_m != 0 || ieee_e <= 1;

    uint64_t vr, vp, vm;
    int32_t e10;
    bool vm_trailing_zeros = false, vr_trailing_zeros = false;
    if (e2 >= 0) {
        uint32_t q = log10_pow2(e2) - (e2 > 3);
        e10 = (int32_t)q;
        int32_t k = POW5_INV_BITCOUNT + (int32_t)pow5bits((int32_t)q) - 1;
        int32_t i = -e2 + (int32_t)q + k;
        vr = mul_shift(4 * m2, POW5_INV_SPLIT[q], i);
        vp = mul_shift(4 * m2 + 2, POW5_INV_SPLIT[q], i);
        vm = mul_shift(4 * m2 - 1 - mm_shift, POW5_INV_SPLIT[q], i);
        if (q <= 21) {
            /* Only one of mp, mv and mm can be a multiple of 5, if any. */
            if (mv % 5 == 0)
                vr_trailing_zeros = multiple_of_pow5(mv, q);
            else if (accept_bounds)
                vm_trailing_zeros = multiple_of_pow5(mv - 1 - mm_shift, q);
            else
                vp -= multiple_of_pow5(mv + 2, q);
        }
    } else {
        uint32_t q = log10_pow5(-e2) - (-e2 > 1);
        e10 = (int32_t)q + e2;
        int32_t i = -e2 - (int32_t)q;
        int32_t k = (int32_t)pow5bits(i) - POW5_BITCOUNT;
        int32_t j = (int32_t)q - k;
        vr = mul_shift(4 * m2, POW5_SPLIT[i], j);
        vp = mul_shift(4 * m2 + 2, POW5_SPLIT[i], j);
        vm = mul_shift(4 * m2 - 1 - mm_shift, POW5_SPLIT[i], j);
        if (q <= 1) {
            /* mv = 4 * m2 has at least two trailing zero bits; mm has one
             * iff mm_shift == 1; mp = mv + 2 has one. */
            vr_trailing_zeros = true;
            if (accept_bounds)
                vm_trailing_zeros = mm_shift == 1;
            else
                --vp;
        } else if (q < 63) {
            /* Whether mv * 5^-e2 / 10^q is exact: -e2 >= q, so 2^q | mv. */
            vr_trailing_zeros = multiple_of_pow2(mv, q);
        }
    }

    int32_t removed = 0;
    uint8_t last_removed = 0;
    uint64_t output;
    if (vm_trailing_zeros || vr_trailing_zeros) {
        /* Rare: a bound or the value is an exact decimal. */
        while (vp / 10 > vm / 10) {
            vm_trailing_zeros &= vm % 10 == 0;
            vr_trailing_zeros &= last_removed == 0;
            last_removed = (uint8_t)(vr % 10);
            vr /= 10, vp /= 10, vm /= 10;
            removed++;
        }
        if (vm_trailing_zeros) {
            while (vm % 10 == 0) {
                vr_trailing_zeros &= last_removed == 0;
                last_removed = (uint8_t)(vr % 10);
                vr /= 10, vp /= 10, vm /= 10;
                removed++;
            }
        }
        if (vr_trailing_zeros && last_removed == 5 && vr % 2 == 0)
            last_removed = 4; /* exactly halfway: round to even */
        output = vr + ((vr == vm && (!accept_bounds || !vm_trailing_zeros)) || last_removed >= 5);
    } else {
        bool round_up = false;
        while (vp / 10 > vm / 10) {
            round_up = vr % 10 >= 5;
            vr /= 10, vp /= 10, vm /= 10;
            removed++;
        }
        output = vr + (vr == vm || round_up);
    }
    *digits = output;
    *exp10 = e10 + removed;
}
