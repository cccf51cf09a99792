// layernorm(dim): y = g * (x - mean) / sqrt(var + 1e-5) + b, var biased; g and b are [dim] at gOff, bOff.
// x, y, dy, dx are [B x dim]; stats is [B x 2] = {mean, sqrt(var + 1e-5)} saved for the backward.
// One block of 256 threads per task: grid B, block 256; thread t owns features t, t + 256, ...
#include "layernorm.cuh"

// The math is in layernorm.cuh, shared with the tails that run a layernorm inside the kernel of the
// linear or lstm_block next to it (linear.cu, lstm.cu); these kernels serve every other neighbour.
extern "C" __global__ void layernorm_forward(const float* p, int P, int gOff, int bOff, int dim, const float* x,
                                             float* stats, float* y) {
    int b = blockIdx.x;
    size_t row = (size_t)b * dim;
    layernorm_forward_task(TASK_ROW(p, b, P), gOff, bOff, dim, x + row, stats + 2 * b, y + row);
}

extern "C" __global__ void layernorm_backward_update(float* p, int P, float scale, float* acc, int accOn, int gOff,
                                                     int bOff, int dim, const float* x, const float* stats,
                                                     const float* dy, float* dx) {
    int b = blockIdx.x;
    size_t row = (size_t)b * dim;
    layernorm_backward_task(p, (size_t)b * P, scale, acc, accOn, gOff, bOff, dim, x + row, stats + 2 * b, dy + row,
                            dx + row);
}

// ---- tangents, for MAML's Hessian-vector products; v (the direction), lambda, lrGrad are [B x P] like p ----

// Forward tangent: muT = mean(xT), sigT = mean((x - mu)(xT - muT)) / sig, xhT = (xT - muT - xh sigT) / sig,
// yT = v_g xh + g xhT + v_b. tstats [B x 2] = {muT, sigT} for the backward. One block per task as the forward.
extern "C" __global__ void layernorm_forward_tangent(const float* p, const float* v, int P, int gOff, int bOff, int dim,
                                                     const float* x, const float* xT, const float* stats, float* tstats,
                                                     float* yT) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    size_t row = (size_t)b * dim;
    const float* task = TASK_ROW(p, b, P);
    const float* dir = TASK_ROW(v, b, P);
    float mu = stats[2 * b], sig = stats[2 * b + 1];
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xT[row + i];
    float muT = block_sum(s, scratch) / dim;
    float q = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) q += (x[row + i] - mu) * (xT[row + i] - muT);
    float varT = 2.f * block_sum(q, scratch) / dim;
    float sigT = varT / (2.f * sig);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float xh = (x[row + i] - mu) / sig;
        float xhT = (xT[row + i] - muT - xh * sigT) / sig;
        yT[row + i] = dir[gOff + i] * xh + task[gOff + i] * xhT + dir[bOff + i];
    }
    if (threadIdx.x == 0) {
        tstats[2 * b] = muT;
        tstats[2 * b + 1] = sigT;
    }
}

// Backward tangent with the adjoint update: dx as layernorm_backward_update; with dxh = dy g and
// dxhT = dyT g + dy v_g, dxT = -sigT / sig^2 (dxh - m1 - xh m2) + (dxhT - m1T - xhT m2 - xh m2T) / sig,
// m1T = mean(dxhT), m2T = mean(dxhT xh + dxh xhT); the adjoint update with g_g = dy xh, g_b = dy,
// (H v)_g = dyT xh + dy xhT, (H v)_b = dyT. The parameters are not written; every thread has read v
// (first loop) before any writes lambda. One block per task, thread t owns features t, t + 256, ...
extern "C" __global__ void layernorm_backward_tangent(const float* p, const float* v, int P, float* lambda,
                                                      float* lrGrad, int lrGradOn, double alpha, int gOff, int bOff,
                                                      int dim, const float* x, const float* xT, const float* stats,
                                                      const float* tstats, const float* dy, const float* dyT, float* dx,
                                                      float* dxT) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    size_t row = (size_t)b * dim, task = (size_t)b * P;
    float mu = stats[2 * b], sig = stats[2 * b + 1], muT = tstats[2 * b], sigT = tstats[2 * b + 1];
    float s1 = 0.f, s2 = 0.f, s1T = 0.f, s2T = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float xh = (x[row + i] - mu) / sig;
        float xhT = (xT[row + i] - muT - xh * sigT) / sig;
        float gi = p[task + gOff + i];
        float dxh = dy[row + i] * gi;
        float dxhT = dyT[row + i] * gi + dy[row + i] * v[task + gOff + i];
        s1 += dxh;
        s2 += dxh * xh;
        s1T += dxhT;
        s2T += dxhT * xh + dxh * xhT;
    }
    float m1 = block_sum(s1, scratch) / dim;
    float m2 = block_sum(s2, scratch) / dim;
    float m1T = block_sum(s1T, scratch) / dim;
    float m2T = block_sum(s2T, scratch) / dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        float xh = (x[row + i] - mu) / sig;
        float xhT = (xT[row + i] - muT - xh * sigT) / sig;
        float gi = p[task + gOff + i], d = dy[row + i], dT = dyT[row + i];
        float dxh = d * gi;
        float dxhT = dT * gi + d * v[task + gOff + i];
        float r = dxh - m1 - xh * m2;
        dx[row + i] = r / sig;
        dxT[row + i] = -sigT / (sig * sig) * r + (dxhT - m1T - xhT * m2 - xh * m2T) / sig;
        adjoint_update(lambda, lrGrad, lrGradOn, alpha, task + gOff + i, d * xh, dT * xh + d * xhT);
        adjoint_update(lambda, lrGrad, lrGradOn, alpha, task + bOff + i, d, dT);
    }
}
