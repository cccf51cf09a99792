// A fused backward kernel's walk down the columns of one task's weight matrix: the batched loads that
// keep bytes in flight, the row splits that share a column slab between blocks, and the update or
// adjoint update of each weight on the way (linear.cu, lstm.cu).
#pragma once

#include "common.cuh"

// ---- a thread's walk down one column of a weight matrix in the fused backward kernels ----
// A load cannot move above a store into the same buffer, so a plain loop that reads W[r], then
// writes it, keeps one load in flight per warp and leaves most of the memory bandwidth idle.
// These walks issue the loads of a batch of rows before any of its stores. The sums run in row
// order as in the plain loop, so the results are the same bits.
#define ROW_BATCH 8
#define TANGENT_ROW_BATCH 4

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
                                             int slab, int slabs, int col, int width, float* partial, int* arrivals) {
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

// Column walk of a Hessian-vector step, same rows as column_dot_update, the parameters w and the
// direction v only read (lambda, lrGrad laid out alike): s += W[r] d[r], sT += W[r] dT[r] + V[r] d[r], and
// the adjoint update of element r with g = d[r] xc and H v = dT[r] xc + d[r] xTc.
__device__ __forceinline__ void column_dot_adjoint(const float* w, const float* v, float* lambda, float* lrGrad,
                                                   int lrGradOn, double alpha, int stride, const float* d,
                                                   const float* dT, int first, int step, int n, float xc, float xTc,
                                                   float* s, float* sT) {
    int jump = step * stride;
    bool vIsLambda = v == lambda;  // a fixed rate: v is lambda, read once
    float sum = *s, sumT = *sT;
    int r = first;
    for (; r + (TANGENT_ROW_BATCH - 1) * step < n; r += TANGENT_ROW_BATCH * step) {
        int idx = r * stride;
        float wv[TANGENT_ROW_BATCH], vv[TANGENT_ROW_BATCH], lv[TANGENT_ROW_BATCH], lrGradv[TANGENT_ROW_BATCH];
#pragma unroll
        for (int u = 0; u < TANGENT_ROW_BATCH; u++) {
            wv[u] = w[idx + u * jump];
            vv[u] = v[idx + u * jump];
            lv[u] = vIsLambda ? vv[u] : lambda[idx + u * jump];
            lrGradv[u] = lrGradOn ? lrGrad[idx + u * jump] : 0.f;
        }
#pragma unroll
        for (int u = 0; u < TANGENT_ROW_BATCH; u++) {
            float dr = d[r + u * step], dTr = dT[r + u * step];
            sum += wv[u] * dr;
            sumT += wv[u] * dTr + vv[u] * dr;
            float g = dr * xc;
            if (lrGradOn) lrGrad[idx + u * jump] = rate_grad_value(lrGradv[u], g, lv[u]);
            lambda[idx + u * jump] = adjoint_value(g, dTr * xc + dr * xTc, lv[u], alpha);
        }
    }
    for (; r < n; r += step) {
        int idx = r * stride;
        float wr = w[idx], vr = v[idx], dr = d[r], dTr = dT[r];
        sum += wr * dr;
        sumT += wr * dTr + vr * dr;
        adjoint_update(lambda, lrGrad, lrGradOn, alpha, idx, dr * xc, dTr * xc + dr * xTc);
    }
    *s = sum;
    *sT = sumT;
}
