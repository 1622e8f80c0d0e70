/* Per-output-channel symmetric int8 (quantize.h). */
#include "quantize.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "prune.h"

void bmst_quantize_channels(const float *w, int k, size_t per_k, int8_t *q, float *scale) {
    for (int c = 0; c < k; c++) {
        const float *wc = w + (size_t)c * per_k;
        float max = 0.0f;
        for (size_t i = 0; i < per_k; i++)
            max = fmaxf(max, fabsf(wc[i]));
        scale[c] = max > 0.0f ? max / 127.0f : 1.0f;
        for (size_t i = 0; i < per_k; i++) {
            /* |w / scale| <= 127 up to rounding of the division: clamp it */
            long v = lrintf(wc[i] / scale[c]);
            q[(size_t)c * per_k + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

void bmst_dequantize_channels(const int8_t *q, int k, size_t per_k, const float *scale, float *w) {
    for (int c = 0; c < k; c++)
        for (size_t i = 0; i < per_k; i++)
            w[(size_t)c * per_k + i] = (float)q[(size_t)c * per_k + i] * scale[c];
}

int bmst_quantized_param(const struct bmst_param *p) {
    return bmst_prune_prunable(p);
}

int bmst_quantize_model_weights(const struct bmst_model *m, float *host_weights) {
    int quantized = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct bmst_param *p = &m->params[i];
        if (!bmst_quantized_param(p)) continue;
        int k = p->dims[0];
        size_t per_k = p->count / (size_t)k;
        int8_t *q = bmst_xmalloc(p->count);
        float *scale = bmst_xmalloc((size_t)k * sizeof *scale);
        float *w = host_weights + p->offset;
        bmst_quantize_channels(w, k, per_k, q, scale);
        bmst_dequantize_channels(q, k, per_k, scale, w);
        free(q), free(scale);
        quantized++;
    }
    return quantized;
}

int bmst_quantize_model(struct bmst_model *m) {
    size_t bytes = (m->n_weights ? m->n_weights : 1) * sizeof(float);
    float *host = bmst_xmalloc(bytes);
    m->be->to_host(m->be, host, m->weights, m->n_weights * sizeof(float));
    int quantized = bmst_quantize_model_weights(m, host);
    m->be->to_device(m->be, m->weights, host, m->n_weights * sizeof(float));
    bmst_model_refresh_act(m);
    free(host);
    return quantized;
}
