/* A whole decoding pass of a Llama decoder whose linears are Q4_1 on the AMX kernel.
 *
 * Built with amx.c into one library and driven by tessera/llm/_step.py (LeanLlama), whose
 * docstring says why. The pass runs the operations of the lean Python pass (and of
 * transformers' forward) in the same order and dtypes, so that its bits are theirs:
 *
 * - element-wise bf16 operations compute in float32 and round to bf16 (nearest even),
 *   as PyTorch's CPU kernels do;
 * - RMSNorm sums its squares in the order of PyTorch's CPU sum over a contiguous row
 *   (ATen's cascade sum: torch_sum below);
 * - SiLU uses the vector exponential PyTorch's kernel uses (SLEEF's expf16_u10, whose
 *   address PyTorch's library exports and the caller hands over);
 * - attention is tessera/llm/_attention.py's float64 attention: exact products of bf16
 *   numbers summed per key, exp of the shifted scores (libm), the weighted values summed
 *   in key order, the quotient rounded to float32 and then to bf16.
 *
 * Every row is computed from its own inputs and the cache it attends to, in one fixed
 * order, whatever the other rows of the pass or the thread count: batch invariance.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int tessera_amx_product(const uint16_t *x, int64_t t, int64_t k, const uint8_t *w, int64_t n,
                        uint16_t *y, int threads, int q8);

typedef __m512 (*vector_exp)(__m512);

/* One decoder layer's weights: RMSNorm weights (bf16) and packed Q4_1 linears. */
typedef struct {
    const uint16_t *input_norm;
    const uint8_t *qkv;      /* q, k and v: (heads + 2 kv_heads) * dim outputs */
    const uint8_t *o;        /* hidden outputs of heads * dim inputs */
    const uint16_t *post_norm;
    const uint8_t *gate_up;  /* gate and up: 2 * inner outputs */
    const uint8_t *down;     /* hidden outputs of inner inputs */
} llama_layer;

/* The model's shape. */
typedef struct {
    int64_t hidden, heads, kv_heads, dim, inner, layers;
    float eps;
    double scaling;
} llama_shape;

/* The pass's generations: each has its cache buffer (layers, 2, kv_heads, capacity, dim)
   and owns rows starts[s] .. starts[s + 1] (see _attention.append_attend). */
typedef struct {
    int64_t count;
    uint16_t *const *caches;
    const int64_t *capacities, *starts, *pasts, *sources, *mask_starts;
    const double *masks;
} llama_segments;

static inline float from_bf16(uint16_t v) {
    union {
        uint32_t u;
        float f;
    } c = {(uint32_t)v << 16};
    return c.f;
}

/* float32 to bf16, nearest even (c10::BFloat16's rounding). */
static inline uint16_t to_bf16(float f) {
    union {
        float f;
        uint32_t u;
    } c = {f};
    if (f != f) return 0x7FC0;
    return (uint16_t)((c.u + 0x7FFF + ((c.u >> 16) & 1)) >> 16);
}

static inline int64_t ceil_log2(int64_t x) {
    int64_t bits = 0;
    while (((int64_t)1 << bits) < x) bits++;
    return bits;
}

/* The sum PyTorch's CPU kernel gives for a contiguous float row (its cascade sum, which
   runs on vectors of 8 floats here): the vectors summed as four interleaved rows with a
   cascade of partial sums, the four folded, the tail elements summed, then the 8 lanes
   added to them in order. */
static float torch_sum(const float *a, int64_t size) {
    enum { LANES = 8, ILP = 4, LEVELS = 4 };
    int64_t vectors = size / LANES, rows = vectors / ILP;
    __m256 acc[LEVELS][ILP];
    for (int j = 0; j < LEVELS; j++)
        for (int k = 0; k < ILP; k++) acc[j][k] = _mm256_setzero_ps();
    int64_t power = ceil_log2(rows) / LEVELS;
    if (power < 4) power = 4;
    int64_t step = (int64_t)1 << power, mask = step - 1, i = 0;
    while (i + step <= rows) {
        for (int64_t j = 0; j < step; j++, i++)
            for (int k = 0; k < ILP; k++)
                acc[0][k] = _mm256_add_ps(acc[0][k], _mm256_loadu_ps(a + (i * ILP + k) * LANES));
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < ILP; k++) {
                acc[j][k] = _mm256_add_ps(acc[j][k], acc[j - 1][k]);
                acc[j - 1][k] = _mm256_setzero_ps();
            }
            if (i & (mask << (j * power))) break;
        }
    }
    for (; i < rows; i++)
        for (int k = 0; k < ILP; k++)
            acc[0][k] = _mm256_add_ps(acc[0][k], _mm256_loadu_ps(a + (i * ILP + k) * LANES));
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < ILP; k++) acc[0][k] = _mm256_add_ps(acc[0][k], acc[j][k]);
    for (int64_t v = rows * ILP; v < vectors; v++)
        acc[0][0] = _mm256_add_ps(acc[0][0], _mm256_loadu_ps(a + v * LANES));
    for (int k = 1; k < ILP; k++) acc[0][0] = _mm256_add_ps(acc[0][0], acc[0][k]);
    float total = 0.0f, lanes[LANES];
    for (int64_t e = vectors * LANES; e < size; e++) total += a[e];
    _mm256_storeu_ps(lanes, acc[0][0]);
    for (int k = 0; k < LANES; k++) total += lanes[k];
    return total;
}

/* LlamaRMSNorm of n rows: weight * bf16(x * rsqrt(mean(x^2) + eps)), squares in float32. */
static void rms_norm(const uint16_t *x, const uint16_t *weight, int64_t n, int64_t hidden,
                     float eps, float *squares, uint16_t *out) {
    for (int64_t r = 0; r < n; r++) {
        const uint16_t *row = x + r * hidden;
        for (int64_t d = 0; d < hidden; d++) {
            float v = from_bf16(row[d]);
            squares[d] = v * v;
        }
        float mean = torch_sum(squares, hidden) / (float)hidden;
        float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t d = 0; d < hidden; d++) {
            float normed = from_bf16(to_bf16(from_bf16(row[d]) * scale));
            out[r * hidden + d] = to_bf16(from_bf16(weight[d]) * normed);
        }
    }
}

/* x * cos + rotate_half(x) * sin of the first `rotated` heads of every row (bf16, each
   product and the sum rounded). */
static void rotary(uint16_t *qkv, int64_t n, int64_t width, int64_t rotated, int64_t dim,
                   const uint16_t *cos, const uint16_t *sin) {
    int64_t half = dim / 2;
    float head[1024];
    for (int64_t r = 0; r < n; r++)
        for (int64_t h = 0; h < rotated; h++) {
            uint16_t *x = qkv + r * width + h * dim;
            const uint16_t *c = cos + r * dim, *s = sin + r * dim;
            for (int64_t d = 0; d < dim; d++) head[d] = from_bf16(x[d]);
            for (int64_t d = 0; d < dim; d++) {
                float turned = d < half ? -head[d + half] : head[d - half];
                float a = from_bf16(to_bf16(head[d] * from_bf16(c[d])));
                float b = from_bf16(to_bf16(turned * from_bf16(s[d])));
                x[d] = to_bf16(a + b);
            }
        }
}

/* x += y (bf16, n x hidden). */
static void add_rows(uint16_t *x, const uint16_t *y, int64_t count) {
    for (int64_t i = 0; i < count; i++) x[i] = to_bf16(from_bf16(x[i]) + from_bf16(y[i]));
}

/* silu(gate) * up for n rows of [gate | up] (inner each): bf16 rounding after each. */
static void silu_mul(const uint16_t *gate_up, int64_t n, int64_t inner, vector_exp expf16,
                     uint16_t *out) {
    const __m512 one = _mm512_set1_ps(1.0f);
    float silu[16];
    for (int64_t r = 0; r < n; r++) {
        const uint16_t *gate = gate_up + r * 2 * inner, *up = gate + inner;
        for (int64_t d = 0; d < inner; d += 16) {
            __m512 g = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(gate + d))), 16));
            __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, expf16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
            _mm512_storeu_ps(silu, s);
            for (int i = 0; i < 16; i++)
                out[r * inner + d + i] =
                    to_bf16(from_bf16(to_bf16(silu[i])) * from_bf16(up[d + i]));
        }
    }
}

/* exp(x) rounds to +0.0 at or below this (see _attention._UNDERFLOW). */
#define UNDERFLOW (-746.0)

/* One query row and head attending to `seen` keys of its kv head; out: bf16 (dim). */
static void attend_row(const uint16_t *query, const uint16_t *keys, const uint16_t *values,
                       int64_t seen, int64_t dim, double scaling, const double *mask,
                       double *scores, double *acc, uint16_t *out) {
    double q[256];
    for (int64_t d = 0; d < dim; d++) q[d] = (double)from_bf16(query[d]);
    double top = -INFINITY;
    for (int64_t j = 0; j < seen; j++) {
        const uint16_t *key = keys + j * dim;
        __m512d sum = _mm512_setzero_pd();
        for (int64_t d = 0; d < dim; d += 8) {
            __m512d k = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(key + d))), 16)));
            sum = _mm512_add_pd(sum, _mm512_mul_pd(_mm512_loadu_pd(q + d), k));
        }
        double score = _mm512_reduce_add_pd(sum) * scaling;
        if (mask) score += mask[j];
        scores[j] = score;
        if (score > top) top = score;
    }
    double total = 0.0;
    for (int64_t j = 0; j < seen; j++) {
        double x = scores[j] - top;
        double weight = x > UNDERFLOW ? exp(x) : 0.0;
        scores[j] = weight;
        total += weight;
    }
    for (int64_t d = 0; d < dim; d += 8) _mm512_storeu_pd(acc + d, _mm512_setzero_pd());
    for (int64_t j = 0; j < seen; j++) {
        double weight = scores[j];
        if (weight == 0.0) continue;
        const uint16_t *value = values + j * dim;
        __m512d w = _mm512_set1_pd(weight);
        for (int64_t d = 0; d < dim; d += 8) {
            __m512d v = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(value + d))), 16)));
            _mm512_storeu_pd(acc + d, _mm512_add_pd(_mm512_loadu_pd(acc + d), _mm512_mul_pd(w, v)));
        }
    }
    for (int64_t d = 0; d < dim; d++) out[d] = to_bf16((float)(acc[d] / total));
}

/* One layer's attention for every generation: append its keys and values to its cache,
   then attend its rows (see _attention.append_attend). qkv: n x (heads + 2 kv) x dim. */
static void attention(const llama_shape *m, int64_t layer, const llama_segments *g,
                      const uint16_t *qkv, uint16_t *out, double *scratch, int threads) {
    int64_t heads = m->heads, kv = m->kv_heads, dim = m->dim, width = (heads + 2 * kv) * dim;
    int64_t groups = heads / kv;
    for (int64_t s = 0; s < g->count; s++) {
        int64_t capacity = g->capacities[s], start = g->starts[s];
        int64_t size = g->starts[s + 1] - start, past = g->pasts[s], length = past + size;
        uint16_t *keys = g->caches[s] + layer * 2 * kv * capacity * dim;
        uint16_t *values = keys + kv * capacity * dim;
        if (g->sources[s] >= 0) {
            int64_t other = g->capacities[g->sources[s]];
            const uint16_t *theirs = g->caches[g->sources[s]] + layer * 2 * kv * other * dim;
            for (int64_t c = 0; c < 2; c++)
                for (int64_t h = 0; h < kv; h++)
                    memcpy(keys + (c * kv + h) * capacity * dim,
                           theirs + (c * kv + h) * other * dim, past * dim * 2);
        }
        for (int64_t r = 0; r < size; r++)
            for (int64_t h = 0; h < kv; h++) {
                const uint16_t *row = qkv + (start + r) * width;
                memcpy(keys + (h * capacity + past + r) * dim, row + (heads + h) * dim, dim * 2);
                memcpy(values + (h * capacity + past + r) * dim, row + (heads + kv + h) * dim,
                       dim * 2);
            }
        int64_t at = g->mask_starts[s];
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
        for (int64_t h = 0; h < heads; h++) {
            int me = 0;
#ifdef _OPENMP
            me = omp_get_thread_num();
#endif
            double *scores = scratch + me * (length + dim), *acc = scores + length;
            int64_t kh = h / groups;
            for (int64_t r = 0; r < size; r++) {
                int64_t seen = at < 0 && size > 1 ? past + r + 1 : length;
                const double *mask = at < 0 ? NULL : g->masks + at + r * length;
                attend_row(qkv + (start + r) * width + h * dim, keys + kh * capacity * dim,
                           values + kh * capacity * dim, seen, dim, m->scaling, mask, scores, acc,
                           out + (start + r) * heads * dim + h * dim);
            }
        }
    }
}

/* The pass: x (n x hidden bf16, the tokens' embeddings) becomes the final RMSNorm of the
   last layer's output, in place. cos, sin: n x dim bf16 (the rotary embedding of each
   row's position). Returns 0, or -1 when memory is short, -2 for a shape it cannot run. */
int tessera_llama_pass(uint16_t *x, int64_t n, const llama_shape *m, const llama_layer *layers,
                       const uint16_t *final_norm, const uint16_t *cos, const uint16_t *sin,
                       const llama_segments *segments, int threads, vector_exp expf16) {
    int64_t hidden = m->hidden, heads = m->heads, kv = m->kv_heads, dim = m->dim;
    int64_t inner = m->inner, width = (heads + 2 * kv) * dim;
    if (dim > 256 || dim % 16 || inner % 16 || m->kv_heads < 1 || heads % kv) return -2;
    if (threads < 1) threads = 1;
    int64_t longest = 0;
    for (int64_t s = 0; s < segments->count; s++) {
        int64_t length = segments->pasts[s] + segments->starts[s + 1] - segments->starts[s];
        if (length > longest) longest = length;
    }
    size_t halves = (size_t)n * (hidden + width + heads * dim + hidden + 2 * inner + inner);
    size_t floats = (size_t)(hidden > inner ? hidden : inner);
    size_t doubles = (size_t)threads * (longest + dim);
    char *memory = malloc(halves * 2 + floats * 4 + doubles * 8 + 64);
    if (memory == NULL) return -1;
    double *scratch = (double *)memory;
    float *squares = (float *)(scratch + doubles);
    uint16_t *h = (uint16_t *)(squares + floats), *qkv = h + n * hidden;
    uint16_t *attended = qkv + n * width, *y = attended + n * heads * dim;
    uint16_t *gate_up = y + n * hidden, *mixed = gate_up + n * 2 * inner;
    int status = 0;
    for (int64_t l = 0; l < m->layers && !status; l++) {
        const llama_layer *layer = layers + l;
        rms_norm(x, layer->input_norm, n, hidden, m->eps, squares, h);
        status |= tessera_amx_product(h, n, hidden, layer->qkv, width, qkv, threads, 0);
        rotary(qkv, n, width, heads + kv, dim, cos, sin);
        attention(m, l, segments, qkv, attended, scratch, threads);
        status |= tessera_amx_product(attended, n, heads * dim, layer->o, hidden, y, threads, 0);
        add_rows(x, y, n * hidden);
        rms_norm(x, layer->post_norm, n, hidden, m->eps, squares, h);
        status |= tessera_amx_product(h, n, hidden, layer->gate_up, 2 * inner, gate_up, threads, 0);
        silu_mul(gate_up, n, inner, expf16, mixed);
        status |= tessera_amx_product(mixed, n, inner, layer->down, hidden, y, threads, 0);
        add_rows(x, y, n * hidden);
    }
    if (!status) {
        rms_norm(x, final_norm, n, hidden, m->eps, squares, h);
        memcpy(x, h, (size_t)n * hidden * 2);
    }
    free(memory);
    return status ? -1 : 0;
}
