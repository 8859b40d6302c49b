/* Products of quantised weights and bf16 activations on Intel AMX tiles.
 *
 * Built and loaded by tessera/llm/_amx.py (gcc, ctypes); its docstring says why. Two
 * routes, both computing every (row, output) pair from that row and the weights alone, in
 * one fixed order, so that a row's result never depends on the other rows of the product:
 *
 * Q4_1 weights (w = dw * q + mw per block of 32, q in 0..15) on AMX-BF16: the activations
 * go into the tiles as they are (bf16), the weights as the bf16 numbers 128 + q (exact),
 * and a block's product is x . w = dw * (x . (128 + q)) + (mw - 128 dw) * sum(x).
 *
 * Q8_0 weights (w = dw * q, q int8) on AMX-INT8: each block of 32 activations becomes two
 * int8 planes, x ~ dx * (qx + rx / 256) with dx = max|x| / 127, qx = round(x / dx) and
 * rx = min(round((x / dx - qx) * 256), 127) (about 15 bits a block, as fine as bf16's 8
 * significant bits or finer), and a block's product is dx * dw * (256 qx . q + rx . q),
 * the integer part exact in int32.
 *
 * Both sum their blocks in block order in float32 and round to bf16 once.
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
/* One packed Q4_1 tile: 16 outputs x one block = 256 bytes of nibbles, 16 float16 dw, 16 mw */
#define Q4_TILE_BYTES (256 + 64)
/* One packed Q8_0 tile: the B tile itself (8 rows of 16 outputs x 4 int8), 16 float16 dw */
#define Q8_TILE_BYTES (512 + 32)
/* Bytes ahead of the tile in work that are fetched into L1. */
#define PREFETCH 1280
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Tile registers (numbers, not an enum: the intrinsics paste them into register names):
   two accumulators, the activations, two weight tiles; for Q8_0 the activations' second
   plane and its two accumulators. */
#define C0 0
#define C1 1
#define A 2
#define B0 3
#define B1 4
#define A2 5
#define C2 6
#define C3 7
/* The second plane's unit is the first's / 256 (a shift joins the two products). */
#define FINE_SHIFT 8

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

static void configure(int rows, int q8) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    const int accumulators[] = {C0, C1, C2, C3};
    for (int i = 0; i < 4; i++) { /* rows x 16 float32 or int32 */
        config.rows[accumulators[i]] = (uint8_t)rows;
        config.colsb[accumulators[i]] = 64;
    }
    config.rows[A] = config.rows[A2] = (uint8_t)rows;
    config.colsb[A] = config.colsb[A2] = q8 ? BLOCK : 2 * BLOCK; /* 32 int8 or 32 bf16 */
    config.rows[B0] = config.rows[B1] = q8 ? BLOCK / 4 : BLOCK / 2; /* pairs or quads */
    config.colsb[B0] = config.colsb[B1] = 64;
    /* gcc (12) does not see that LDTILECFG reads the struct and drops the stores above
       without this barrier; the tiles are then unconfigured and the next tile
       instruction faults */
    __asm__ volatile("" : : "r"(&config) : "memory");
    _tile_loadconfig(&config);
}

static inline void bf16_block(const uint16_t *src, __m512 *lo, __m512 *hi) {
    __m512i raw = _mm512_loadu_si512(src);
    *lo = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(raw)), 16));
    *hi = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(raw, 1)), 16));
}

/* Block sums of the bf16 rows (Q4_1): sums (k / 32) x t float32, one fixed order. */
static void row_sums(const uint16_t *x, int64_t t, int64_t k, float *sums) {
    int64_t blocks = k / BLOCK;
    for (int64_t r = 0; r < t; r++)
        for (int64_t b = 0; b < blocks; b++) {
            __m512 lo, hi;
            bf16_block(x + r * k + b * BLOCK, &lo, &hi);
            sums[b * t + r] = _mm512_reduce_add_ps(_mm512_add_ps(lo, hi));
        }
}

/* The two int8 planes of the rows (Q8_0): q, q2 (t x k), d ((k / 32) x t float32, the
   second plane's unit). */
static void quantize(const uint16_t *x, int64_t t, int64_t k, int8_t *q, int8_t *q2, float *d) {
    int64_t blocks = k / BLOCK;
    const __m512 unit = _mm512_set1_ps((float)(1 << FINE_SHIFT));
    const __m512i top = _mm512_set1_epi32(127);
    for (int64_t r = 0; r < t; r++) {
        for (int64_t b = 0; b < blocks; b++) {
            const uint16_t *src = x + r * k + b * BLOCK;
            __m512 lo, hi;
            bf16_block(src, &lo, &hi);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
            int8_t *dst = q + r * k + b * BLOCK, *dst2 = q2 + r * k + b * BLOCK;
            d[b * t + r] = amax / 127.0f / (float)(1 << FINE_SHIFT);
            /* a NaN or an infinity in the block (which the max above may drop): the
               block's products become NaN, as a float product's would, never a number */
            int non_finite = _mm512_fpclass_ps_mask(lo, 0x99) | _mm512_fpclass_ps_mask(hi, 0x99);
            if (non_finite || !(amax > 0.0f)) { /* or all zero */
                memset(dst, 0, BLOCK);
                memset(dst2, 0, BLOCK);
                d[b * t + r] = non_finite ? __builtin_nanf("") : 0.0f;
                continue;
            }
            if (amax < 1e-30f) { /* 127 / amax would overflow float32: scale in double */
                double inverse = 127.0 / (double)amax;
                for (int i = 0; i < BLOCK; i++) {
                    union { uint32_t u; float f; } v = {(uint32_t)src[i] << 16};
                    double scaled = (double)v.f * inverse;
                    int qi = (int)__builtin_rint(scaled);
                    int ri = (int)__builtin_rint((scaled - qi) * (1 << FINE_SHIFT));
                    dst[i] = (int8_t)qi;
                    dst2[i] = (int8_t)(ri > 127 ? 127 : ri);
                }
                continue;
            }
            __m512 inverse = _mm512_set1_ps(127.0f / amax);
            __m512 slo = _mm512_mul_ps(lo, inverse), shi = _mm512_mul_ps(hi, inverse);
            __m512i qlo = _mm512_cvtps_epi32(slo), qhi = _mm512_cvtps_epi32(shi);
            __m512i rlo = _mm512_min_epi32(
                top, _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(slo, _mm512_cvtepi32_ps(qlo)), unit)));
            __m512i rhi = _mm512_min_epi32(
                top, _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(shi, _mm512_cvtepi32_ps(qhi)), unit)));
            _mm_storeu_si128((__m128i *)dst, _mm512_cvtsepi32_epi8(qlo));
            _mm_storeu_si128((__m128i *)(dst + 16), _mm512_cvtsepi32_epi8(qhi));
            _mm_storeu_si128((__m128i *)dst2, _mm512_cvtsepi32_epi8(rlo));
            _mm_storeu_si128((__m128i *)(dst2 + 16), _mm512_cvtsepi32_epi8(rhi));
        }
    }
}

/* A Q4_1 tile's nibbles into a bf16 B tile (16 rows of 16 outputs x 2 inputs): nibble j of
   word L of chunk c is row 4c + j, lane L, and becomes (v >> 4j) & 0xF | 0x4300, the bf16
   number 128 + q (ternary logic A & B | C: one instruction). */
static inline void unpack(const uint8_t *tile, uint8_t *out) {
    const __m512i nibble = _mm512_set1_epi16(0x000F), bits = _mm512_set1_epi16(0x4300);
    for (int c = 0; c < 4; c++) {
        __m512i v = _mm512_loadu_si512(tile + 64 * c);
        _mm512_store_si512(out + 256 * c, _mm512_ternarylogic_epi32(v, nibble, bits, 0xEA));
        for (int j = 1; j < 4; j++)
            _mm512_store_si512(out + 256 * c + 64 * j,
                               _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4 * j), nibble,
                                                         bits, 0xEA));
    }
}

static inline void store(const __m512 *acc, uint16_t *y, int64_t n, int rows) {
    for (int r = 0; r < rows; r++)
        _mm256_storeu_si256((__m256i *)(y + r * n), (__m256i)_mm512_cvtneps_pbh(acc[r]));
}

typedef struct {
    const uint16_t *x; /* the bf16 rows (Q4_1) */
    const float *sums; /* their block sums (Q4_1) */
    const int8_t *q, *q2; /* their int8 planes (Q8_0) */
    const float *d;       /* the planes' units (Q8_0) */
    int64_t t, k, n;
    const uint8_t *w;
    uint16_t *y;
} product;

/* One block of one Q4_1 output tile into acc. */
static inline void q4_block(const uint8_t *tile, int rows, const float *dots,
                            const float *sums, __m512 *acc) {
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + 256)));
    __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + 288)));
    __m512 shift = _mm512_fmadd_ps(_mm512_set1_ps(-128.0f), dw, mw); /* mw - 128 dw */
    for (int r = 0; r < rows; r++) {
        acc[r] = _mm512_fmadd_ps(_mm512_load_ps(dots + 16 * r), dw, acc[r]);
        acc[r] = _mm512_fmadd_ps(shift, _mm512_set1_ps(sums[r]), acc[r]);
    }
}

/* One block of one Q8_0 output tile into acc. */
static inline void q8_block(const uint8_t *tile, int rows, const int32_t *dots,
                            const int32_t *fine, const float *d, __m512 *acc) {
    __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + 512)));
    for (int r = 0; r < rows; r++) {
        __m512i c = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(dots + 16 * r), FINE_SHIFT),
                                     _mm512_load_si512(fine + 16 * r));
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c), _mm512_mul_ps(dw, _mm512_set1_ps(d[r])),
                                 acc[r]);
    }
}

/* Q4_1 output tiles [first, last) of rows r0 .. r0 + rows (at most 16), two at a time
   (independent tile work), one for an odd tail. */
static void q4_tiles(const product *p, int64_t r0, int rows, int64_t first, int64_t last) {
    int64_t blocks = p->k / BLOCK, k = p->k, t = p->t, n = p->n;
    /* two buffers per output tile: block b + 1 is unpacked while block b's tiles load
       (a tile load right after the stores to its lines waits for them to retire) */
    uint8_t b0[2][1024] __attribute__((aligned(64)));
    uint8_t b1[2][1024] __attribute__((aligned(64)));
    float dots0[256] __attribute__((aligned(64)));
    float dots1[256] __attribute__((aligned(64)));
    __m512 acc0[16], acc1[16];
    const uint16_t *xrows = p->x + r0 * k;
    for (int64_t f = first; f < last; f += 2) {
        int pair = f + 1 < last;
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = p->w + f * blocks * Q4_TILE_BYTES;
        const uint8_t *tile1 = tile0 + blocks * Q4_TILE_BYTES;
        unpack(tile0, b0[0]);
        if (pair) unpack(tile1, b1[0]);
        for (int64_t b = 0; b < blocks; b++, tile0 += Q4_TILE_BYTES, tile1 += Q4_TILE_BYTES) {
            int now = (int)(b & 1);
            for (int line = 0; line < Q4_TILE_BYTES; line += 64) {
                _mm_prefetch((const char *)(tile0 + PREFETCH + line), _MM_HINT_T0);
                if (pair) _mm_prefetch((const char *)(tile1 + PREFETCH + line), _MM_HINT_T0);
            }
            const float *sums = p->sums + b * t + r0;
            _tile_loadd(A, xrows + b * BLOCK, k * 2);
            _tile_loadd(B0, b0[now], 64);
            _tile_zero(C0);
            _tile_dpbf16ps(C0, A, B0);
            if (pair) {
                _tile_loadd(B1, b1[now], 64);
                _tile_zero(C1);
                _tile_dpbf16ps(C1, A, B1);
            }
            if (b + 1 < blocks) {
                unpack(tile0 + Q4_TILE_BYTES, b0[!now]);
                if (pair) unpack(tile1 + Q4_TILE_BYTES, b1[!now]);
            }
            _tile_stored(C0, dots0, 64);
            if (pair) _tile_stored(C1, dots1, 64);
            q4_block(tile0, rows, dots0, sums, acc0);
            if (pair) q4_block(tile1, rows, dots1, sums, acc1);
        }
        store(acc0, p->y + r0 * n + 16 * f, n, rows);
        if (pair) store(acc1, p->y + r0 * n + 16 * (f + 1), n, rows);
    }
}

/* One Q8_0 weight tile times both planes of the rows (a macro: tile registers are
   numbers pasted into the instructions). */
#define Q8_TILE(b, c, c2, tile, dots, fine)                                         \
    do {                                                                            \
        _tile_loadd(b, tile, 64);                                                   \
        _tile_zero(c);                                                              \
        _tile_zero(c2);                                                             \
        _tile_dpbssd(c, A, b);                                                      \
        _tile_dpbssd(c2, A2, b);                                                    \
        _tile_stored(c, dots, 64);                                                  \
        _tile_stored(c2, fine, 64);                                                 \
    } while (0)

/* Q8_0 output tiles [first, last), as q4_tiles. */
static void q8_tiles(const product *p, int64_t r0, int rows, int64_t first, int64_t last) {
    int64_t blocks = p->k / BLOCK, k = p->k, t = p->t, n = p->n;
    int32_t dots0[256] __attribute__((aligned(64)));
    int32_t dots1[256] __attribute__((aligned(64)));
    int32_t fine0[256] __attribute__((aligned(64)));
    int32_t fine1[256] __attribute__((aligned(64)));
    __m512 acc0[16], acc1[16];
    const int8_t *qrows = p->q + r0 * k, *q2rows = p->q2 + r0 * k;
    for (int64_t f = first; f < last; f += 2) {
        int pair = f + 1 < last;
        for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
        const uint8_t *tile0 = p->w + f * blocks * Q8_TILE_BYTES;
        const uint8_t *tile1 = tile0 + blocks * Q8_TILE_BYTES;
        for (int64_t b = 0; b < blocks; b++, tile0 += Q8_TILE_BYTES, tile1 += Q8_TILE_BYTES) {
            for (int line = 0; line < Q8_TILE_BYTES; line += 64) {
                _mm_prefetch((const char *)(tile0 + PREFETCH + line), _MM_HINT_T0);
                if (pair) _mm_prefetch((const char *)(tile1 + PREFETCH + line), _MM_HINT_T0);
            }
            const float *d = p->d + b * t + r0;
            _tile_loadd(A, qrows + b * BLOCK, k);
            _tile_loadd(A2, q2rows + b * BLOCK, k);
            Q8_TILE(B0, C0, C2, tile0, dots0, fine0);
            if (pair) Q8_TILE(B1, C1, C3, tile1, dots1, fine1);
            q8_block(tile0, rows, dots0, fine0, d, acc0);
            if (pair) q8_block(tile1, rows, dots1, fine1, d, acc1);
        }
        store(acc0, p->y + r0 * n + 16 * f, n, rows);
        if (pair) store(acc1, p->y + r0 * n + 16 * (f + 1), n, rows);
    }
}

/* y (t x n bf16) = x (t x k bf16) times the packed weights' transpose.
 *
 * w: n / 16 output tiles of k / 32 packed tiles each, in block order; q8 = 0 for Q4_1
 * (Q4_TILE_BYTES each), 1 for Q8_0 (Q8_TILE_BYTES each).
 * threads: OpenMP threads over the output tiles (each output is computed by one thread
 * in the same way whatever the count). Returns 0, or -1 when scratch memory is short.
 */
int tessera_amx_product(const uint16_t *x, int64_t t, int64_t k, const uint8_t *w, int64_t n,
                        uint16_t *y, int threads, int q8) {
    int64_t blocks = k / BLOCK;
    int64_t plane = q8 ? (t * k + 63) / 64 * 64 : 0;
    int64_t floats = (blocks * t * (int64_t)sizeof(float) + 63) / 64 * 64;
    uint8_t *scratch = aligned_alloc(64, 2 * plane + floats);
    if (scratch == NULL) return -1;
    product p = {x, NULL, NULL, NULL, NULL, t, k, n, w, y};
    if (q8) {
        p.q = (int8_t *)scratch;
        p.q2 = (int8_t *)(scratch + plane);
        p.d = (float *)(scratch + 2 * plane);
        quantize(x, t, k, (int8_t *)p.q, (int8_t *)p.q2, (float *)p.d);
    } else {
        p.sums = (float *)scratch;
        row_sums(x, t, k, (float *)p.sums);
    }
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
            configure(rows, q8);
            if (q8)
                q8_tiles(&p, r0, rows, first, last);
            else
                q4_tiles(&p, r0, rows, first, last);
        }
        _tile_release();
    }
    free(scratch);
    return 0;
}
