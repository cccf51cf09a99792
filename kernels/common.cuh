// Helpers shared by every kernel file.
//
// Conventions of all kernels:
// - Task parameters are one float buffer [B x P]: task b's vector starts at b * P and is laid out by
//   the model's ParamLayout; offsets passed to kernels (wOff, bOff, ...) are in elements within a task.
// - Activations are [B x width] row-major, task-major.
// - Updates follow one rule: p += scale * grad (scale = -alpha for the inner SGD step; 0 leaves p
//   alone), and when accOn != 0 also acc += grad, acc laid out like p. A kernel reads every parameter
//   it needs for its input gradient before it writes that parameter, and each parameter element is
//   written by exactly one thread.
// - Reductions use a fixed order, so every result is deterministic from run to run.
#pragma once

#define FULL_MASK 0xffffffffu

// Start of task b's row in a [B x P] buffer; b * P exceeds 2^31 for large batches.
#define TASK_ROW(ptr, b, P) ((ptr) + (size_t)(b) * (size_t)(P))

// Butterfly sum: every lane ends with the same bits (float addition is commutative).
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Sum over a block whose size is a multiple of 32 (at most 1024); every thread gets the result.
// scratch holds 32 floats; it may be reused by the next call (the leading barrier protects it).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? scratch[lane] : 0.f);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? scratch[lane] : -INFINITY);
}

// The logistic sigmoid without overflow for large |x| (as the CPU engine computes it).
__device__ __forceinline__ float sigmoid_f(float x) {
    if (x >= 0.f) return 1.f / (1.f + expf(-x));
    float e = expf(x);
    return e / (1.f + e);
}

// The gated product a * sigmoid(c) (gated, gated_residual, and gated fused into linear):
// the tangent of a * s with s = sigmoid(c): aT s + a s (1 - s) cT.
__device__ __forceinline__ float gate_tangent(float a, float aT, float c, float cT) {
    float s = sigmoid_f(c);
    return aT * s + a * s * (1.f - s) * cT;
}

// The backward of a * sigmoid(c) and its tangent, for one element.
__device__ __forceinline__ void gate_backward_tangent(float a, float aT, float c, float cT, float dy, float dyT,
                                                      float* da, float* daT, float* dc, float* dcT) {
    float s = sigmoid_f(c), s1 = s * (1.f - s), s2 = s1 * (1.f - 2.f * s);
    *da = dy * s;
    *dc = dy * a * s1;
    *daT = dyT * s + dy * s1 * cT;
    *dcT = dyT * a * s1 + dy * aT * s1 + dy * a * s2 * cT;
}

// log(1 + exp(x)) without overflow.
__device__ __forceinline__ double softplus_d(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

// Scatters one parameter's gradient by the update rule above.
__device__ __forceinline__ void apply_grad(float* p, float* acc, size_t idx, float old, float grad,
                                           float scale, int accOn) {
    if (scale != 0.f) p[idx] = old + scale * grad;
    if (accOn) acc[idx] += grad;
}
