// Helpers shared by every kernel file.
//
// Conventions of all kernels:
// - Task parameters are one float buffer [B x P]: task b's vector starts at b * P and is laid out by
//   the model's ParamLayout; offsets passed to kernels (wOff, bOff, ...) are in elements within a task.
//   The layer kernels' P is the task stride, the parameter count rounded up to 32 floats, so every
//   task's row starts on a 128-byte boundary and a warp's 128-byte access is one aligned line (meta.cu
//   calls it S and zeroes the padding).
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

// A thread's index within its block and the block's thread count, for 1D and 2D blocks alike: with a
// block of (32, k) threads, warp w is the row threadIdx.y == w.
__device__ __forceinline__ int block_thread() {
    return threadIdx.y * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int block_threads() {
    return blockDim.x * blockDim.y;
}

// Sum over a block whose size is a multiple of 32 (at most 1024); every thread gets the result.
// scratch holds 32 floats; it may be reused by the next call (the leading barrier protects it).
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int t = block_thread(), lane = t & 31, warp = t >> 5, warps = block_threads() >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? scratch[lane] : 0.f);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int t = block_thread(), lane = t & 31, warp = t >> 5, warps = block_threads() >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? scratch[lane] : -INFINITY);
}

// ---- the last of a group of blocks to arrive ----
// Called by every thread of each of the count blocks that share *counter, after their writes:
// returns true in every thread of the block that arrives last, false in the others. The last block
// sets the counter back to 0 for the next launch, and its reads after the call see the writes the
// other blocks made before theirs, provided it reads them through volatile pointers, so that nothing
// comes from a cache filled before. One thread fences, on both sides of the atomic count: the barrier
// before orders its block's writes before its fence (fences are cumulative), the barrier after orders
// its fence before its block's reads, as the grid synchronisation of cooperative groups does.
__device__ __forceinline__ bool last_arrival(int* counter, int count) {
    __shared__ int last;
    __syncthreads();
    if (threadIdx.x == 0 && threadIdx.y == 0) {
        __threadfence();
        last = atomicAdd(counter, 1) == count - 1;
        if (last) {
            *counter = 0;
            __threadfence();
        }
    }
    __syncthreads();
    return last;
}

// Scatters one parameter's gradient by the update rule above.
__device__ __forceinline__ void apply_grad(float* p, float* acc, size_t idx, float old, float grad, float scale,
                                           int accOn) {
    if (scale != 0.f) p[idx] = old + scale * grad;
    if (accOn) acc[idx] += grad;
}

// MAML's adjoint update of one parameter element, lambda = g + lambda - alpha H v (in float64, stored
// in float32), from the element's gradient g and Hessian-vector product hv at the step. It is folded
// into the backward tangent kernels: within one step every element gets exactly one term of each (each
// weight is used once per forward), and the thread that forms them is the only one that reads the
// element of v in that kernel (and no later kernel of the step reads it), so it can overwrite lambda
// (which is v itself for a fixed rate) at once.
// With learned rates (lrGradOn; v = rates * lambda, alpha 1) the rates' gradient first takes
// lrGrad -= g * lambda, with lambda still lambda_{t+1}.
__device__ __forceinline__ float adjoint_value(float g, float hv, double lambda, double alpha) {
    return (float)((double)g + lambda - alpha * (double)hv);
}

__device__ __forceinline__ float rate_grad_value(float lrGrad, float g, double lambda) {
    return (float)((double)lrGrad - (double)g * lambda);
}

__device__ __forceinline__ void adjoint_update(float* lambda, float* lrGrad, int lrGradOn, double alpha, size_t idx,
                                               float g, float hv) {
    double l = lambda[idx];
    if (lrGradOn) lrGrad[idx] = rate_grad_value(lrGrad[idx], g, l);
    lambda[idx] = adjoint_value(g, hv, l, alpha);
}

// Blocks of 256 threads per SM the fused backward kernels are compiled for (at most 64 registers):
// with fewer resident warps the batches above would not keep more bytes in flight.
#define BWD_MIN_BLOCKS 4
// Blocks of 256 threads per SM the bounded forward kernels are compiled for: 6 (40 registers) and 5 (48
// registers), except on sm_75, whose SMs hold at most 1024 threads (4 blocks of 256, 64 registers).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
#define FWD6_MIN_BLOCKS 4
#define FWD5_MIN_BLOCKS 4
#else
#define FWD6_MIN_BLOCKS 6
#define FWD5_MIN_BLOCKS 5
#endif
