/* Base64 (RFC 4648 standard alphabet, '=' padding) kernels for realtime_fast._audio.
 *
 * Scalar code is table driven and portable C99.  On x86-64 with GCC or clang an
 * AVX2 and an SSSE3 bulk loop are compiled with function target attributes and
 * picked at run time (rtf_b64_init); every other compiler/architecture (MSVC,
 * arm64, ...) uses the scalar loops.  Decoding checks validity once per call
 * (errors are OR-ed together), so callers re-scan with rtf_b64_scan to say where
 * the problem is.
 */
#ifndef RTF_B64_H
#define RTF_B64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(_MSC_VER)
#include <stdlib.h> /* _byteswap_uint64 */
#endif

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RTF_BIG_ENDIAN 1
#else
#define RTF_BIG_ENDIAN 0 /* MSVC and every supported wheel target are little-endian */
#endif

#if defined(_MSC_VER) && !defined(__cplusplus)
#define RTF_INLINE static __inline
#else
#define RTF_INLINE static inline
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RTF_NO_SIMD)
#define RTF_X86_SIMD 1
#include <immintrin.h>
#else
#define RTF_X86_SIMD 0
#endif

/* Problem kinds reported by rtf_b64_scan; the numbers match _audio_py.B64_*. */
#define RTF_B64_OK 0
#define RTF_B64_INVALID_CHAR 1
#define RTF_B64_DATA_AFTER_PADDING 2
#define RTF_B64_TOO_MUCH_PADDING 3
#define RTF_B64_BAD_LENGTH 4
#define RTF_B64_ODD_BYTES 5

#define RTF_B64_BAD 0x01000000u /* set in a decode-table entry for a non-alphabet byte */

static const char rtf_b64_alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode tables: one per position in a 4-character group, each holding the 6-bit
 * value already shifted to its place in the 3 output bytes as they lie in a
 * little-endian uint32 (byte 0 first), so a group decodes with 4 loads and 3 ORs. */
static uint32_t rtf_dec0[256], rtf_dec1[256], rtf_dec2[256], rtf_dec3[256];
/* Encode table: 12 input bits -> 2 output characters (first character in the low byte). */
static uint16_t rtf_enc12[4096];

typedef Py_ssize_t (*rtf_bulk_fn)(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *bad);
static Py_ssize_t rtf_decode_bulk_none(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *bad)
{
    (void)src; (void)n; (void)dst; (void)bad;
    return 0;
}
static Py_ssize_t rtf_encode_bulk_none(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *bad)
{
    (void)src; (void)n; (void)dst; (void)bad;
    return 0;
}
/* Bulk loops consume a prefix (decode: groups of 4 characters; encode: groups of 3
 * bytes) and return how many input bytes they used; scalar code does the rest. */
static rtf_bulk_fn rtf_decode_bulk = rtf_decode_bulk_none;
static rtf_bulk_fn rtf_encode_bulk = rtf_encode_bulk_none;
static const char *rtf_b64_kernel = "scalar";

RTF_INLINE uint64_t rtf_load_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if RTF_BIG_ENDIAN
    return v;
#elif defined(_MSC_VER)
    return _byteswap_uint64(v);
#else
    return __builtin_bswap64(v);
#endif
}

RTF_INLINE void rtf_store3(unsigned char *dst, uint32_t v)
{
    dst[0] = (unsigned char)v;
    dst[1] = (unsigned char)(v >> 8);
    dst[2] = (unsigned char)(v >> 16);
}

/* ---------------------------------------------------------------------------
 * x86-64 SIMD bulk loops
 * ------------------------------------------------------------------------- */
#if RTF_X86_SIMD

/* Character classes by high nibble, for validation: a byte is invalid when
 * (lo_mask[low nibble] & hi_class[high nibble]) != 0.
 *   0x01: high nibble 0, 1, 8..F  (no valid character)
 *   0x02: high nibble 2           ('+' 0x2B and '/' 0x2F only)
 *   0x04: high nibble 3           ('0'..'9')
 *   0x08: high nibble 4 and 6     (all but 0x40 / 0x60)
 *   0x10: high nibble 5 and 7     (0x50..0x5A / 0x70..0x7A) */
#define RTF_HI_CLASS 0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01
#define RTF_LO_MASK 0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17, 0x15
/* Value = byte + shift[high nibble, minus one for '/']. */
#define RTF_SHIFT 0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0
/* Encode: index 0..63 -> character offset selected by a reduced index 0..13. */
#define RTF_ENC_OFFSET 65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0

__attribute__((target("avx2"))) static Py_ssize_t
rtf_decode_bulk_avx2(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *bad)
{
    const __m256i hi_class = _mm256_setr_epi8(RTF_HI_CLASS, RTF_HI_CLASS);
    const __m256i lo_mask = _mm256_setr_epi8(RTF_LO_MASK, RTF_LO_MASK);
    const __m256i shift = _mm256_setr_epi8(RTF_SHIFT, RTF_SHIFT);
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    const __m256i slash = _mm256_set1_epi8('/');
    const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);  /* a*64 + b per 16-bit half */
    const __m256i merge_halves = _mm256_set1_epi32(0x00011000); /* ab*4096 + cd per 32 bits */
    const __m256i order = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
                                           2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i pack = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
    __m256i errors = _mm256_setzero_si256();
    Py_ssize_t used = 0;
    for (; n - used >= 32; used += 32, dst += 24) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(src + used));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi32(in, 4), nibble);
        __m256i lo = _mm256_and_si256(in, nibble);
        errors = _mm256_or_si256(errors, _mm256_and_si256(_mm256_shuffle_epi8(lo_mask, lo), _mm256_shuffle_epi8(hi_class, hi)));
        __m256i idx = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(in, slash));
        __m256i values = _mm256_add_epi8(in, _mm256_shuffle_epi8(shift, idx));
        __m256i merged = _mm256_madd_epi16(_mm256_maddubs_epi16(values, merge_pairs), merge_halves);
        __m256i out = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(merged, order), pack);
        _mm_storeu_si128((__m128i *)dst, _mm256_castsi256_si128(out));
        _mm_storel_epi64((__m128i *)(dst + 16), _mm256_extracti128_si256(out, 1));
    }
    if (!_mm256_testz_si256(errors, errors))
        *bad |= RTF_B64_BAD;
    return used;
}

__attribute__((target("ssse3"))) static Py_ssize_t
rtf_decode_bulk_ssse3(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *bad)
{
    const __m128i hi_class = _mm_setr_epi8(RTF_HI_CLASS);
    const __m128i lo_mask = _mm_setr_epi8(RTF_LO_MASK);
    const __m128i shift = _mm_setr_epi8(RTF_SHIFT);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    const __m128i slash = _mm_set1_epi8('/');
    const __m128i merge_pairs = _mm_set1_epi32(0x01400140);
    const __m128i merge_halves = _mm_set1_epi32(0x00011000);
    const __m128i order = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    __m128i errors = _mm_setzero_si128();
    Py_ssize_t used = 0;
    for (; n - used >= 16; used += 16, dst += 12) {
        __m128i in = _mm_loadu_si128((const __m128i *)(src + used));
        __m128i hi = _mm_and_si128(_mm_srli_epi32(in, 4), nibble);
        __m128i lo = _mm_and_si128(in, nibble);
        errors = _mm_or_si128(errors, _mm_and_si128(_mm_shuffle_epi8(lo_mask, lo), _mm_shuffle_epi8(hi_class, hi)));
        __m128i idx = _mm_add_epi8(hi, _mm_cmpeq_epi8(in, slash));
        __m128i values = _mm_add_epi8(in, _mm_shuffle_epi8(shift, idx));
        __m128i merged = _mm_madd_epi16(_mm_maddubs_epi16(values, merge_pairs), merge_halves);
        __m128i out = _mm_shuffle_epi8(merged, order);
        _mm_storel_epi64((__m128i *)dst, out);
        uint32_t tail = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(out, 8));
        memcpy(dst + 8, &tail, 4);
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(errors, _mm_setzero_si128())) != 0xFFFF)
        *bad |= RTF_B64_BAD;
    return used;
}

/* Encode: each 32-bit lane takes 3 input bytes s0 s1 s2 arranged as [s1 s0 s2 s1],
 * the four 6-bit indices are cut out with two multiplies, then turned into
 * characters by adding a per-range offset. */
#define RTF_SPREAD 1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10

__attribute__((target("avx2"))) static inline __m256i rtf_enc_chars_avx2(__m256i in)
{
    const __m256i offsets = _mm256_setr_epi8(RTF_ENC_OFFSET, RTF_ENC_OFFSET);
    __m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0FC0FC00));
    __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
    __m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003F03F0));
    __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
    __m256i idx = _mm256_or_si256(t1, t3);
    __m256i reduced = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
    reduced = _mm256_sub_epi8(reduced, _mm256_cmpgt_epi8(idx, _mm256_set1_epi8(25)));
    return _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, reduced));
}

__attribute__((target("avx2"))) static Py_ssize_t
rtf_encode_bulk_avx2(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *unused)
{
    const __m256i spread = _mm256_setr_epi8(RTF_SPREAD, RTF_SPREAD);
    Py_ssize_t used = 0;
    (void)unused;
    /* Each step reads 28 bytes (two 16-byte loads 12 apart) and uses 24. */
    for (; n - used >= 28; used += 24, dst += 32) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(src + used));
        __m128i hi = _mm_loadu_si128((const __m128i *)(src + used + 12));
        __m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        _mm256_storeu_si256((__m256i *)dst, rtf_enc_chars_avx2(_mm256_shuffle_epi8(in, spread)));
    }
    return used;
}

__attribute__((target("ssse3"))) static Py_ssize_t
rtf_encode_bulk_ssse3(const unsigned char *src, Py_ssize_t n, unsigned char *dst, uint32_t *unused)
{
    const __m128i spread = _mm_setr_epi8(RTF_SPREAD);
    const __m128i offsets = _mm_setr_epi8(RTF_ENC_OFFSET);
    Py_ssize_t used = 0;
    (void)unused;
    for (; n - used >= 16; used += 12, dst += 16) {
        __m128i in = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + used)), spread);
        __m128i t1 = _mm_mulhi_epu16(_mm_and_si128(in, _mm_set1_epi32(0x0FC0FC00)), _mm_set1_epi32(0x04000040));
        __m128i t3 = _mm_mullo_epi16(_mm_and_si128(in, _mm_set1_epi32(0x003F03F0)), _mm_set1_epi32(0x01000010));
        __m128i idx = _mm_or_si128(t1, t3);
        __m128i reduced = _mm_subs_epu8(idx, _mm_set1_epi8(51));
        reduced = _mm_sub_epi8(reduced, _mm_cmpgt_epi8(idx, _mm_set1_epi8(25)));
        _mm_storeu_si128((__m128i *)dst, _mm_add_epi8(idx, _mm_shuffle_epi8(offsets, reduced)));
    }
    return used;
}

#endif /* RTF_X86_SIMD */

/* ---------------------------------------------------------------------------
 * Set-up
 * ------------------------------------------------------------------------- */

/* Fill the tables and pick the bulk loops.  simd: 0 = scalar only, 1 = best available. */
static void rtf_b64_init(int simd)
{
    int i;
    for (i = 0; i < 256; i++) {
        rtf_dec0[i] = rtf_dec1[i] = rtf_dec2[i] = rtf_dec3[i] = RTF_B64_BAD;
    }
    for (i = 0; i < 64; i++) {
        uint32_t v = (uint32_t)i;
        unsigned char c = (unsigned char)rtf_b64_alphabet[i];
        /* output bytes: o0 = v0<<2 | v1>>4, o1 = (v1&15)<<4 | v2>>2, o2 = (v2&3)<<6 | v3 */
        rtf_dec0[c] = v << 2;
        rtf_dec1[c] = (v >> 4) | ((v & 0x0F) << 12);
        rtf_dec2[c] = ((v >> 2) << 8) | ((v & 0x03) << 22);
        rtf_dec3[c] = v << 16;
    }
    for (i = 0; i < 4096; i++) {
        uint16_t first = (uint16_t)(unsigned char)rtf_b64_alphabet[i >> 6];
        uint16_t second = (uint16_t)(unsigned char)rtf_b64_alphabet[i & 63];
        /* stored so that a memcpy to memory gives first, second on either byte order */
#if RTF_BIG_ENDIAN
        rtf_enc12[i] = (uint16_t)((first << 8) | second);
#else
        rtf_enc12[i] = (uint16_t)(first | (second << 8));
#endif
    }
    rtf_decode_bulk = rtf_decode_bulk_none;
    rtf_encode_bulk = rtf_encode_bulk_none;
    rtf_b64_kernel = "scalar";
#if RTF_X86_SIMD
    if (simd) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2")) {
            rtf_decode_bulk = rtf_decode_bulk_avx2;
            rtf_encode_bulk = rtf_encode_bulk_avx2;
            rtf_b64_kernel = "avx2";
        } else if (__builtin_cpu_supports("ssse3")) {
            rtf_decode_bulk = rtf_decode_bulk_ssse3;
            rtf_encode_bulk = rtf_encode_bulk_ssse3;
            rtf_b64_kernel = "ssse3";
        }
    }
#else
    (void)simd;
#endif
}

static const char *rtf_b64_kernel_name(void) { return rtf_b64_kernel; }

/* ---------------------------------------------------------------------------
 * Decode
 * ------------------------------------------------------------------------- */

/* Decoded size of n characters of well-formed base64, or -1 if n is not a multiple
 * of 4.  Looks only at the length and the trailing '='; validity is checked while
 * decoding. */
RTF_INLINE Py_ssize_t rtf_b64_decoded_size(const unsigned char *src, Py_ssize_t n)
{
    Py_ssize_t pad = 0;
    if (n & 3)
        return -1;
    if (n && src[n - 1] == '=')
        pad = src[n - 2] == '=' ? 2 : 1;
    return n / 4 * 3 - pad;
}

/* Decode n characters (n a multiple of 4, dst holding rtf_b64_decoded_size bytes).
 * Returns 0, or -1 if the text is not valid base64 (dst then holds garbage). */
static int rtf_b64_decode(const unsigned char *src, Py_ssize_t n, unsigned char *dst)
{
    uint32_t bad = 0, v;
    Py_ssize_t body, i;
    const unsigned char *s;
    if (n == 0)
        return 0;
    body = n - 4; /* the last group, which may hold padding, is decoded separately */
    i = rtf_decode_bulk(src, body, dst, &bad);
    dst += i / 4 * 3;
    s = src + i;
    for (; i + 8 <= body; i += 8, s += 8, dst += 6) {
        uint32_t a = rtf_dec0[s[0]] | rtf_dec1[s[1]] | rtf_dec2[s[2]] | rtf_dec3[s[3]];
        uint32_t b = rtf_dec0[s[4]] | rtf_dec1[s[5]] | rtf_dec2[s[6]] | rtf_dec3[s[7]];
        bad |= a | b;
#if RTF_BIG_ENDIAN
        rtf_store3(dst, a);
        rtf_store3(dst + 3, b);
#else
        /* 4-byte stores: the 4th byte is overwritten by the next group (the last
         * group always writes at least one byte after the body). */
        memcpy(dst, &a, 4);
        memcpy(dst + 3, &b, 4);
#endif
    }
    for (; i < body; i += 4, s += 4, dst += 3) {
        v = rtf_dec0[s[0]] | rtf_dec1[s[1]] | rtf_dec2[s[2]] | rtf_dec3[s[3]];
        bad |= v;
        rtf_store3(dst, v);
    }
    if (s[3] != '=') {
        v = rtf_dec0[s[0]] | rtf_dec1[s[1]] | rtf_dec2[s[2]] | rtf_dec3[s[3]];
        bad |= v;
        rtf_store3(dst, v);
    } else if (s[2] != '=') {
        v = rtf_dec0[s[0]] | rtf_dec1[s[1]] | rtf_dec2[s[2]];
        bad |= v;
        dst[0] = (unsigned char)v;
        dst[1] = (unsigned char)(v >> 8);
    } else {
        v = rtf_dec0[s[0]] | rtf_dec1[s[1]];
        bad |= v;
        dst[0] = (unsigned char)v;
    }
    return (bad & RTF_B64_BAD) ? -1 : 0;
}

RTF_INLINE int rtf_b64_is_data(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Find the first problem in n characters, in the order _audio_py.find_b64_error
 * uses: characters left to right, then padding amount, length, decoded size.
 * Returns the kind (RTF_B64_OK if none) and sets *offset and *pad_at (-1 if no '='). */
static int rtf_b64_scan(const unsigned char *src, Py_ssize_t n, Py_ssize_t *offset, Py_ssize_t *pad_at)
{
    Py_ssize_t i, pad = -1;
    for (i = 0; i < n; i++) {
        unsigned char c = src[i];
        if (rtf_b64_is_data(c)) {
            if (pad >= 0) {
                *offset = i;
                *pad_at = pad;
                return RTF_B64_DATA_AFTER_PADDING;
            }
        } else if (c == '=') {
            if (pad < 0)
                pad = i;
        } else {
            *offset = i;
            *pad_at = pad;
            return RTF_B64_INVALID_CHAR;
        }
    }
    *pad_at = pad;
    *offset = n;
    if (pad >= 0 && n - pad > 2) {
        *offset = pad;
        return RTF_B64_TOO_MUCH_PADDING;
    }
    if (n & 3)
        return RTF_B64_BAD_LENGTH;
    if ((n / 4 * 3 - (pad >= 0 ? n - pad : 0)) & 1)
        return RTF_B64_ODD_BYTES;
    *offset = -1;
    return RTF_B64_OK;
}

/* ---------------------------------------------------------------------------
 * Encode
 * ------------------------------------------------------------------------- */

RTF_INLINE Py_ssize_t rtf_b64_encoded_size(Py_ssize_t n) { return (n + 2) / 3 * 4; }

/* Write the padded base64 of src[0:n] to dst (rtf_b64_encoded_size(n) bytes); returns that size. */
static Py_ssize_t rtf_b64_encode(const unsigned char *src, Py_ssize_t n, unsigned char *dst)
{
    Py_ssize_t i;
    unsigned char *d;
    uint32_t unused = 0;
    i = rtf_encode_bulk(src, n, dst, &unused);
    d = dst + i / 3 * 4;
    /* 12 input bytes -> 16 characters per step, from two 8-byte big-endian loads
     * (each uses its first 6 bytes), so the loop needs 2 readable bytes past them. */
    for (; i + 14 <= n; i += 12, d += 16) {
        uint64_t a = rtf_load_be64(src + i);
        uint64_t b = rtf_load_be64(src + i + 6);
        uint16_t w[8];
        w[0] = rtf_enc12[a >> 52];
        w[1] = rtf_enc12[(a >> 40) & 0xFFF];
        w[2] = rtf_enc12[(a >> 28) & 0xFFF];
        w[3] = rtf_enc12[(a >> 16) & 0xFFF];
        w[4] = rtf_enc12[b >> 52];
        w[5] = rtf_enc12[(b >> 40) & 0xFFF];
        w[6] = rtf_enc12[(b >> 28) & 0xFFF];
        w[7] = rtf_enc12[(b >> 16) & 0xFFF];
        memcpy(d, w, 16);
    }
    for (; i + 3 <= n; i += 3, d += 4) {
        uint32_t a = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8) | src[i + 2];
        uint16_t w[2];
        w[0] = rtf_enc12[a >> 12];
        w[1] = rtf_enc12[a & 0xFFF];
        memcpy(d, w, 4);
    }
    if (n - i == 1) {
        d[0] = (unsigned char)rtf_b64_alphabet[src[i] >> 2];
        d[1] = (unsigned char)rtf_b64_alphabet[(src[i] & 0x03) << 4];
        d[2] = '=';
        d[3] = '=';
        d += 4;
    } else if (n - i == 2) {
        d[0] = (unsigned char)rtf_b64_alphabet[src[i] >> 2];
        d[1] = (unsigned char)rtf_b64_alphabet[((src[i] & 0x03) << 4) | (src[i + 1] >> 4)];
        d[2] = (unsigned char)rtf_b64_alphabet[(src[i + 1] & 0x0F) << 2];
        d[3] = '=';
        d += 4;
    }
    return d - dst;
}

/* ---------------------------------------------------------------------------
 * float -> PCM16, the reference client's rule
 * ------------------------------------------------------------------------- */

/* x is a float32 sample widened to double.  NaN -> 0 explicitly (casting NaN to an
 * integer is undefined in C); clamp to [-1, 1]; negatives * 32768, others * 32767;
 * truncate toward zero. */
RTF_INLINE int16_t rtf_sample_to_pcm16(double x)
{
    if (!(x == x))
        return 0;
    if (x <= -1.0)
        return -32768;
    if (x >= 1.0)
        return 32767;
    return (int16_t)(x < 0 ? x * 32768.0 : x * 32767.0);
}

static void rtf_float32_to_pcm16(const float *src, Py_ssize_t n, unsigned char *dst)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        uint16_t v = (uint16_t)rtf_sample_to_pcm16((double)src[i]);
        dst[2 * i] = (unsigned char)(v & 0xFF); /* little-endian on every host */
        dst[2 * i + 1] = (unsigned char)(v >> 8);
    }
}

static void rtf_float64_to_pcm16(const double *src, Py_ssize_t n, unsigned char *dst)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        double x = src[i];
        uint16_t v;
        if (x == x) {
            /* clamp before narrowing so the double -> float conversion stays in range */
            x = x < -1.0 ? -1.0 : (x > 1.0 ? 1.0 : x);
            x = (double)(float)x;
        }
        v = (uint16_t)rtf_sample_to_pcm16(x);
        dst[2 * i] = (unsigned char)(v & 0xFF);
        dst[2 * i + 1] = (unsigned char)(v >> 8);
    }
}

#endif /* RTF_B64_H */
