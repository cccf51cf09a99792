// The losses' math for one task, shared by loss.cu's kernels and by a plain linear at the model's head
// that forms its output gradient itself while it stages its deltas (linear_backward_update with loss set),
// which spares the step the loss's launch. z are the task's logits, y its target (>= 0).
#pragma once
#include "common.cuh"
#include "activation.cuh"

// log(1 + exp(x)) without overflow.
__device__ __forceinline__ double softplus_d(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

// What a head linear's backward does about the loss: nothing (its dy is given), or binary or softmax
// cross-entropy on its own output.
#define LOSS_NONE 0
#define LOSS_BCE 1
#define LOSS_SOFTMAX 2

// Binary cross-entropy with one logit: d/dz and the loss, softplus(z) - y z.
__device__ __forceinline__ float bce_grad(float z, int y) {
    return sigmoid_f(z) - (float)y;
}

__device__ __forceinline__ double bce_nll(float z, int y) {
    return softplus_d((double)z) - y * (double)z;
}

// The block's max m of the L logits and s = sum_i exp(z_i - m): softmax(z)_i = exp(z_i - m) / s. Called
// by every thread of the block (any shape).
__device__ __forceinline__ void softmax_max_sum(const float* zb, int L, float* scratch, float* m, float* s) {
    int t0 = block_thread(), n = block_threads();
    float mx = -INFINITY;
    for (int i = t0; i < L; i += n) mx = fmaxf(mx, zb[i]);
    mx = block_max(mx, scratch);
    float sum = 0.f;
    for (int i = t0; i < L; i += n) sum += expf(zb[i] - mx);
    *m = mx;
    *s = block_sum(sum, scratch);
}

// Softmax cross-entropy: d/dz_i = softmax(z)_i - [i == y], and the loss m + log s - z_y.
__device__ __forceinline__ float softmax_grad(float zi, float m, float s, int i, int y) {
    return expf(zi - m) / s - (i == y ? 1.f : 0.f);
}

__device__ __forceinline__ double softmax_nll(float m, float s, float zy) {
    return (double)m + log((double)s) - (double)zy;
}

// A head linear's loss, once per block before its backward stages the deltas: the step's target into *y,
// for softmax the logits' m and s into *m, *s (all in shared memory, read after the block's next barrier),
// and, in the one block of the task that counts (counts), the task's loss added to nll[b]. zb are the
// task's L logits (the linear's output), every thread of the block calls it.
__device__ __forceinline__ void head_loss(int loss, int L, const float* zb, const int* ys, const int* step, double* nll,
                                          bool counts, int* y, float* m, float* s) {
    __shared__ float scratch[32];
    int b = blockIdx.y;
    int target = ys[(size_t)(*step) * gridDim.y + b];
    float mx = 0.f, sum = 1.f;
    if (target >= 0 && loss == LOSS_SOFTMAX)
        softmax_max_sum(zb, L, scratch, &mx, &sum);  // the same for the whole block
    if (block_thread() == 0) {
        *y = target;
        *m = mx;
        *s = sum;
        if (counts && target >= 0)
            nll[b] += loss == LOSS_BCE ? bce_nll(zb[0], target) : softmax_nll(mx, sum, zb[target]);
    }
}
