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

// The logistic sigmoid without overflow for large |x| (as the CPU engine computes it).
__device__ __forceinline__ float sigmoid_f(float x) {
    if (x >= 0.f) return 1.f / (1.f + expf(-x));
    float e = expf(x);
    return e / (1.f + e);
}

// The elementwise activations (activation.cu, and fused into a linear in linear.cu).
#define ACT_RELU 0
#define ACT_TANH 1
#define ACT_SIGMOID 2

__device__ __forceinline__ float activation_value(int kind, float v) {
    return kind == ACT_RELU ? (v > 0.f ? v : 0.f) : kind == ACT_TANH ? tanhf(v) : sigmoid_f(v);
}

// The first and second derivatives of an activation at x with output y.
__device__ __forceinline__ void activation_derivs(int kind, float x, float y, float* f1, float* f2) {
    if (kind == ACT_RELU) {
        *f1 = x > 0.f ? 1.f : 0.f;
        *f2 = 0.f;
    } else if (kind == ACT_TANH) {
        *f1 = 1.f - y * y;
        *f2 = -2.f * y * *f1;
    } else {
        *f1 = y * (1.f - y);
        *f2 = *f1 * (1.f - 2.f * y);
    }
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

// ---- a thread's walk down one column of a weight matrix in the fused backward kernels ----
// A load cannot move above a store into the same buffer, so a plain loop that reads W[r], then
// writes it, keeps one load in flight per warp and leaves most of the memory bandwidth idle.
// These walks issue the loads of a batch of rows before any of its stores. The sums run in row
// order as in the plain loop, so the results are the same bits.
#define ROW_BATCH 8
#define TANGENT_ROW_BATCH 4
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

// ---- row splits: the rows of one column slab of a fused backward kernel shared by several blocks ----
// A backward block owns a slab of columns of one task's matrix and walks all its rows; at B = 50 an
// lstm_block's 16 slabs per task make 800 blocks, 1.5 waves of the 4 x SMs that fit at once, and a
// half-empty last wave (or, at small B, too few blocks to fill the GPU). With splits > 1, block x of
// a launch is slab x % slabs and split x / slabs, each split walks its own contiguous range of rows,
// and the input gradient, a sum over all rows, is put together by the slab's last block.

// First row of split z of n rows cut into splits contiguous ranges, each starting on a multiple of
// SPLIT_ALIGN rows: the rows a block's 8 row groups walk in one batch of 8, so a split's tiles end in a
// remainder only at the end of the matrix (and an lstm_block split starts on a whole gate's row where
// D is a multiple of 64).
#define SPLIT_ALIGN 64
__device__ __forceinline__ int split_row(int n, int splits, int z) {
    int r = (int)((long long)n * z / splits);
    return min(n, (r + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN);
}

// Called by every thread of the block with t (and t2, for the Hessian-vector kernels' second sum, or
// null), the block's column sums for column col (threads with threadIdx.y == 0 and col < width hold
// them). With one split it returns true at once. Otherwise each block stores its sums in partial
// [splits x sums x B x width], and the last of the slab's blocks to arrive (arrivals [B x slabs] counts
// them, and that block sets it back to 0 for the next launch) returns true with the totals in t and
// t2, added in split order, so which block comes last does not change the bits; the others return false.
__device__ __forceinline__ bool split_total(float* t, float* t2, int splits, int z, int slab, int slabs, int col,
                                            int width, float* partial, int* arrivals) {
    if (splits == 1) return true;
    int b = blockIdx.y, B = gridDim.y, sums = t2 ? 2 : 1;
    size_t plane = (size_t)B * width;  // one sum of one split
    float* mine = partial + (size_t)z * sums * plane + (size_t)b * width + col;
    bool holder = threadIdx.y == 0 && col < width;
    if (holder) {
        mine[0] = *t;
        if (t2) mine[plane] = *t2;
    }
    if (!last_arrival(arrivals + (size_t)b * slabs + slab, splits)) return false;
    if (holder) {
        const volatile float* q = partial + (size_t)b * width + col;
        float sum = 0.f, sum2 = 0.f;
        for (int k = 0; k < splits; k++) {
            sum += q[(size_t)k * sums * plane];
            if (t2) sum2 += q[((size_t)k * sums + 1) * plane];
        }
        *t = sum;
        if (t2) *t2 = sum2;
    }
    return true;
}

// The end of a fused backward kernel: the block's column sums of s (and s2, or null) over its
// blockDim.y row groups, added in row-group order through part (and part2): blockDim.y x blockDim.x
// floats of shared memory each; then the splits' total (split_total). Called by every thread; true
// where the totals are final, held in s and s2 by the threads with threadIdx.y == 0 and col < width.
__device__ __forceinline__ bool column_total(float* s, float* s2, float* part, float* part2, int splits, int z,
                                             int slab, int slabs, int col, int width, float* partial,
                                             int* arrivals) {
    int tx = threadIdx.x, ty = threadIdx.y, cols = blockDim.x;
    part[ty * cols + tx] = *s;
    if (s2) part2[ty * cols + tx] = *s2;
    __syncthreads();
    float t = 0.f, t2 = 0.f;
    if (ty == 0 && col < width) {
        for (int r = 0; r < (int)blockDim.y; r++) {
            t += part[r * cols + tx];
            if (s2) t2 += part2[r * cols + tx];
        }
    }
    *s = t;
    if (s2) *s2 = t2;
    return split_total(s, s2, splits, z, slab, slabs, col, width, partial, arrivals);
}

// Column walk fused with the update rule: over tile rows r = first, first + step, ... < n, with the
// element of row r at w[r * stride] (acc laid out alike) and its delta d[r] (shared memory), returns
// s + sum_r W[r] d[r] from the old W, and applies W[r] += scale * d[r] xc (acc += d[r] xc with accOn).
// Offsets stay within one task's parameters, so they fit an int.
__device__ __forceinline__ float column_dot_update(float* w, float* acc, int stride, const float* d, int first,
                                                   int step, int n, float xc, float scale, int accOn, float s) {
    int jump = step * stride;
    int r = first;
    for (; r + (ROW_BATCH - 1) * step < n; r += ROW_BATCH * step) {
        int idx = r * stride;
        float wv[ROW_BATCH], a[ROW_BATCH];
#pragma unroll
        for (int u = 0; u < ROW_BATCH; u++) {
            wv[u] = w[idx + u * jump];
            a[u] = accOn ? acc[idx + u * jump] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < ROW_BATCH; u++) {
            float dr = d[r + u * step], grad = dr * xc;
            s += wv[u] * dr;
            if (scale != 0.f) w[idx + u * jump] = wv[u] + scale * grad;
            if (accOn) acc[idx + u * jump] = a[u] + grad;
        }
    }
    if (r < n) {  // the tile's last rows: one predicated batch, its loads too before its stores
        int idx = r * stride;
        float wv[ROW_BATCH], a[ROW_BATCH];
#pragma unroll
        for (int u = 0; u < ROW_BATCH; u++) {
            bool in = r + u * step < n;
            wv[u] = in ? w[idx + u * jump] : 0.f;
            a[u] = in && accOn ? acc[idx + u * jump] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < ROW_BATCH; u++) {
            if (r + u * step < n) {
                float dr = d[r + u * step], grad = dr * xc;
                s += wv[u] * dr;
                if (scale != 0.f) w[idx + u * jump] = wv[u] + scale * grad;
                if (accOn) acc[idx + u * jump] = a[u] + grad;
            }
        }
    }
    return s;
}

// MAML's adjoint update of one parameter element, lambda = g + lambda - alpha H v (in float64, stored
// in float32), from the element's gradient g and Hessian-vector product hv at the step. It is folded
// into the backward tangent kernels: within one step every element gets exactly one term of each (each
// weight is used once per forward), and the thread that forms them is the only one that reads the
// element of v in that kernel (and no later kernel of the step reads it), so it can overwrite lambda
// (which is v itself for a fixed rate) at once.
// With learned rates (rgOn; v = rates * lambda, alpha 1) the rates' gradient first takes
// rg -= g * lambda, with lambda still lambda_{t+1}.
__device__ __forceinline__ float adjoint_value(float g, float hv, double lambda, double alpha) {
    return (float)((double)g + lambda - alpha * (double)hv);
}

__device__ __forceinline__ float rate_grad_value(float rg, float g, double lambda) {
    return (float)((double)rg - (double)g * lambda);
}

__device__ __forceinline__ void adjoint_update(float* lambda, float* rg, int rgOn, double alpha, size_t idx,
                                               float g, float hv) {
    double l = lambda[idx];
    if (rgOn) rg[idx] = rate_grad_value(rg[idx], g, l);
    lambda[idx] = adjoint_value(g, hv, l, alpha);
}

// Column walk of a Hessian-vector step, same rows as column_dot_update, the parameters w and the
// direction v only read (lambda, rg laid out alike): s += W[r] d[r], sT += W[r] dT[r] + V[r] d[r], and
// the adjoint update of element r with g = d[r] xc and H v = dT[r] xc + d[r] xTc.
__device__ __forceinline__ void column_dot_adjoint(const float* w, const float* v, float* lambda, float* rg,
                                                   int rgOn, double alpha, int stride, const float* d,
                                                   const float* dT, int first, int step, int n, float xc,
                                                   float xTc, float* s, float* sT) {
    int jump = step * stride;
    bool vIsLambda = v == lambda;  // a fixed rate: v is lambda, read once
    float sum = *s, sumT = *sT;
    int r = first;
    for (; r + (TANGENT_ROW_BATCH - 1) * step < n; r += TANGENT_ROW_BATCH * step) {
        int idx = r * stride;
        float wv[TANGENT_ROW_BATCH], vv[TANGENT_ROW_BATCH], lv[TANGENT_ROW_BATCH], rgv[TANGENT_ROW_BATCH];
#pragma unroll
        for (int u = 0; u < TANGENT_ROW_BATCH; u++) {
            wv[u] = w[idx + u * jump];
            vv[u] = v[idx + u * jump];
            lv[u] = vIsLambda ? vv[u] : lambda[idx + u * jump];
            rgv[u] = rgOn ? rg[idx + u * jump] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < TANGENT_ROW_BATCH; u++) {
            float dr = d[r + u * step], dTr = dT[r + u * step];
            sum += wv[u] * dr;
            sumT += wv[u] * dTr + vv[u] * dr;
            float g = dr * xc;
            if (rgOn) rg[idx + u * jump] = rate_grad_value(rgv[u], g, lv[u]);
            lambda[idx + u * jump] = adjoint_value(g, dTr * xc + dr * xTc, lv[u], alpha);
        }
    }
    for (; r < n; r += step) {
        int idx = r * stride;
        float wr = w[idx], vr = v[idx], dr = d[r], dTr = dT[r];
        sum += wr * dr;
        sumT += wr * dTr + vr * dr;
        adjoint_update(lambda, rg, rgOn, alpha, idx, dr * xc, dTr * xc + dr * xTc);
    }
    *s = sum;
    *sT = sumT;
}
