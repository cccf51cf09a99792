// layernorm(dim)'s forward and backward-with-update for one task, run by one whole block of any shape
// (a multiple of 32 threads; thread t of n owns features t, t + n, ...). layernorm.cu's kernels run
// them one block per task; linear.cu and lstm.cu run them as a tail in the last of a task's blocks to
// finish (last_arrival in common.cuh), which spares a layernorm next to a big layer a launch and a
// dependent phase of its own each way (the inputs other blocks wrote come in through volatile reads).
// g and b are [dim] at gOff, bOff of the task's parameters; stats is the task's {mean, sqrt(var + 1e-5)}.
#pragma once
#include "common.cuh"

#define LN_EPS 1e-5f
// Features a thread keeps in registers between the forward's three passes (the input is read once, from
// L2 through volatile loads in a tail); features beyond LN_HELD x threads are read again each pass.
#define LN_HELD 4

// y = g * (x - mean) / sqrt(var + 1e-5) + b, var biased; x, y are the task's [dim] rows. The sums run
// over a thread's features in order, as a plain loop over i = t0, t0 + n, ... would.
__device__ __forceinline__ void layernorm_forward_task(const float* task, int gOff, int bOff, int dim,
                                                       const volatile float* x, float* stats, float* y) {
    __shared__ float scratch[32];
    int t0 = block_thread(), n = block_threads();
    float xv[LN_HELD];
    float s = 0.f;
#pragma unroll
    for (int u = 0; u < LN_HELD; u++) {
        int i = t0 + u * n;
        xv[u] = i < dim ? x[i] : 0.f;
        if (i < dim) s += xv[u];
    }
    for (int i = t0 + LN_HELD * n; i < dim; i += n) s += x[i];
    float mu = block_sum(s, scratch) / dim;
    float q = 0.f;
#pragma unroll
    for (int u = 0; u < LN_HELD; u++) {
        float c = xv[u] - mu;
        if (t0 + u * n < dim) q += c * c;
    }
    for (int i = t0 + LN_HELD * n; i < dim; i += n) {
        float c = x[i] - mu;
        q += c * c;
    }
    float sig = sqrtf(block_sum(q, scratch) / dim + LN_EPS);
#pragma unroll
    for (int u = 0; u < LN_HELD; u++) {
        int i = t0 + u * n;
        if (i < dim) y[i] = task[gOff + i] * ((xv[u] - mu) / sig) + task[bOff + i];
    }
    for (int i = t0 + LN_HELD * n; i < dim; i += n) y[i] = task[gOff + i] * ((x[i] - mu) / sig) + task[bOff + i];
    if (t0 == 0) {
        stats[0] = mu;
        stats[1] = sig;
    }
}

// Backward with the update: with xh = (x - mean) / sig and dxh = dy * g (the old g),
// dx = (dxh - mean(dxh) - xh * mean(dxh * xh)) / sig; then g += scale * dy * xh, b += scale * dy.
// Each thread writes g and b only for its own features, after its last read of them. task is the
// offset of the task's row in p (and acc); x, dy, dx are the task's [dim] rows.
__device__ __forceinline__ void layernorm_backward_task(float* p, size_t task, float scale, float* acc, int accOn,
                                                        int gOff, int bOff, int dim, const float* x, const float* stats,
                                                        const volatile float* dy, float* dx) {
    __shared__ float scratch[32];
    int t0 = block_thread(), n = block_threads();
    float mu = stats[0], sig = stats[1];
    float s1 = 0.f, s2 = 0.f;
    for (int i = t0; i < dim; i += n) {
        float xh = (x[i] - mu) / sig;
        float dxh = dy[i] * p[task + gOff + i];
        s1 += dxh;
        s2 += dxh * xh;
    }
    float m1 = block_sum(s1, scratch) / dim;
    float m2 = block_sum(s2, scratch) / dim;
    for (int i = t0; i < dim; i += n) {
        float xh = (x[i] - mu) / sig;
        size_t gi = task + gOff + i, bi = task + bOff + i;
        float g = p[gi], d = dy[i];
        dx[i] = (d * g - m1 - xh * m2) / sig;
        apply_grad(p, acc, gi, g, d * xh, scale, accOn);
        apply_grad(p, acc, bi, p[bi], d, scale, accOn);
    }
}

// The tails. Called by every thread of every block of the kernel, after the block's last write of the
// layer's output (forward) or input gradient (backward); arrivals [B] counts the count blocks of task
// blockIdx.y that take part (null: no layernorm follows, nothing happens). The last block of the task
// runs the layernorm on the rows the task's blocks wrote.

// Forward: x [B x dim] is the kernel's output; stats [B x 2] and y [B x dim] are the layernorm's.
__device__ __forceinline__ void layernorm_forward_tail(int* arrivals, int count, const float* p, int P, int gOff,
                                                       int bOff, int dim, const float* x, float* stats, float* y) {
    int b = blockIdx.y;
    if (arrivals == nullptr || !last_arrival(arrivals + b, count)) return;
    size_t row = (size_t)b * dim;
    layernorm_forward_task(TASK_ROW(p, b, P), gOff, bOff, dim, x + row, stats + 2 * b, y + row);
}

// Backward: dy [B x dim] is the kernel's input gradient; x, stats are the layernorm's input and
// statistics from the forward, dx [B x dim] its input gradient; the update as the kernel's. Not inlined:
// inside the backward kernels' 64-register budget it made ptxas spill, and it runs once per task.
__device__ __noinline__ void layernorm_backward_tail(int* arrivals, int count, float* p, int P, float scale, float* acc,
                                                     int accOn, int gOff, int bOff, int dim, const float* x,
                                                     const float* stats, const float* dy, float* dx) {
    int b = blockIdx.y;
    if (arrivals == nullptr || !last_arrival(arrivals + b, count)) return;
    size_t row = (size_t)b * dim;
    layernorm_backward_task(p, (size_t)b * P, scale, acc, accOn, gOff, bOff, dim, x + row, stats + 2 * b, dy + row,
                            dx + row);
}
