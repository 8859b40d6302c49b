/* Products of Q4_1 (and Q8_0) weights and int8 activations on Intel AMX tiles.
 *
 * Built and loaded by tessera/llm/_amx.py (gcc, ctypes); read that module's docstring for
 * the arithmetic. In short, for an activation row x and a weight row w, both cut into
 * blocks of 32:
 *
 *   x ~ dx * qx     (qx int8, dx = max|x| / 127: one scale per row and block)
 *   w = dw * qw + mw (qw in 0..15, dw and mw float16: the GGUF's Q4_1 block)
 *   x . w ~ sum over blocks of  dx * dw * (qx . qw)  +  mw * (dx * sum(qx))
 *
 * qx . qw is an exact int32 (one AMX TDPBSUD over 32 columns); the float sum over the
 * blocks runs in block order for every (row, output) pair, so a row's result depends on
 * its own activations and the weights only, never on the other rows of the product.
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 32
#define NIBBLE_BYTES 256
/* one packed tile: 16 outputs x one block = 256 bytes of nibbles, 16 float16 dw, 16 mw */
#define TILE_BYTES (NIBBLE_BYTES + 64)
/* bytes ahead of the tile in work that are fetched into L1 */
#define PREFETCH (4 * TILE_BYTES)
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Tile registers (numbers, not an enum: the intrinsics paste them into register names):
   two accumulators, the activations, two weight tiles. */
#define C0 0
#define C1 1
#define A 2
#define B0 3
#define B1 4

typedef struct {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) tile_config;

/* Ask Linux for the AMX tile state (once per process); 0 on success. */
int tessera_amx_init(void) {
    return (int)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}

static void configure(int rows) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    config.rows[C0] = config.rows[C1] = (uint8_t)rows; /* rows x 16 int32 */
    config.colsb[C0] = config.colsb[C1] = 64;
    config.rows[A] = (uint8_t)rows; /* rows x 32 int8 */
    config.colsb[A] = BLOCK;
    config.rows[B0] = config.rows[B1] = BLOCK / 4; /* 8 x (16 outputs x 4 uint8) */
    config.colsb[B0] = config.colsb[B1] = 64;
    /* gcc (12) does not see that LDTILECFG reads the struct and drops the stores above
       without this barrier; the tiles are then unconfigured and the next tile
       instruction faults */
    __asm__ volatile("" : : "r"(&config) : "memory");
    _tile_loadconfig(&config);
}

/* Quantise rows of bf16 activations: q (t x k int8), d and s ((k / 32) x t float32). */
static void quantize(const uint16_t *x, int64_t t, int64_t k, int8_t *q, float *d, float *s) {
    int64_t blocks = k / BLOCK;
    for (int64_t r = 0; r < t; r++) {
        for (int64_t b = 0; b < blocks; b++) {
            const uint16_t *src = x + r * k + b * BLOCK;
            __m512i raw = _mm512_loadu_si512(src);
            __m512 lo = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(raw)), 16));
            __m512 hi = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(raw, 1)), 16));
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
            int8_t *dst = q + r * k + b * BLOCK;
            if (!(amax > 0.0f)) { /* all zero (or NaN: the product would be garbage anyway) */
                memset(dst, 0, BLOCK);
                d[b * t + r] = 0.0f;
                s[b * t + r] = 0.0f;
                continue;
            }
            if (amax < 1e-30f) { /* 127 / amax would overflow float32: scale in double */
                double inv = 127.0 / (double)amax;
                int sum = 0;
                for (int i = 0; i < BLOCK; i++) {
                    union { uint32_t u; float f; } v = {(uint32_t)src[i] << 16};
                    int qi = (int)__builtin_rint((double)v.f * inv);
                    dst[i] = (int8_t)qi;
                    sum += qi;
                }
                d[b * t + r] = amax / 127.0f;
                s[b * t + r] = d[b * t + r] * (float)sum;
                continue;
            }
            __m512 inverse = _mm512_set1_ps(127.0f / amax);
            __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, inverse));
            __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, inverse));
            _mm_storeu_si128((__m128i *)dst, _mm512_cvtsepi32_epi8(qlo));
            _mm_storeu_si128((__m128i *)(dst + 16), _mm512_cvtsepi32_epi8(qhi));
            int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qlo, qhi));
            float scale = amax / 127.0f;
            d[b * t + r] = scale;
            s[b * t + r] = scale * (float)sum;
        }
    }
}

/* The 4-bit weights of one packed tile into a B tile's layout (8 rows of 64 uint8). */
static inline void unpack(const uint8_t *tile, uint8_t *out) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int c = 0; c < 4; c++) {
        __m512i v = _mm512_loadu_si512(tile + 64 * c);
        _mm512_store_si512(out + 128 * c, _mm512_and_si512(v, low));
        _mm512_store_si512(out + 128 * c + 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
    }
}

static inline void rescale(__m512 *acc, const int32_t *dots, const uint8_t *tile,
                           const float *d, const float *s, int rows) {
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + NIBBLE_BYTES)));
    __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + NIBBLE_BYTES + 32)));
    for (int r = 0; r < rows; r++) {
        __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(dots + 16 * r));
        acc[r] = _mm512_fmadd_ps(dot, _mm512_mul_ps(dw, _mm512_set1_ps(d[r])), acc[r]);
        acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(s[r]), acc[r]);
    }
}

static inline void store(const __m512 *acc, uint16_t *y, int64_t n, int rows) {
    for (int r = 0; r < rows; r++)
        _mm256_storeu_si256((__m256i *)(y + r * n), (__m256i)_mm512_cvtneps_pbh(acc[r]));
}

/* Output tiles [first, last) of one group of at most 16 rows. */
static void tiles(const int8_t *q, const float *d, const float *s, int64_t t, int64_t k,
                  const uint8_t *w, int64_t n, uint16_t *y, int64_t r0, int rows,
                  int64_t first, int64_t last) {
    int64_t blocks = k / BLOCK;
    uint8_t b0[512] __attribute__((aligned(64)));
    uint8_t b1[512] __attribute__((aligned(64)));
    int32_t dots0[256] __attribute__((aligned(64)));
    int32_t dots1[256] __attribute__((aligned(64)));
    __m512 acc0[16], acc1[16];
    const int8_t *qrows = q + r0 * k;
    int64_t f = first;
    for (; f + 1 < last; f += 2) { /* two output tiles at a time: independent tile work */
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = w + f * blocks * TILE_BYTES;
        const uint8_t *tile1 = tile0 + blocks * TILE_BYTES;
        for (int64_t b = 0; b < blocks; b++, tile0 += TILE_BYTES, tile1 += TILE_BYTES) {
            for (int line = 0; line < TILE_BYTES; line += 64) {
                _mm_prefetch((const char *)(tile0 + PREFETCH + line), _MM_HINT_T0);
                _mm_prefetch((const char *)(tile1 + PREFETCH + line), _MM_HINT_T0);
            }
            unpack(tile0, b0);
            unpack(tile1, b1);
            _tile_loadd(A, qrows + b * BLOCK, k);
            _tile_loadd(B0, b0, 64);
            _tile_loadd(B1, b1, 64);
            _tile_zero(C0);
            _tile_zero(C1);
            _tile_dpbsud(C0, A, B0);
            _tile_dpbsud(C1, A, B1);
            _tile_stored(C0, dots0, 64);
            _tile_stored(C1, dots1, 64);
            rescale(acc0, dots0, tile0, d + b * t + r0, s + b * t + r0, rows);
            rescale(acc1, dots1, tile1, d + b * t + r0, s + b * t + r0, rows);
        }
        store(acc0, y + r0 * n + 16 * f, n, rows);
        store(acc1, y + r0 * n + 16 * (f + 1), n, rows);
    }
    for (; f < last; f++) {
        for (int r = 0; r < rows; r++) acc0[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = w + f * blocks * TILE_BYTES;
        for (int64_t b = 0; b < blocks; b++, tile0 += TILE_BYTES) {
            unpack(tile0, b0);
            _tile_loadd(A, qrows + b * BLOCK, k);
            _tile_loadd(B0, b0, 64);
            _tile_zero(C0);
            _tile_dpbsud(C0, A, B0);
            _tile_stored(C0, dots0, 64);
            rescale(acc0, dots0, tile0, d + b * t + r0, s + b * t + r0, rows);
        }
        store(acc0, y + r0 * n + 16 * f, n, rows);
    }
}

/* Q8_0 weights (the GGUF's int8 blocks with one float16 scale): one packed tile is the
   B tile itself (8 rows of 16 outputs x 4 int8), then 16 float16 scales. */
#define Q8_TILE_BYTES (512 + 32)

static inline void rescale_q8(__m512 *acc, const int32_t *dots, const uint8_t *tile,
                              const float *d, int rows) {
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + 512)));
    for (int r = 0; r < rows; r++) {
        __m512 dot = _mm512_cvtepi32_ps(_mm512_load_si512(dots + 16 * r));
        acc[r] = _mm512_fmadd_ps(dot, _mm512_mul_ps(dw, _mm512_set1_ps(d[r])), acc[r]);
    }
}

static void tiles_q8(const int8_t *q, const float *d, int64_t t, int64_t k, const uint8_t *w,
                     int64_t n, uint16_t *y, int64_t r0, int rows, int64_t first, int64_t last) {
    int64_t blocks = k / BLOCK;
    int32_t dots0[256] __attribute__((aligned(64)));
    int32_t dots1[256] __attribute__((aligned(64)));
    __m512 acc0[16], acc1[16];
    const int8_t *qrows = q + r0 * k;
    int64_t f = first;
    for (; f + 1 < last; f += 2) {
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = w + f * blocks * Q8_TILE_BYTES;
        const uint8_t *tile1 = tile0 + blocks * Q8_TILE_BYTES;
        for (int64_t b = 0; b < blocks; b++, tile0 += Q8_TILE_BYTES, tile1 += Q8_TILE_BYTES) {
            _tile_loadd(A, qrows + b * BLOCK, k);
            _tile_loadd(B0, tile0, 64);
            _tile_loadd(B1, tile1, 64);
            _tile_zero(C0);
            _tile_zero(C1);
            _tile_dpbssd(C0, A, B0);
            _tile_dpbssd(C1, A, B1);
            _tile_stored(C0, dots0, 64);
            _tile_stored(C1, dots1, 64);
            rescale_q8(acc0, dots0, tile0, d + b * t + r0, rows);
            rescale_q8(acc1, dots1, tile1, d + b * t + r0, rows);
        }
        store(acc0, y + r0 * n + 16 * f, n, rows);
        store(acc1, y + r0 * n + 16 * (f + 1), n, rows);
    }
    for (; f < last; f++) {
        for (int r = 0; r < rows; r++) acc0[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = w + f * blocks * Q8_TILE_BYTES;
        for (int64_t b = 0; b < blocks; b++, tile0 += Q8_TILE_BYTES) {
            _tile_loadd(A, qrows + b * BLOCK, k);
            _tile_loadd(B0, tile0, 64);
            _tile_zero(C0);
            _tile_dpbssd(C0, A, B0);
            _tile_stored(C0, dots0, 64);
            rescale_q8(acc0, dots0, tile0, d + b * t + r0, rows);
        }
        store(acc0, y + r0 * n + 16 * f, n, rows);
    }
}

/* y (t x n bf16) = x (t x k bf16) times the packed weights' transpose.
 *
 * format: 0 for Q4_1 (w: n / 16 output tiles of k / 32 packed tiles of TILE_BYTES, in
 * block order), 1 for Q8_0 (tiles of Q8_TILE_BYTES).
 * threads: OpenMP threads over the output tiles (each output is computed by one thread
 * in the same way whatever the count). Returns 0, or -1 when scratch memory is short.
 */
int tessera_amx_product(const uint16_t *x, int64_t t, int64_t k, const uint8_t *w,
                        int64_t n, uint16_t *y, int threads, int format) {
    int64_t blocks = k / BLOCK;
    int64_t q_bytes = (t * k + 63) / 64 * 64;
    int64_t scale_bytes = (blocks * t * (int64_t)sizeof(float) + 63) / 64 * 64;
    uint8_t *scratch = aligned_alloc(64, q_bytes + 2 * scale_bytes);
    if (scratch == NULL) return -1;
    int8_t *q = (int8_t *)scratch;
    float *d = (float *)(scratch + q_bytes);
    float *s = (float *)(scratch + q_bytes + scale_bytes);
    quantize(x, t, k, q, d, s);
    int64_t outputs = n / 16;
    if (threads < 1) threads = 1;
    if (threads > outputs) threads = (int)outputs;
#pragma omp parallel num_threads(threads)
    {
        int count = 1, me = 0;
#ifdef _OPENMP
        count = omp_get_num_threads();
        me = omp_get_thread_num();
#endif
        /* even shares of output-tile pairs, so that pairs stay whole */
        int64_t pairs = (outputs + 1) / 2;
        int64_t first = 2 * (pairs * me / count), last = 2 * (pairs * (me + 1) / count);
        if (last > outputs) last = outputs;
        for (int64_t r0 = 0; r0 < t && first < last; r0 += 16) {
            int rows = (int)(t - r0 < 16 ? t - r0 : 16);
            configure(rows);
            if (format == 1)
                tiles_q8(q, d, t, k, w, n, y, r0, rows, first, last);
            else
                tiles(q, d, s, t, k, w, n, y, r0, rows, first, last);
        }
        _tile_release();
    }
    free(scratch);
    return 0;
}
