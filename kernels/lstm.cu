// lstm_block(D): z = [h ; x] (2D, h a parameter); gates f, i, o = sigmoid(W_k z + b_k), u = W_u z + b_u;
// c = i * tanh(u) + f * h; y = o * c.
//
// Parameters of one task from hOff: h [D], then for each gate k = f, i, o, u: W_k [D x 2D] row-major and
// b_k [D], so gate k's weight starts at hOff + D + k * (2D*D + D). Activations, [B x ...]: x, y, c [B x D];
// z [B x 2D] (z's h half keeps the old h for the backward, which updates h); act [B x 4D] = f, i, o, tanh u.
#include "layernorm.cuh"
#include "column.cuh"
#include "activation.cuh"

#define LSTM_FWD_WARPS 8

__device__ __forceinline__ size_t lstm_gate_w(int hOff, int D, int k) {
    return (size_t)hOff + D + (size_t)k * (2 * (size_t)D * D + D);
}

__device__ __forceinline__ void lstm_block_forward_units(const float* p, int P, int hOff, int D, const float* x,
                                                         float* z, float* act, float* c, float* y) {
    int b = blockIdx.y;
    int j = blockIdx.x * LSTM_FWD_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (j >= D) return;  // the whole warp leaves together
    const float* task = TASK_ROW(p, b, P);
    const float* h = task + hOff;
    const float* xb = x + (size_t)b * D;
    const float* g0 = task + lstm_gate_w(hOff, D, 0);
    const float* g1 = task + lstm_gate_w(hOff, D, 1);
    const float* g2 = task + lstm_gate_w(hOff, D, 2);
    const float* g3 = task + lstm_gate_w(hOff, D, 3);
    const float* w0 = g0 + (size_t)j * 2 * D;
    const float* w1 = g1 + (size_t)j * 2 * D;
    const float* w2 = g2 + (size_t)j * 2 * D;
    const float* w3 = g3 + (size_t)j * 2 * D;
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    for (int i = lane; i < 2 * D; i += 32) {
        float zi = i < D ? h[i] : xb[i - D];
        s0 += w0[i] * zi;
        s1 += w1[i] * zi;
        s2 += w2[i] * zi;
        s3 += w3[i] * zi;
    }
    s0 = warp_sum(s0);
    s1 = warp_sum(s1);
    s2 = warp_sum(s2);
    s3 = warp_sum(s3);
    if (lane == 0) {
        size_t bias = 2 * (size_t)D * D + j;  // a gate's bias follows its weight
        float f = sigmoid_f(s0 + g0[bias]);
        float ig = sigmoid_f(s1 + g1[bias]);
        float o = sigmoid_f(s2 + g2[bias]);
        float u = tanhf(s3 + g3[bias]);
        float hj = h[j];
        float cj = ig * u + f * hj;
        float* ab = act + (size_t)b * 4 * D;
        ab[j] = f;
        ab[D + j] = ig;
        ab[2 * D + j] = o;
        ab[3 * D + j] = u;
        c[(size_t)b * D + j] = cj;
        y[(size_t)b * D + j] = o * cj;
        z[(size_t)b * 2 * D + j] = hj;
        z[(size_t)b * 2 * D + D + j] = xb[j];
    }
}

// Forward: one warp per hidden unit j computes row j of all four gates (the four products share the
// read of z), then lane 0 applies the activations and the cell. grid (ceil(D / 8), B), block 256.
// With lnArrivals (else null), the layernorm that follows runs in the last of each task's blocks, on
// y (layernorm_forward_tail): lnG, lnB its parameters, lnStats [B x 2] and lnY [B x D] its outputs.
// Bounded to 48 registers (5 blocks of 256 per SM, as before the tail; 56 unbounded), without spills.
extern "C" __global__ void __launch_bounds__(256, FWD5_MIN_BLOCKS)
    lstm_block_forward(const float* p, int P, int hOff, int D, const float* x, float* z, float* act, float* c, float* y,
                       int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY) {
    lstm_block_forward_units(p, P, hOff, D, x, z, act, c, y);
    layernorm_forward_tail(lnArrivals, gridDim.x, p, P, lnG, lnB, D, y, lnStats, lnY);
}

// The gradient of gate k's pre-activation at unit r, from the saved activations.
__device__ __forceinline__ float lstm_gate_delta(int k, int r, int D, const float* zb, const float* ab, const float* cb,
                                                 const float* dyb) {
    float f = ab[r], ig = ab[D + r], o = ab[2 * D + r], u = ab[3 * D + r];
    float dyr = dyb[r];
    float dc = dyr * o;
    switch (k) {
        case 0:
            return dc * zb[r] * f * (1.f - f);  // dF = dc * h
        case 1:
            return dc * u * ig * (1.f - ig);  // dI = dc * tanh u
        case 2:
            return dyr * cb[r] * o * (1.f - o);  // dO = dy * c
        default:
            return dc * ig * (1.f - u * u);  // d(tanh u) = dc * i
    }
}

#define LSTM_BWD_COLS 32
#define LSTM_BWD_ROWS 8
#define LSTM_BWD_TILE 256

// Backward fused with the update, one pass over the four gate matrices, as linear_backward_update:
// dz = sum_k W_k^T da_k (old W) plus the direct path dc * f into the h half; W_k += scale * da_k z^T,
// b_k += scale * da_k, h += scale * dz[:D], dx = dz[D:].
// Thread mapping: block (32, 8), a 32-column slab of z per block, 8 row groups; grid (ceil(2D / 32) *
// splits, B), block x slab x % slabs of split x / slabs: the four gates' rows, 4D in all in gate order,
// are cut into splits contiguous ranges (split_total in common.cuh). Each block recomputes the gate deltas
// of a tile of at most 256 rows of its range into shared memory from the saved activations (cheap next
// to the weights). h[col] is written only by the block that puts column col's total together, and
// nothing in this kernel reads h from the parameters. With lnArrivals (else null), the layernorm before
// this block (its output is x) runs its backward in the last block of each task to finish dx
// (layernorm_backward_tail): lnG, lnB its parameters, lnX, lnStats its input and statistics, lnDx [B x D].
extern "C" __global__ void __launch_bounds__(LSTM_BWD_ROWS* LSTM_BWD_COLS, BWD_MIN_BLOCKS)
    lstm_block_backward_update(float* p, int P, float scale, float* acc, int accOn, int hOff, int D, const float* z,
                               const float* act, const float* c, const float* dy, float* dx, int splits, float* partial,
                               int* arrivals, int* lnArrivals, int lnG, int lnB, const float* lnX, const float* lnStats,
                               float* lnDx) {
    __shared__ float d[LSTM_BWD_TILE];
    __shared__ float part[LSTM_BWD_ROWS][LSTM_BWD_COLS];
    int b = blockIdx.y, tx = threadIdx.x, ty = threadIdx.y;
    int tid = ty * LSTM_BWD_COLS + tx;
    int slabs = gridDim.x / splits, slab = blockIdx.x % slabs, sp = blockIdx.x / slabs;
    int col = slab * LSTM_BWD_COLS + tx;
    int width = 2 * D;
    size_t taskBase = (size_t)b * P;
    const float* zb = z + (size_t)b * width;
    const float* ab = act + (size_t)b * 4 * D;
    const float* cb = c + (size_t)b * D;
    const float* dyb = dy + (size_t)b * D;
    float zc = col < width ? zb[col] : 0.f;
    float s = 0.f;
    int lo = split_row(4 * D, splits, sp), hi = split_row(4 * D, splits, sp + 1);
    for (int k = lo / D; k < 4 && k * D < hi; k++) {
        size_t w = taskBase + lstm_gate_w(hOff, D, k);
        size_t bias = w + (size_t)width * D;
        int end = min(D, hi - k * D);
        for (int r0 = max(0, lo - k * D); r0 < end; r0 += LSTM_BWD_TILE) {
            int n = min(LSTM_BWD_TILE, end - r0);
            __syncthreads();  // the previous tile's deltas are no longer read
            for (int q = tid; q < n; q += LSTM_BWD_ROWS * LSTM_BWD_COLS)
                d[q] = lstm_gate_delta(k, r0 + q, D, zb, ab, cb, dyb);
            __syncthreads();
            size_t wAt = w + (size_t)r0 * width + col;  // row r0 of this column
            if (col < width)
                s = column_dot_update(p + wAt, acc + wAt, width, d, ty, LSTM_BWD_ROWS, n, zc, scale, accOn, s);
            if (slab == 0) {
                for (int q = tid; q < n; q += LSTM_BWD_ROWS * LSTM_BWD_COLS) {
                    size_t idx = bias + r0 + q;
                    apply_grad(p, acc, idx, p[idx], d[q], scale, accOn);
                }
            }
        }
    }
    float t = s;
    if (!column_total(&t, nullptr, &part[0][0], nullptr, splits, sp, slab, slabs, col, width, partial, arrivals))
        return;
    if (ty == 0 && col < D) {
        t += dyb[col] * ab[2 * D + col] * ab[col];  // c <- f * h: dc * f
        size_t idx = taskBase + hOff + col;
        apply_grad(p, acc, idx, p[idx], t, scale, accOn);
    } else if (ty == 0 && col < width) {
        dx[(size_t)b * D + col - D] = t;
    }
    // The slabs' final blocks, one per slab, count towards the layernorm before this block.
    layernorm_backward_tail(lnArrivals, slabs, p, P, scale, acc, accOn, lnG, lnB, D, lnX, lnStats, dx, lnDx);
}

// ---- tangents, for MAML's Hessian-vector products; v (the direction), lambda, lrGrad are [B x P] like p ----
// Extra activations, [B x ...]: zT [B x 2D] = [v_h ; xT], aT [B x 4D] the gates' pre-activation
// tangents (f, i, o, u), cT [B x D].

// Forward with its tangent, one pass over the four gates' W and V: everything lstm_block_forward
// writes, and aT_k = W_k zT + V_k z + v_bk, the tangents of the activations, of c and of y.
// Mapping as lstm_block_forward: one warp per hidden unit j. grid (ceil(D / 8), B), block 256.
extern "C" __global__ void lstm_block_forward_tangent(const float* p, const float* v, int P, int hOff, int D,
                                                      const float* x, const float* xT, float* z, float* act, float* c,
                                                      float* y, float* zT, float* aT, float* cT, float* yT) {
    int b = blockIdx.y;
    int j = blockIdx.x * LSTM_FWD_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (j >= D) return;  // the whole warp leaves together
    const float* task = TASK_ROW(p, b, P);
    const float* dir = TASK_ROW(v, b, P);
    const float* xb = x + (size_t)b * D;
    const float* xTb = xT + (size_t)b * D;
    float s[4], sT[4];
    for (int k = 0; k < 4; k++) {
        size_t w = lstm_gate_w(hOff, D, k) + (size_t)j * 2 * D;
        float acc = 0.f, accT = 0.f;
        for (int i = lane; i < 2 * D; i += 32) {
            float zi = i < D ? task[hOff + i] : xb[i - D];
            float zTi = i < D ? dir[hOff + i] : xTb[i - D];
            float wi = task[w + i];
            acc += wi * zi;
            accT += wi * zTi + dir[w + i] * zi;
        }
        s[k] = warp_sum(acc);
        sT[k] = warp_sum(accT);
    }
    if (lane == 0) {
        size_t bias = 2 * (size_t)D * D + j;  // a gate's bias follows its weight
        float pre[4];
        for (int k = 0; k < 4; k++) pre[k] = sT[k] + dir[lstm_gate_w(hOff, D, k) + bias];
        float f = sigmoid_f(s[0] + task[lstm_gate_w(hOff, D, 0) + bias]);
        float ig = sigmoid_f(s[1] + task[lstm_gate_w(hOff, D, 1) + bias]);
        float o = sigmoid_f(s[2] + task[lstm_gate_w(hOff, D, 2) + bias]);
        float u = tanhf(s[3] + task[lstm_gate_w(hOff, D, 3) + bias]);
        float hj = task[hOff + j], hT = dir[hOff + j];
        float cj = ig * u + f * hj;
        float fT = f * (1.f - f) * pre[0], iT = ig * (1.f - ig) * pre[1], oT = o * (1.f - o) * pre[2];
        float uT = (1.f - u * u) * pre[3];
        float cTj = iT * u + ig * uT + fT * hj + f * hT;
        float* ab = act + (size_t)b * 4 * D;
        float* aTb = aT + (size_t)b * 4 * D;
        ab[j] = f;
        ab[D + j] = ig;
        ab[2 * D + j] = o;
        ab[3 * D + j] = u;
        for (int k = 0; k < 4; k++) aTb[k * D + j] = pre[k];
        c[(size_t)b * D + j] = cj;
        y[(size_t)b * D + j] = o * cj;
        cT[(size_t)b * D + j] = cTj;
        yT[(size_t)b * D + j] = oT * cj + o * cTj;
        z[(size_t)b * 2 * D + j] = hj;
        z[(size_t)b * 2 * D + D + j] = xb[j];
        zT[(size_t)b * 2 * D + j] = hT;
        zT[(size_t)b * 2 * D + D + j] = xTb[j];
    }
}

// Gate k's pre-activation gradient at unit r and its tangent, from the saved activations.
__device__ __forceinline__ void lstm_gate_delta_tangent(int k, int r, int D, const float* zb, const float* zTb,
                                                        const float* ab, const float* aTb, const float* cb,
                                                        const float* cTb, const float* dyb, const float* dyTb, float* d,
                                                        float* dT) {
    float f = ab[r], ig = ab[D + r], o = ab[2 * D + r], u = ab[3 * D + r];
    float f1 = f * (1.f - f), i1 = ig * (1.f - ig), o1 = o * (1.f - o), u1 = 1.f - u * u;
    float dyr = dyb[r], dyTr = dyTb[r];
    float oT = o1 * aTb[2 * D + r];
    float dc = dyr * o, dcT = dyTr * o + dyr * oT;
    switch (k) {
        case 0: {  // dF = dc * h
            float h = zb[r], hT = zTb[r];
            *d = dc * h * f1;
            *dT = (dcT * h + dc * hT) * f1 + dc * h * f1 * (1.f - 2.f * f) * aTb[r];
            return;
        }
        case 1: {  // dI = dc * tanh u
            float uT = u1 * aTb[3 * D + r];
            *d = dc * u * i1;
            *dT = (dcT * u + dc * uT) * i1 + dc * u * i1 * (1.f - 2.f * ig) * aTb[D + r];
            return;
        }
        case 2: {  // dO = dy * c
            float cr = cb[r];
            *d = dyr * cr * o1;
            *dT = (dyTr * cr + dyr * cTb[r]) * o1 + dyr * cr * o1 * (1.f - 2.f * o) * aTb[2 * D + r];
            return;
        }
        default: {  // d(tanh u) = dc * i
            float iT = i1 * aTb[D + r];
            *d = dc * ig * u1;
            *dT = (dcT * ig + dc * iT) * u1 - dc * ig * 2.f * u * u1 * aTb[3 * D + r];
            return;
        }
    }
}

// Backward tangent with the adjoint update, one pass over the four gates' W and V, mapping as
// lstm_block_backward_update (block (32, 8), grid (ceil(2D / 32) * splits, B), the same row splits, tiles of
// at most 256 rows of both deltas in shared memory): dz = sum_k W_k^T da_k + [dc f ; 0], dzT = sum_k (W_k^T daT_k + V_k^T da_k)
// + [dcT f + dc fT ; 0]; dx = dz[D:], dxT = dzT[D:]; the adjoint update with gW_k = da_k z^T, gb_k = da_k,
// (H v)W_k = daT_k z^T + da_k zT^T, (H v)b_k = daT_k, g_h = dz[:D], (H v)_h = dzT[:D]. The parameters are not written.
extern "C" __global__ void __launch_bounds__(LSTM_BWD_ROWS* LSTM_BWD_COLS, BWD_MIN_BLOCKS)
    lstm_block_backward_tangent(const float* p, const float* v, int P, float* lambda, float* lrGrad, int lrGradOn,
                                double alpha, int hOff, int D, const float* z, const float* zT, const float* act,
                                const float* aT, const float* c, const float* cT, const float* dy, const float* dyT,
                                float* dx, float* dxT, int splits, float* partial, int* arrivals) {
    __shared__ float d[LSTM_BWD_TILE];
    __shared__ float dT[LSTM_BWD_TILE];
    __shared__ float part[LSTM_BWD_ROWS][LSTM_BWD_COLS];
    __shared__ float partT[LSTM_BWD_ROWS][LSTM_BWD_COLS];
    int b = blockIdx.y, tx = threadIdx.x, ty = threadIdx.y;
    int tid = ty * LSTM_BWD_COLS + tx;
    int slabs = gridDim.x / splits, slab = blockIdx.x % slabs, sp = blockIdx.x / slabs;
    int col = slab * LSTM_BWD_COLS + tx;
    int width = 2 * D;
    size_t taskBase = (size_t)b * P;
    const float* zb = z + (size_t)b * width;
    const float* zTb = zT + (size_t)b * width;
    const float* ab = act + (size_t)b * 4 * D;
    const float* aTb = aT + (size_t)b * 4 * D;
    const float* cb = c + (size_t)b * D;
    const float* cTb = cT + (size_t)b * D;
    const float* dyb = dy + (size_t)b * D;
    const float* dyTb = dyT + (size_t)b * D;
    float zc = col < width ? zb[col] : 0.f;
    float zTc = col < width ? zTb[col] : 0.f;
    float s = 0.f, sT = 0.f;
    int lo = split_row(4 * D, splits, sp), hi = split_row(4 * D, splits, sp + 1);
    for (int k = lo / D; k < 4 && k * D < hi; k++) {
        size_t w = taskBase + lstm_gate_w(hOff, D, k);
        size_t bias = w + (size_t)width * D;
        int end = min(D, hi - k * D);
        for (int r0 = max(0, lo - k * D); r0 < end; r0 += LSTM_BWD_TILE) {
            int n = min(LSTM_BWD_TILE, end - r0);
            __syncthreads();  // the previous tile's deltas are no longer read
            for (int q = tid; q < n; q += LSTM_BWD_ROWS * LSTM_BWD_COLS)
                lstm_gate_delta_tangent(k, r0 + q, D, zb, zTb, ab, aTb, cb, cTb, dyb, dyTb, &d[q], &dT[q]);
            __syncthreads();
            size_t wAt = w + (size_t)r0 * width + col;  // row r0 of this column
            if (col < width)
                column_dot_adjoint(p + wAt, v + wAt, lambda + wAt, lrGrad + wAt, lrGradOn, alpha, width, d, dT, ty,
                                   LSTM_BWD_ROWS, n, zc, zTc, &s, &sT);
            if (slab == 0) {
                for (int q = tid; q < n; q += LSTM_BWD_ROWS * LSTM_BWD_COLS)
                    adjoint_update(lambda, lrGrad, lrGradOn, alpha, bias + r0 + q, d[q], dT[q]);
            }
        }
    }
    float t = s, tT = sT;
    if (!column_total(&t, &tT, &part[0][0], &partT[0][0], splits, sp, slab, slabs, col, width, partial, arrivals) ||
        ty != 0 || col >= width)
        return;
    if (col < D) {
        float f = ab[col], o = ab[2 * D + col];
        float fT = f * (1.f - f) * aTb[col], oT = o * (1.f - o) * aTb[2 * D + col];
        float dc = dyb[col] * o, dcT = dyTb[col] * o + dyb[col] * oT;
        t += dc * f;  // c <- f * h
        tT += dcT * f + dc * fT;
        adjoint_update(lambda, lrGrad, lrGradOn, alpha, taskBase + hOff + col, t, tT);
    } else {
        dx[(size_t)b * D + col - D] = t;
        dxT[(size_t)b * D + col - D] = tT;
    }
}
