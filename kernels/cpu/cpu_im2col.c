/* im2col and its adjoint for NHWC input and KRSC filters. A column row holds,
 * for one output pixel, the R*S*C input values its filter window sees, in
 * (r, s, c) order to match a KRSC filter row, so the convolution is one sgemm.
 * With NHWC the S*C values of one filter row are one contiguous run of x. */
#include "cpu_internal.h"

#include <string.h>

void cpu_im2col(const struct bmst_conv_desc *d, int n0, int nb, const float *x, float *col) {
    const int H = d->h, W = d->w, C = d->c, R = d->r, S = d->s;
    const int OH = d->out_h, OW = d->out_w;
    const size_t rsc = (size_t)R * S * C;
    const size_t run = (size_t)S * C;
    const size_t work = (size_t)nb * OH * OW * rsc;

#pragma omp parallel for collapse(2) schedule(static) if (work > CPU_PAR_MIN)
    for (int i = 0; i < nb; i++) {
        for (int oh = 0; oh < OH; oh++) {
            const float *img = x + (size_t)(n0 + i) * H * W * C;
            float *dst_row = col + ((size_t)i * OH + oh) * OW * rsc;
            for (int ow = 0; ow < OW; ow++) {
                float *dst = dst_row + (size_t)ow * rsc;
                const int iw0 = ow * d->stride_w - d->pad_w;
                /* the window's columns that fall inside the image: [s_lo, s_hi) */
                const int s_lo = iw0 < 0 ? -iw0 : 0;
                const int s_hi = W - iw0 < S ? W - iw0 : S;
                for (int r = 0; r < R; r++, dst += run) {
                    const int ih = oh * d->stride_h - d->pad_h + r;
                    if (ih < 0 || ih >= H || s_hi <= s_lo) {
                        memset(dst, 0, run * sizeof *dst);
                        continue;
                    }
                    const float *src = img + ((size_t)ih * W + iw0 + s_lo) * C;
                    if (s_lo > 0) memset(dst, 0, (size_t)s_lo * C * sizeof *dst);
                    memcpy(dst + (size_t)s_lo * C, src, (size_t)(s_hi - s_lo) * C * sizeof *dst);
                    if (s_hi < S)
                        memset(dst + (size_t)s_hi * C, 0, (size_t)(S - s_hi) * C * sizeof *dst);
                }
            }
        }
    }
}

/* The adjoint, written as a gather: each input row of dx sums the column
 * entries that read it. Threads own disjoint dx rows, so there are no races and
 * the summation order is fixed, unlike a scatter-add over output pixels. */
void cpu_col2im(const struct bmst_conv_desc *d, int n0, int nb, const float *col, float *dx,
                int accumulate) {
    const int H = d->h, W = d->w, C = d->c, R = d->r, S = d->s;
    const int OH = d->out_h, OW = d->out_w;
    const int sh = d->stride_h, sw = d->stride_w, ph = d->pad_h, pw = d->pad_w;
    const size_t rsc = (size_t)R * S * C;
    const size_t work = (size_t)nb * OH * OW * rsc;

#pragma omp parallel for collapse(2) schedule(static) if (work > CPU_PAR_MIN)
    for (int i = 0; i < nb; i++) {
        for (int ih = 0; ih < H; ih++) {
            float *dx_row = dx + ((size_t)(n0 + i) * H + ih) * W * C;
            if (!accumulate) memset(dx_row, 0, (size_t)W * C * sizeof *dx_row);
            const float *col_img = col + (size_t)i * OH * OW * rsc;
            for (int r = 0; r < R; r++) {
                const int th = ih + ph - r; /* = oh * sh when this r reads row ih */
                if (th < 0 || th % sh) continue;
                const int oh = th / sh;
                if (oh >= OH) continue;
                const float *col_oh = col_img + (size_t)oh * OW * rsc + (size_t)r * S * C;
                for (int iw = 0; iw < W; iw++) {
                    float *restrict dst = dx_row + (size_t)iw * C;
                    for (int s = 0; s < S; s++) {
                        const int tw = iw + pw - s;
                        if (tw < 0 || tw % sw) continue;
                        const int ow = tw / sw;
                        if (ow >= OW) continue;
                        const float *restrict src = col_oh + (size_t)ow * rsc + (size_t)s * C;
                        for (int c = 0; c < C; c++)
                            dst[c] += src[c];
                    }
                }
            }
        }
    }
}
