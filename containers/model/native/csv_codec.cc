/*
 * The model server's CSV in C: request bodies of decimal numbers parsed into a row-major matrix of
 * doubles, and the response's lines written from the scores' text.
 *
 * esteira_model.native_csv loads this library with ctypes, which releases the GIL for each call, so
 * two requests parse at once on two cores. The body's buffer must end with a NUL byte, as a Python
 * bytes object's always does: the digit loops stop at it. It accepts only the plain grammar below and answers -1
 * for anything else; the caller then runs its careful parser, which either agrees or names the bad
 * field. So this code never has to produce an error message, and never decides that a body is bad.
 *
 * A field is empty (a missing value: NaN) or [+-]? digits [. digits] [(e|E) [+-]? digits], with at
 * least one digit before the exponent: every such text is one that Python's float() reads, and the
 * value here is the one float() gives (all three ways below round correctly):
 *   - at most 19 digits (leading zeros included), a mantissa up to 2^53 and a decimal exponent within
 *     +-22: Clinger's fast path, one exact IEEE multiplication or division;
 *   - other values of at most 19 digits (full-precision doubles, as pandas and repr() write them):
 *     Eisel-Lemire, with powers_of_five.h;
 *   - the rest (more digits; subnormal results; the rare case Eisel-Lemire cannot decide):
 *     std::from_chars, locale-free (libstdc++ 12 implements it with fast_float).
 */
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>

// The eight-digits-at-a-time loop reads the first character from the lowest byte: x86-64 and AArch64 Linux (every
// SageMaker instance type) are little-endian. No intrinsics: the same source builds on both.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "csv_codec.cc assumes a little-endian machine");

namespace {

#include "powers_of_five.h"

constexpr double POWERS_OF_TEN[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
constexpr uint64_t MAX_EXACT_MANTISSA = uint64_t{1} << 53;

inline int is_digit(char c) { return (unsigned char)(c - '0') < 10; }

/* Eight ASCII digits, each already minus '0', the first in the lowest byte: their value (SWAR, as fast_float). */
inline uint64_t eight_digits(uint64_t digits) {
    const uint64_t mask = 0x000000FF000000FFULL;
    const uint64_t mul1 = 0x000F424000000064ULL; /* 100 + (1000000 << 32) */
    const uint64_t mul2 = 0x0000271000000001ULL; /* 1 + (10000 << 32) */
    digits = (digits * 10) + (digits >> 8);
    return (((digits & mask) * mul1) + (((digits >> 16) & mask) * mul2)) >> 32;
}

/*
 * Appends the fraction's digits at p to *mantissa; returns the byte after them. Eight at a time while eight can be
 * read before `end`: full-precision values (16-17 digits after the point) parsed in 17 instead of 25 ns, six-decimal
 * ones in 11.7 instead of 11.0 (the check costs them a little). Whole parts are short: they stay byte by byte.
 */
inline const char *read_fraction(const char *p, const char *end, uint64_t *mantissa) {
    uint64_t m = *mantissa;
    while (end - p >= 8) {
        uint64_t word;
        memcpy(&word, p, sizeof word);
        uint64_t digits = word - 0x3030303030303030ULL;
        if ((((word + 0x4646464646464646ULL) | digits) & 0x8080808080808080ULL) != 0) {
            break; /* a byte that is not a digit */
        }
        m = m * 100000000ULL + eight_digits(digits);
        p += 8;
    }
    while (is_digit(*p)) {
        m = m * 10 + (uint64_t)(*p - '0');
        p++;
    }
    *mantissa = m;
    return p;
}

/* The sign set without a branch: signs are random in real data, and a mispredicted branch per value
 * cost more than a quarter of the parse. */
inline double with_sign(double magnitude, int negative) {
    uint64_t bits;
    memcpy(&bits, &magnitude, sizeof bits);
    bits |= (uint64_t)negative << 63;
    memcpy(&magnitude, &bits, sizeof bits);
    return magnitude;
}

/* The magnitude written in [start, end) (no sign), or -1 when it is out of a double's finite range. */
int slow_number(const char *start, const char *end, double *value) {
    double parsed = 0.0;
    std::from_chars_result result = std::from_chars(start, end, parsed);
    if (result.ec != std::errc() || result.ptr != end || !std::isfinite(parsed)) {
        return -1; /* the careful parser decides: float() gives inf or a denormal there */
    }
    *value = parsed;
    return 0;
}

/*
 * Eisel-Lemire, as fast_float implements it (Lemire, "Number Parsing at a Gigabyte per Second", 2021): the double
 * nearest to w * 10^q for an exact w (at most 19 digits), from one or two 64x128-bit multiplications by the table's
 * 5^q. False when it cannot decide (rare), or for a subnormal or infinite result: from_chars then decides. Full-
 * precision doubles (17 digits) took 28 ns a value through from_chars, which parses the text again; 23-25 here.
 * Not inlined: inlined, it slowed the common short values' loop by 2-3%.
 */
__attribute__((noinline)) bool eisel_lemire(uint64_t w, int q, double *value) {
    constexpr int MANTISSA_BITS = 52;
    constexpr int MINIMUM_EXPONENT = -1023;
    if (w == 0 || q < SMALLEST_POWER_OF_FIVE || q > LARGEST_POWER_OF_FIVE) {
        return false;
    }
    int leading_zeros = __builtin_clzll(w);
    w <<= leading_zeros;
    size_t index = 2 * (size_t)(q - SMALLEST_POWER_OF_FIVE);
    unsigned __int128 first = (unsigned __int128)w * POWERS_OF_FIVE[index];
    uint64_t high = (uint64_t)(first >> 64);
    uint64_t low = (uint64_t)first;
    constexpr uint64_t PRECISION_MASK = UINT64_MAX >> (MANTISSA_BITS + 3);
    if ((high & PRECISION_MASK) == PRECISION_MASK) { /* the low bits may carry: add the next 64 bits' product */
        uint64_t second_high = (uint64_t)(((unsigned __int128)w * POWERS_OF_FIVE[index + 1]) >> 64);
        low += second_high;
        high += second_high > low;
    }
    if (low == UINT64_MAX && (q < -27 || q > 55)) {
        return false; /* the truncated table could be off by one here */
    }
    int upper_bit = (int)(high >> 63);
    int shift = upper_bit + 64 - MANTISSA_BITS - 3;
    uint64_t mantissa = high >> shift;
    int power2 = (((152170 + 65536) * q) >> 16) + 63 + upper_bit - leading_zeros - MINIMUM_EXPONENT;
    if (power2 <= 0) {
        return false; /* subnormal */
    }
    if (low <= 1 && q >= -4 && q <= 23 && (mantissa & 3) == 1 && (mantissa << shift) == high) {
        mantissa &= ~uint64_t{1}; /* exactly halfway: round to even, down */
    }
    mantissa += mantissa & 1;
    mantissa >>= 1;
    if (mantissa >= (uint64_t{2} << MANTISSA_BITS)) {
        mantissa = uint64_t{1} << MANTISSA_BITS;
        power2++;
    }
    mantissa &= ~(uint64_t{1} << MANTISSA_BITS);
    if (power2 >= 0x7FF) {
        return false; /* infinite */
    }
    uint64_t bits = mantissa | ((uint64_t)power2 << MANTISSA_BITS);
    memcpy(value, &bits, sizeof bits);
    return true;
}

/*
 * Parses one field starting at *cursor; leaves *cursor on the byte after it. 0, or -1 when not plain.
 * Past `end` come only the trimmed spaces and line ends, then the NUL byte that ends the buffer (a Python bytes
 * object's always does): none is a digit, so the digit loops need no bounds checks.
 */
inline int parse_field(const char **cursor, const char *end, double *value) {
    const char *p = *cursor;
    if (*p == ',' || *p == '\n' || p == end) {
        *value = std::nan(""); /* an empty field is a missing value */
        return 0;
    }
    int negative = *p == '-';
    p += negative || *p == '+';
    uint64_t mantissa = 0;
    const char *digits = p;
    while (is_digit(*p)) {
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        p++;
    }
    ptrdiff_t count = p - digits;
    int exponent = 0;
    if (*p == '.') {
        const char *fraction = ++p;
        p = read_fraction(p, end, &mantissa);
        exponent = (int)(fraction - p);
        count += p - fraction;
    }
    if (count == 0) {
        return -1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        int exponent_negative = *p == '-';
        p += exponent_negative || *p == '+';
        if (!is_digit(*p)) {
            return -1;
        }
        int written = 0;
        while (is_digit(*p)) {
            if (written < 100000) { /* beyond any double's range either way; stops overflow */
                written = written * 10 + (*p - '0');
            }
            p++;
        }
        exponent += exponent_negative ? -written : written;
    }
    if (p != end && *p != ',' && *p != '\n') {
        return -1;
    }
    *cursor = p;
    /* At most 19 digits (leading zeros included) cannot overflow the mantissa. */
    if (count <= 19 && mantissa <= MAX_EXACT_MANTISSA && exponent >= -22 && exponent <= 22) {
        double m = (double)mantissa; /* exact: at most 2^53 */
        double result = exponent < 0 ? m / POWERS_OF_TEN[-exponent] : m * POWERS_OF_TEN[exponent];
        *value = with_sign(result, negative);
        return 0;
    }
    double magnitude = 0.0;
    if (!(count <= 19 && eisel_lemire(mantissa, exponent, &magnitude)) && slow_number(digits, p, &magnitude) != 0) {
        return -1;
    }
    *value = with_sign(magnitude, negative);
    return 0;
}

}  // namespace

/*
 * The body's extent: *trimmed is its length without trailing spaces, tabs and line ends, and the result its number
 * of lines (0 for a body of only those). memchr is vectorized in libc: a byte loop here took 120 us for a 1,000-row
 * body, and bytes.count(b"\n") 67 us.
 */
extern "C" size_t esteira_csv_lines(const char *body, size_t length, size_t *trimmed) {
    const char *end = body + length;
    while (end > body && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) {
        end--;
    }
    *trimmed = (size_t)(end - body);
    if (end == body) {
        return 0;
    }
    size_t lines = 1;
    for (const char *p = body; (p = static_cast<const char *>(memchr(p, '\n', (size_t)(end - p)))) != nullptr; p++) {
        lines++;
    }
    return lines;
}

/*
 * Parses the first `length` bytes of the body (as esteira_csv_lines trimmed it; lines end with \n: a body with
 * \r\n line ends has them replaced first) as exactly `rows` records of `columns` fields each into
 * out[rows * columns]. Returns 0, or -1 when the body is not plain (the caller's careful parser then decides).
 * Accepting \r\n here instead slowed every body by 10-15%.
 */
extern "C" int esteira_parse_csv(const char *body, size_t length, size_t rows, size_t columns, double *out) {
    const char *p = body;
    const char *end = body + length;
    for (size_t row = 0; row < rows; row++) {
        if (p == end || *p == '\n') {
            return -1; /* an empty line */
        }
        for (size_t column = 0; column < columns; column++) {
            if (parse_field(&p, end, out++) != 0) {
                return -1;
            }
            char expected = column + 1 < columns ? ',' : '\n';
            if (p == end) {
                if (column + 1 < columns || row + 1 < rows) {
                    return -1;
                }
            } else if (*p != expected) {
                return -1;
            } else {
                p++;
            }
        }
    }
    return p == end ? 0 : -1;
}

/*
 * The CSV response: one "label,score\n" line per score, written into out[capacity]. Returns the bytes written, or
 * -1 when `scores` does not hold exactly `count` values or out is too small.
 *
 * scores: the scores' text as orjson writes a float32 array (the shortest text that reads back as each value),
 * without the brackets: values separated by ','. label_index: NULL for regression (the label is the score's text),
 * or one class index per score into the label table: label i is label_text[label_offsets[i], label_offsets[i + 1]).
 * The Python formatting this replaces split the text into a thousand bytes objects and joined them again: three
 * quarters of a 1,000-row response's cost.
 */
extern "C" long esteira_format_csv(const char *scores, size_t scores_length, size_t count, const int64_t *label_index,
                                   const char *label_text, const int64_t *label_offsets, size_t label_count, char *out,
                                   size_t capacity) {
    const char *p = scores;
    const char *end = scores + scores_length;
    char *w = out;
    char *limit = out + capacity;
    for (size_t i = 0; i < count; i++) {
        const char *comma = static_cast<const char *>(memchr(p, ',', (size_t)(end - p)));
        const char *value_end = comma != nullptr ? comma : end;
        if ((comma == nullptr) != (i + 1 == count) || value_end == p) {
            return -1;
        }
        size_t value_length = (size_t)(value_end - p);
        const char *label = p;
        size_t label_length = value_length;
        if (label_index != nullptr) {
            int64_t index = label_index[i];
            if (index < 0 || (size_t)index >= label_count) {
                return -1;
            }
            label = label_text + label_offsets[index];
            label_length = (size_t)(label_offsets[index + 1] - label_offsets[index]);
        }
        if ((size_t)(limit - w) < label_length + value_length + 2) {
            return -1;
        }
        memcpy(w, label, label_length);
        w += label_length;
        *w++ = ',';
        memcpy(w, p, value_length);
        w += value_length;
        *w++ = '\n';
        p = value_end + 1;
    }
    return (long)(w - out);
}
