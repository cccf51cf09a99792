// layernorm(dim): y = g * (x - mean) / sqrt(var + 1e-5) + b, var biased; g and b are [dim] at gOff, bOff.
// x, y, dy, dx are [B x dim]; stats is [B x 2] = {mean, sqrt(var + 1e-5)} saved for the backward.
// One block of 256 threads per task: grid B, block 256; thread t owns features t, t + 256, ...
#include "common.cuh"

#define LN_EPS 1e-5f

extern "C" __global__ void layernorm_forward(const float* p, int P, int gOff, int bOff, int dim,
                                             const float* x, float* stats, float* y) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    const float* xb = x + (size_t)b * dim;
    const float* task = TASK_ROW(p, b, P);
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xb[i];
    float mu = block_sum(s, scratch) / dim;
    float q = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float c = xb[i] - mu;
        q += c * c;
    }
    float sig = sqrtf(block_sum(q, scratch) / dim + LN_EPS);
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        y[(size_t)b * dim + i] = task[gOff + i] * ((xb[i] - mu) / sig) + task[bOff + i];
    if (threadIdx.x == 0) {
        stats[2 * b] = mu;
        stats[2 * b + 1] = sig;
    }
}

// Backward with the update: with xh = (x - mean) / sig and dxh = dy * g (the old g),
// dx = (dxh - mean(dxh) - xh * mean(dxh * xh)) / sig; then g += scale * dy * xh, b += scale * dy.
// Each thread writes g and b only for its own features, after its last read of them.
extern "C" __global__ void layernorm_backward_update(float* p, int P, float scale, float* acc, int accOn,
                                                     int gOff, int bOff, int dim, const float* x,
                                                     const float* stats, const float* dy, float* dx) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    size_t row = (size_t)b * dim, task = (size_t)b * P;
    float mu = stats[2 * b], sig = stats[2 * b + 1];
    float s1 = 0.f, s2 = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float xh = (x[row + i] - mu) / sig;
        float dxh = dy[row + i] * p[task + gOff + i];
        s1 += dxh;
        s2 += dxh * xh;
    }
    float m1 = block_sum(s1, scratch) / dim;
    float m2 = block_sum(s2, scratch) / dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float xh = (x[row + i] - mu) / sig;
        size_t gi = task + gOff + i, bi = task + bOff + i;
        float g = p[gi], d = dy[row + i];
        dx[row + i] = (d * g - m1 - xh * m2) / sig;
        apply_grad(p, acc, gi, g, d * xh, scale, accOn);
        apply_grad(p, acc, bi, p[bi], d, scale, accOn);
    }
}
