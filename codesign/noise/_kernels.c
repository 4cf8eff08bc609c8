/* Fused read-noise kernels: Philox4x32-10 -> Box-Muller (float32) -> ADC rounding and clipping.
 *
 * Every Gaussian is a pure function of (key, counter); codesign/noise/philox.py computes the same
 * bits with torch operations (any device).  Only IEEE-exact operations are used (+ - * /, sqrt,
 * integer arithmetic, round-to-nearest-even) and no multiply-add contraction
 * (-ffp-contract=off), so this file and the torch code agree bit for bit.
 */
#include <math.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <stdint.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline float bits_to_float(uint32_t bits) { float f; memcpy(&f, &bits, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* Box-Muller: two uint32 -> two standard normals (R cos theta, R sin theta). */
static inline void box_muller(uint32_t ra, uint32_t rb, float *z_cos, float *z_sin) {
    /* u1 = (ra + 1/2) 2^-32 in (0, 1]; ln u1 = (e - 32) ln 2 + ln m, m in [sqrt(1/2), sqrt(2)) */
    float x = (float)ra + 0.5f;
    uint32_t bits = float_to_bits(x);
    int32_t e = (int32_t)((bits >> 23) & 0xFFu) - 127;
    float m = bits_to_float((bits & 0x007FFFFFu) | 0x3F800000u);
    int big = m > 0x1.6a09e6p+0f;  /* sqrt 2 */
    m = big ? m * 0.5f : m;
    e = big ? e + 1 : e;
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float p = 0x1.745d18p-4f;   /* 1/11 */
    p = p * s2; p = p + 0x1.c71c72p-4f;  /* 1/9 */
    p = p * s2; p = p + 0x1.24924ap-3f;  /* 1/7 */
    p = p * s2; p = p + 0x1.99999ap-3f;  /* 1/5 */
    p = p * s2; p = p + 0x1.555556p-2f;  /* 1/3 */
    p = p * s2; p = p + 1.0f;
    float ln_m = (s + s) * p;
    float ln_u = (float)(e - 32) * 0x1.62e43p-1f;  /* ln 2 */
    ln_u = ln_u + ln_m;
    float r = sqrtf(ln_u * -2.0f);
    /* theta = q pi/2 + pi/4 + t, t in (-pi/4, pi/4) from 23 bits, q from the top two bits */
    uint32_t q = rb >> 30;
    float t = (float)((rb >> 7) & 0x7FFFFFu) + 0.5f;
    t = t - 4194304.0f;
    t = t * 0x1.921fb6p-23f;  /* (pi / 2) 2^-23 */
    float t2 = t * t;
    float sn = 0x1.71de3ap-19f;  /* 1/9! */
    sn = sn * t2; sn = sn - 0x1.a01a02p-13f;
    sn = sn * t2; sn = sn + 0x1.111112p-7f;
    sn = sn * t2; sn = sn - 0x1.555556p-3f;
    sn = sn * t2; sn = sn + 1.0f;
    sn = sn * t;
    float cs = -0x1.27e4fcp-22f;  /* -1/10! */
    cs = cs * t2; cs = cs + 0x1.a01a02p-16f;
    cs = cs * t2; cs = cs - 0x1.6c16c2p-10f;
    cs = cs * t2; cs = cs + 0x1.555556p-5f;
    cs = cs * t2; cs = cs - 0.5f;
    cs = cs * t2; cs = cs + 1.0f;
    float c_rot = (cs - sn) * 0x1.6a09e6p-1f;  /* cos(pi/4 + t) */
    float s_rot = (cs + sn) * 0x1.6a09e6p-1f;  /* sin(pi/4 + t) */
    float cos_q = (q == 0) ? c_rot : (q == 1) ? -s_rot : (q == 2) ? -c_rot : s_rot;
    float sin_q = (q == 0) ? s_rot : (q == 1) ? c_rot : (q == 2) ? -s_rot : -c_rot;
    *z_cos = r * cos_q;
    *z_sin = r * sin_q;
}

/* Philox4x32-10 of the counters (g, g >> 32, instance, stream) of LANES consecutive groups g0 ..
 * g0 + LANES - 1, each turned into four normals z[4 * i + lane] by two Box-Muller transforms. */
#define LANES 16
static void block_normals(uint64_t g0, uint32_t instance, uint32_t stream, uint32_t k0, uint32_t k1, float *z) {
    uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    for (int i = 0; i < LANES; ++i) {
        uint64_t g = g0 + (uint64_t)i;
        c0[i] = (uint32_t)g; c1[i] = (uint32_t)(g >> 32); c2[i] = instance; c3[i] = stream;
    }
#ifdef __AVX2__
    /* the compiler does not vectorise the widening 32x32 -> 64 bit products: eight lanes by hand */
    for (int v = 0; v < LANES; v += 8) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)&c0[v]), a1 = _mm256_loadu_si256((const __m256i *)&c1[v]);
        __m256i a2 = _mm256_loadu_si256((const __m256i *)&c2[v]), a3 = _mm256_loadu_si256((const __m256i *)&c3[v]);
        const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
        uint32_t ka = k0, kb = k1;
        for (int round = 0; round < 10; ++round) {
            __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(a0, m0), 32),
                                             _mm256_mul_epu32(_mm256_srli_epi64(a0, 32), m0), 0xAA);
            __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(a2, m1), 32),
                                             _mm256_mul_epu32(_mm256_srli_epi64(a2, 32), m1), 0xAA);
            __m256i lo0 = _mm256_mullo_epi32(a0, m0), lo1 = _mm256_mullo_epi32(a2, m1);
            a0 = _mm256_xor_si256(_mm256_xor_si256(hi1, a1), _mm256_set1_epi32((int)ka));
            a2 = _mm256_xor_si256(_mm256_xor_si256(hi0, a3), _mm256_set1_epi32((int)kb));
            a1 = lo1;
            a3 = lo0;
            ka += PHILOX_W0; kb += PHILOX_W1;
        }
        _mm256_storeu_si256((__m256i *)&c0[v], a0); _mm256_storeu_si256((__m256i *)&c1[v], a1);
        _mm256_storeu_si256((__m256i *)&c2[v], a2); _mm256_storeu_si256((__m256i *)&c3[v], a3);
    }
#else
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < LANES; ++i) {
            uint64_t p0 = (uint64_t)PHILOX_M0 * c0[i];
            uint64_t p1 = (uint64_t)PHILOX_M1 * c2[i];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c1[i] = (uint32_t)p1; c3[i] = (uint32_t)p0; c0[i] = n0; c2[i] = n2;
        }
        k0 += PHILOX_W0; k1 += PHILOX_W1;
    }
#endif
    float za[LANES], zb[LANES], zc[LANES], zd[LANES];
    for (int i = 0; i < LANES; ++i) box_muller(c0[i], c1[i], &za[i], &zb[i]);
    for (int i = 0; i < LANES; ++i) box_muller(c2[i], c3[i], &zc[i], &zd[i]);
    for (int i = 0; i < LANES; ++i) {
        z[4 * i] = za[i]; z[4 * i + 1] = zb[i]; z[4 * i + 2] = zc[i]; z[4 * i + 3] = zd[i];
    }
}

/* Normals of linear indices [n0, n0 + count) of one (instance, stream) plane. */
void cs_normals(float *out, int64_t n0, int64_t count, uint32_t instance, uint32_t stream, uint32_t k0,
                uint32_t k1) {
    int64_t g0 = n0 >> 2, g1 = (n0 + count + 3) >> 2;
    for (int64_t g = g0; g < g1; g += LANES) {
        float z[4 * LANES];
        block_normals((uint64_t)g, instance, stream, k0, k1, z);
        for (int i = 0; i < 4 * LANES; ++i) {
            int64_t n = 4 * g + i - n0;
            if (n >= 0 && n < count) out[n] = z[i];
        }
    }
}

/* One read of a chunk of instances: v = sums * colscale[k] + std[k, b] * z; v = clamp(rint(v), lo, hi)
 * (when quantize); acc = v * weight (or acc += v * weight when accumulate); std NULL: no noise.  Element (k, b, c) has the
 * counter of linear index (first_sample + b) * C + c in the plane of instance first_instance + k. */
typedef struct {
    float *acc; const void *sums; const float *stdv; const float *colscale;
    int64_t K, B, C, s_k, s_b, a_k, a_b, t_k, t_b, first_instance, first_sample;
    uint32_t stream, k0, k1;
    float lo, hi, weight;
    int quantize, accumulate, sums_int32;
    int64_t item_begin, item_end, rows_per_item;
} read_job;

#define SCRATCH 8192

/* One row of one read; the flags are hoisted out of the loops so that each loop vectorises. */
static inline void apply_row(float *restrict dst, const float *restrict src, const float *restrict zr, int64_t n,
                             float scale, float sd, int noisy, int quantize, float lo, float hi, float weight,
                             int accumulate) {
    float v[SCRATCH];
    if (noisy) {
        for (int64_t c = 0; c < n; ++c) { float a = src[c] * scale; float e = zr[c] * sd; v[c] = a + e; }
    } else {
        for (int64_t c = 0; c < n; ++c) v[c] = src[c] * scale;
    }
    if (quantize) {
        for (int64_t c = 0; c < n; ++c) {
            float r = rintf(v[c]);
            r = r < lo ? lo : r;
            v[c] = r > hi ? hi : r;
        }
    }
    if (accumulate) {
        for (int64_t c = 0; c < n; ++c) { float w = v[c] * weight; dst[c] = dst[c] + w; }
    } else {
        for (int64_t c = 0; c < n; ++c) dst[c] = v[c] * weight;
    }
}

static void run_items(const read_job *j) {
    float z[SCRATCH + 8 + 4 * LANES];
    int64_t items_per_k = (j->B + j->rows_per_item - 1) / j->rows_per_item;
    for (int64_t item = j->item_begin; item < j->item_end; ++item) {
        int64_t k = item / items_per_k;
        int64_t b0 = (item % items_per_k) * j->rows_per_item;
        int64_t b1 = b0 + j->rows_per_item < j->B ? b0 + j->rows_per_item : j->B;
        int64_t n0 = (j->first_sample + b0) * j->C, n1 = (j->first_sample + b1) * j->C;
        int64_t g0 = n0 >> 2, g1 = (n1 + 3) >> 2;
        uint32_t instance = (uint32_t)(j->first_instance + k);
        if (j->stdv)
            for (int64_t g = g0; g < g1; g += LANES) block_normals((uint64_t)g, instance, j->stream, j->k0, j->k1, &z[4 * (g - g0)]);
        const float scale = j->colscale[k];
        float converted[SCRATCH];
        for (int64_t b = b0; b < b1; ++b) {
            const float *src;
            if (j->sums_int32) {  /* exact integer sums of the int8 products, rounded once to float32 */
                const int32_t *row = (const int32_t *)j->sums + k * j->s_k + b * j->s_b;
                for (int64_t c = 0; c < j->C; ++c) converted[c] = (float)row[c];
                src = converted;
            } else {
                src = (const float *)j->sums + k * j->s_k + b * j->s_b;
            }
            float *dst = j->acc + k * j->a_k + b * j->a_b;
            const float sd = j->stdv ? j->stdv[k * j->t_k + b * j->t_b] : 0.0f;
            const float *zr = &z[(j->first_sample + b) * j->C - 4 * g0];
            apply_row(dst, src, zr, j->C, scale, sd, j->stdv != NULL, j->quantize, j->lo, j->hi, j->weight,
                      j->accumulate);
        }
    }
}

int cs_read_adc(float *acc, const void *sums, const float *stdv, const float *colscale, int64_t K, int64_t B,
                int64_t C, int64_t s_k, int64_t s_b, int64_t a_k, int64_t a_b, int64_t t_k, int64_t t_b,
                int64_t first_instance, int64_t first_sample, uint32_t stream, uint32_t k0, uint32_t k1, float lo,
                float hi, float weight, int quantize, int accumulate, int sums_int32, int threads) {
    if (C > SCRATCH - 8) return -1;
    read_job base = {acc, sums, stdv, colscale, K, B, C, s_k, s_b, a_k, a_b, t_k, t_b, first_instance,
                     first_sample, stream, k0, k1, lo, hi, weight, quantize, accumulate, sums_int32, 0, 0, 0};
    base.rows_per_item = (SCRATCH - 8) / C;
    int64_t items = K * ((B + base.rows_per_item - 1) / base.rows_per_item);
    if (threads < 1) threads = 1;
    if (threads > items) threads = (int)items;
    /* OpenMP: the same runtime and thread pool as torch's intra-op parallelism (libgomp.so.1) */
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; ++t) {
        read_job job = base;
        job.item_begin = items * t / threads;
        job.item_end = items * (t + 1) / threads;
        run_items(&job);
    }
    return 0;
}

/* Requantisation of a layer's accumulators to the next layer's input codes, with the drive energy
 * (sum of squared codes) of every row range [bounds[t], bounds[t + 1]) for the next read noise:
 * out = clamp(rint(acc * gain[c] + offset[c]), lo, hi) - zero_point, as the folded torch path. */
typedef struct {
    float *out; float *energy; const float *acc; const float *gain; const float *offset; const int64_t *bounds;
    int64_t C, T, row_begin, row_end;
    float lo, hi, zero_point;
} requant_job;

static void requant_rows(const requant_job *j) {
    const float *restrict gain = j->gain, *restrict offset = j->offset;
    const float lo = j->lo, hi = j->hi, zero_point = j->zero_point;
    const int64_t n = j->C, tiles = j->T;
    for (int64_t row = j->row_begin; row < j->row_end; ++row) {
        const float *restrict a = j->acc + row * n;
        float *restrict o = j->out + row * n;
        for (int64_t c = 0; c < n; ++c) {
            float v = a[c] * gain[c];
            v = v + offset[c];
            v = rintf(v);
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            o[c] = v - zero_point;
        }
        if (j->energy) {
            for (int64_t t = 0; t < tiles; ++t) {
                float e = 0.0f;  /* integer squares below 2**24: exact in any order */
                for (int64_t c = j->bounds[t]; c < j->bounds[t + 1]; ++c) e = e + o[c] * o[c];
                j->energy[row * tiles + t] = e;
            }
        }
    }
}

void cs_requant(float *out, float *energy, const float *acc, const float *gain, const float *offset,
                const int64_t *bounds, int64_t rows, int64_t C, int64_t T, float lo, float hi, float zero_point,
                int threads) {
    requant_job base = {out, energy, acc, gain, offset, bounds, C, T, 0, rows, lo, hi, zero_point};
    if (threads < 1) threads = 1;
    if (rows < 256 * threads) threads = 1;
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; ++t) {
        requant_job job = base;
        job.row_begin = rows * t / threads;
        job.row_end = rows * (t + 1) / threads;
        requant_rows(&job);
    }
}
