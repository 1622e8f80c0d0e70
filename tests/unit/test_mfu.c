/* The GPU peak table MFU is measured against (src/mfu.c): names as the
 * driver reports them map to the right datasheet row, fp32 to the CUDA-core
 * figure and fp16/bf16 to the dense tensor-core one (half the datasheet's
 * sparse figure), the more specific rows (PCIe, NVL) before the SXM ones,
 * and an unknown GPU to 0 rather than a guess. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "mfu.h"

static void expect(const char *name, enum bmst_dtype precision, const char *model, double tflops) {
    const char *got = NULL;
    double peak = bmst_gpu_peak_flops(name, precision, &got);
    CHECK(fabs(peak - tflops * 1e12) < 1e6, "%s %s: %g, expected %g TFLOP/s", name,
          bmst_dtype_name(precision), peak / 1e12, tflops);
    CHECK((model == NULL && got == NULL) || (model && got && strcmp(model, got) == 0),
          "%s: row %s, expected %s", name, got ? got : "none", model ? model : "none");
}

int main(void) {
    expect("NVIDIA H100 80GB HBM3", BMST_F32, "H100 SXM", 67.0);
    expect("NVIDIA H100 80GB HBM3", BMST_BF16, "H100 SXM", 989.5);
    expect("NVIDIA H100 80GB HBM3", BMST_F16, "H100 SXM", 989.5);
    expect("NVIDIA H100 PCIe", BMST_F16, "H100 PCIe", 756.0);
    expect("NVIDIA H100 PCIe", BMST_F32, "H100 PCIe", 51.0);
    expect("NVIDIA H100 NVL", BMST_BF16, "H100 NVL", 835.5);
    expect("NVIDIA H200", BMST_BF16, "H200 SXM", 989.5);
    expect("NVIDIA H200", BMST_F32, "H200 SXM", 67.0);
    expect("NVIDIA H200 NVL", BMST_F16, "H200 NVL", 835.5);
    expect("NVIDIA A100-SXM4-80GB", BMST_BF16, "A100", 312.0);
    expect("NVIDIA A100-PCIE-40GB", BMST_F32, "A100", 19.5);
    expect("cuda (NVIDIA A100 80GB PCIe)", BMST_F16, "A100", 312.0);
    expect("NVIDIA GeForce RTX 4090", BMST_F16, NULL, 0.0);
    return check_finish("mfu");
}
