// linear(in, out): a = W x + b; siren(in, out): sin(a); a linear followed by relu, tanh or sigmoid, fused:
// f(a); and linear(in, 2d) followed by gated, fused: y = a[:d] * sigmoid(a[d:]). Each task has its own W, so the forward is a batched matrix-vector
// product and memory bound: every kernel reads each task's W exactly once.
//
// W is [out x in] row-major at p + b * P + wOff (PyTorch's layout), the bias [out] at bOff.
// x is [B x in], y [B x out] ([B x out / 2] when gated), and the pre-activation pre [B x out]
// (siren, the activations, gated: the backward's f'(a) and sigmoid(c) are recomputed from it, not stored).
#include "embed.cuh"
#include "layernorm.cuh"
#include "loss.cuh"
#include "column.cuh"
#include "activation.cuh"

#define LIN_FWD_WARPS 8
// The widest embedding a linear_forward gathers into shared memory itself (StepPlan folds no wider one).
#define LIN_EMBED_MAX 1024

// What follows the matrix product (mode): nothing, sin (siren), the gated activation, or an elementwise
// activation (LIN_ACT + its ACT_ kind).
#define LIN_PLAIN 0
#define LIN_SINE 1
#define LIN_GATED 2
#define LIN_ACT 3

// Modes that apply a function f to each a and keep a in pre: siren's sin and the activations.
__device__ __forceinline__ bool lin_elementwise(int mode) {
    return mode == LIN_SINE || mode >= LIN_ACT;
}

__device__ __forceinline__ float lin_f(int mode, float a) {
    return mode == LIN_SINE ? sinf(a) : activation_value(mode - LIN_ACT, a);
}

// f'(a) and f''(a) of an elementwise mode.
__device__ __forceinline__ void lin_derivs(int mode, float a, float* f1, float* f2) {
    if (mode == LIN_SINE) {
        *f1 = cosf(a);
        *f2 = -sinf(a);
    } else {
        activation_derivs(mode - LIN_ACT, a, activation_value(mode - LIN_ACT, a), f1, f2);
    }
}

// Forward: one warp per output row, lanes stride along the row (coalesced), then a warp sum.
// grid (ceil(out / 8), B), block 256. The elementwise modes also store the pre-activation in pre.
// LIN_GATED: grid (ceil(d / 8), B) with d = out / 2; warp r computes both rows r (a) and d + r (c),
// so the product a * sigmoid(c) needs no second kernel and no exchange between warps; both go to pre.
__device__ __forceinline__ void linear_forward_rows(const float* p, int P, int wOff, int bOff, int in, int out,
                                                    const float* xb, float* y, float* pre, int mode) {
    int b = blockIdx.y;
    int row = blockIdx.x * LIN_FWD_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int rows = mode == LIN_GATED ? out / 2 : out;
    if (row >= rows) return;  // the whole warp leaves together
    const float* task = TASK_ROW(p, b, P);
    const float* w = task + wOff + (size_t)row * in;
    if (mode == LIN_GATED) {
        const float* wc = w + (size_t)rows * in;
        float sa = 0.f, sc = 0.f;
        for (int i = lane; i < in; i += 32) {
            float xi = xb[i];
            sa += w[i] * xi;
            sc += wc[i] * xi;
        }
        sa = warp_sum(sa);
        sc = warp_sum(sc);
        if (lane == 0) {
            float a = sa + task[bOff + row];
            float c = sc + task[bOff + rows + row];
            size_t o = (size_t)b * out + row;
            pre[o] = a;
            pre[o + rows] = c;
            y[(size_t)b * rows + row] = a * sigmoid_f(c);
        }
        return;
    }
    float s = 0.f;
    for (int i = lane; i < in; i += 32) s += w[i] * xb[i];
    s = warp_sum(s);
    if (lane == 0) {
        float a = s + task[bOff + row];
        size_t o = (size_t)b * out + row;
        if (lin_elementwise(mode)) {
            pre[o] = a;
            y[o] = lin_f(mode, a);
        } else {
            y[o] = a;
        }
    }
}

extern "C" __global__ void linear_forward(const float* p, int P, int wOff, int bOff, int in, int out, const float* x,
                                          float* y, float* pre, int mode) {
    linear_forward_rows(p, P, wOff, bOff, in, out, x + (size_t)blockIdx.y * in, y, pre, mode);
}

// linear_forward with small layers folded in (StepPlan.foldSmallLayers), each off when its pointer is null.
// A kernel of its own so that linear_forward keeps its registers (32; the layernorm tail takes more, and
// the fewer resident warps, the fewer loads in flight).
// - emMeta: the embedding before this linear (in <= LIN_EMBED_MAX); each block gathers the input from the
//   task's tables into shared memory (emMeta, emTables, xs, inDim, step as embed_gather_forward's), and
//   block 0 of each task also writes it to x, the embedding's output, which the backward reads;
// - lnArrivals: the layernorm that follows runs in the last of each task's blocks, on y
//   (layernorm_forward_tail): lnG, lnB its parameters, lnStats [B x 2] and lnY [B x rows] its outputs.
// Bounded to 40 registers (6 blocks of 256 per SM; 48 unbounded), which ptxas meets without spills.
extern "C" __global__ void __launch_bounds__(256, FWD6_MIN_BLOCKS)
    linear_forward_folded(const float* p, int P, int wOff, int bOff, int in, int out, float* x, float* y, float* pre,
                          int mode, const int* step, const int* emMeta, int emTables, const int* xs, int inDim,
                          int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY) {
    __shared__ float gathered[LIN_EMBED_MAX];
    int b = blockIdx.y;
    float* xb = x + (size_t)b * in;
    if (emMeta) {
        const float* task = TASK_ROW(p, b, P);
        for (int i = threadIdx.x; i < in; i += blockDim.x) {
            float v = task[embed_element(emMeta, emTables, i, xs, inDim, step, gridDim.y, b)];
            gathered[i] = v;
            if (blockIdx.x == 0) xb[i] = v;
        }
        __syncthreads();
    }
    linear_forward_rows(p, P, wOff, bOff, in, out, emMeta ? gathered : xb, y, pre, mode);
    layernorm_forward_tail(lnArrivals, gridDim.x, p, P, lnG, lnB, mode == LIN_GATED ? out / 2 : out, y, lnStats, lnY);
}

#define LIN_BWD_COLS 32
#define LIN_BWD_ROWS 8
#define LIN_BWD_TILE 256

// Backward fused with the update, one pass over W: with d the gradient at the pre-activation, dx = W^T d
// from the old W, and W += scale * d x^T, b += scale * d. d = dy (LIN_PLAIN), dy f'(pre) (elementwise), or
// for LIN_GATED, with dy [B x out / 2] and pre = [a; c], s = sigmoid(c): d = [dy s; dy a s (1 - s)],
// formed while the deltas are staged, so gated's backward needs no launch of its own.
// Thread mapping: block (32, 8); threadIdx.x is a column of a 32-column slab (a warp reads 128
// contiguous bytes of a row), threadIdx.y one of 8 row groups walking rows ty, ty + 8, ...
// grid (ceil(in / 32) * splits, B): block x is slab x % slabs of split x / slabs (split_total in
// common.cuh), which walks rows [split_row(out, splits, z), split_row(out, splits, z + 1)). The deltas of
// 256 rows at a time are staged in shared memory; the 8 partial column sums are added in a fixed order,
// then the splits' sums in split order. Slab 0 of each split updates that split's bias elements.
// Small layers folded in (StepPlan.foldSmallLayers), each off when its pointer is null or loss LOSS_NONE:
// - loss (LOSS_BCE, LOSS_SOFTMAX; loss.cuh): this is the model's head in LIN_PLAIN mode and forms its
//   output gradient from its output (pre, the logits) and the step's target in ys, as the loss kernels
//   would (dy is not read); slab 0 of split 0 adds each task's loss to nll;
// - emMeta: the embedding before this linear; the block that finishes column col of dx also applies it to
//   the table element that input col was gathered from (embed_scatter_update's work, with emTables, xs,
//   inDim, step as there);
// - lnArrivals: the layernorm before this linear (its output is x) runs its backward in the last block of
//   each task to finish dx (layernorm_backward_tail): lnG, lnB its parameters, lnX and lnStats its input
//   and statistics, lnDx [B x in] its input gradient;
// - stepArrivals: this is the step's last launch, and the last of all its blocks to finish advances the
//   step counter (step_advance's work); stepArrivals [1] counts them.
extern "C" __global__ void __launch_bounds__(LIN_BWD_ROWS* LIN_BWD_COLS, BWD_MIN_BLOCKS)
    linear_backward_update(float* p, int P, float scale, float* acc, int accOn, int wOff, int bOff, int in, int out,
                           const float* x, const float* dy, const float* pre, int mode, float* dx, int splits,
                           float* partial, int* arrivals, int* step, const int* emMeta, int emTables, const int* xs,
                           int inDim, int loss, const int* ys, double* nll, int* lnArrivals, int lnG, int lnB,
                           const float* lnX, const float* lnStats, float* lnDx, int* stepArrivals) {
    __shared__ float d[LIN_BWD_TILE];
    __shared__ float part[LIN_BWD_ROWS][LIN_BWD_COLS];
    __shared__ int lossY;
    __shared__ float lossM, lossS;
    int b = blockIdx.y, tx = threadIdx.x, ty = threadIdx.y;
    int tid = ty * LIN_BWD_COLS + tx;
    int slabs = gridDim.x / splits, slab = blockIdx.x % slabs, z = blockIdx.x / slabs;
    int col = slab * LIN_BWD_COLS + tx;
    size_t taskBase = (size_t)b * P;
    if (loss != LOSS_NONE)
        head_loss(loss, out, pre + (size_t)b * out, ys, step, nll, slab == 0 && z == 0, &lossY, &lossM, &lossS);
    float xc = col < in ? x[(size_t)b * in + col] : 0.f;
    float s = 0.f;
    int end = split_row(out, splits, z + 1);
    for (int o0 = split_row(out, splits, z); o0 < end; o0 += LIN_BWD_TILE) {
        int n = min(LIN_BWD_TILE, end - o0);
        __syncthreads();  // the previous tile's deltas are no longer read
        for (int k = tid; k < n; k += LIN_BWD_ROWS * LIN_BWD_COLS) {
            size_t o = (size_t)b * out + o0 + k;
            float v;
            if (mode == LIN_GATED) {
                // Row o0 + k is a row of a (r < h) or of c (r >= h); both read dy and the pair's a, c.
                int h = out / 2, r = o0 + k, i = r < h ? r : r - h;
                size_t pa = (size_t)b * out + i;
                float g = sigmoid_f(pre[pa + h]), dyi = dy[(size_t)b * h + i];
                v = r < h ? dyi * g : dyi * pre[pa] * g * (1.f - g);
            } else if (loss != LOSS_NONE) {
                // A plain head: pre is its output, the logits; dy is formed here, as loss.cu's kernels form it.
                int i = o0 + k;
                v = lossY < 0          ? 0.f
                    : loss == LOSS_BCE ? bce_grad(pre[o], lossY)
                                       : softmax_grad(pre[o], lossM, lossS, i, lossY);
            } else {
                v = dy[o];
                if (lin_elementwise(mode)) {
                    float f1, f2;
                    lin_derivs(mode, pre[o], &f1, &f2);
                    v *= f1;
                }
            }
            d[k] = v;
        }
        __syncthreads();
        size_t wAt = taskBase + wOff + (size_t)o0 * in + col;  // row o0 of this column
        if (col < in) s = column_dot_update(p + wAt, acc + wAt, in, d, ty, LIN_BWD_ROWS, n, xc, scale, accOn, s);
        if (slab == 0) {
            for (int k = tid; k < n; k += LIN_BWD_ROWS * LIN_BWD_COLS) {
                size_t idx = taskBase + bOff + o0 + k;
                apply_grad(p, acc, idx, p[idx], d[k], scale, accOn);
            }
        }
    }
    if (column_total(&s, nullptr, &part[0][0], nullptr, splits, z, slab, slabs, col, in, partial, arrivals)) {
        if (ty == 0 && col < in) {
            dx[(size_t)b * in + col] = s;
            // The folded embedding's update: the looked-up element behind input col moves along its gradient.
            if (emMeta) {
                size_t idx = taskBase + embed_element(emMeta, emTables, col, xs, inDim, step, gridDim.y, b);
                apply_grad(p, acc, idx, p[idx], s, scale, accOn);
            }
        }
        // The slabs' final blocks, one per slab, count towards the layernorm before this linear.
        layernorm_backward_tail(lnArrivals, slabs, p, P, scale, acc, accOn, lnG, lnB, in, lnX, lnStats, dx, lnDx);
    }
    // Every block of the grid has read the step counter before it counts itself in here.
    if (stepArrivals && last_arrival(stepArrivals, gridDim.x * gridDim.y)) {
        if (block_thread() == 0) *step += 1;
    }
}

// ---- tangent (forward-over-reverse) kernels, for MAML's Hessian-vector products ----
// v is the direction, laid out like p ([B x P]); the backward tangents apply the adjoint update to
// lambda (and lrGrad) [B x P] with the step's gradient g and H v of each element (adjoint_update, common.cuh).

// Forward with its tangent, one pass over W and V: a = W x + b as linear_forward (y, and pre for the
// elementwise modes), aT = W xT + V x + v_b (V, v_b the direction's weight and bias), yT = aT (linear) or
// f'(a) aT (elementwise, which also keeps aT in preT for the backward). LIN_GATED: y = a * sigmoid(c) and its tangent, with
// [a; c] in pre and [aT; cT] in preT. Same mapping as linear_forward: one warp per output row (per pair
// of rows r, d + r when gated), lanes stride along the row. grid (ceil(rows / 8), B), block 256.
extern "C" __global__ void linear_forward_tangent(const float* p, const float* v, int P, int wOff, int bOff, int in,
                                                  int out, const float* x, const float* xT, int mode, float* y,
                                                  float* pre, float* yT, float* preT) {
    int b = blockIdx.y;
    int row = blockIdx.x * LIN_FWD_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int rows = mode == LIN_GATED ? out / 2 : out;
    if (row >= rows) return;  // the whole warp leaves together
    const float* task = TASK_ROW(p, b, P);
    const float* dir = TASK_ROW(v, b, P);
    const float* w = task + wOff + (size_t)row * in;
    const float* vw = dir + wOff + (size_t)row * in;
    const float* xb = x + (size_t)b * in;
    const float* xTb = xT + (size_t)b * in;
    if (mode == LIN_GATED) {
        const float* wc = w + (size_t)rows * in;
        const float* vc = vw + (size_t)rows * in;
        float sa = 0.f, saT = 0.f, sc = 0.f, scT = 0.f;
        for (int i = lane; i < in; i += 32) {
            float xi = xb[i], xTi = xTb[i], wa = w[i], wci = wc[i];
            sa += wa * xi;
            saT += vw[i] * xi + wa * xTi;
            sc += wci * xi;
            scT += vc[i] * xi + wci * xTi;
        }
        sa = warp_sum(sa);
        saT = warp_sum(saT);
        sc = warp_sum(sc);
        scT = warp_sum(scT);
        if (lane == 0) {
            float a = sa + task[bOff + row], aT = saT + dir[bOff + row];
            float c = sc + task[bOff + rows + row], cT = scT + dir[bOff + rows + row];
            size_t o = (size_t)b * out + row, g = (size_t)b * rows + row;
            pre[o] = a;
            pre[o + rows] = c;
            preT[o] = aT;
            preT[o + rows] = cT;
            y[g] = a * sigmoid_f(c);
            yT[g] = gate_tangent(a, aT, c, cT);
        }
        return;
    }
    float s = 0.f, sT = 0.f;
    for (int i = lane; i < in; i += 32) {
        float wi = w[i], xi = xb[i];
        s += wi * xi;
        sT += vw[i] * xi + wi * xTb[i];
    }
    s = warp_sum(s);
    sT = warp_sum(sT);
    if (lane == 0) {
        float a = s + task[bOff + row];
        float aT = sT + dir[bOff + row];
        size_t o = (size_t)b * out + row;
        if (lin_elementwise(mode)) {
            float f1, f2;
            lin_derivs(mode, a, &f1, &f2);
            pre[o] = a;
            y[o] = lin_f(mode, a);
            preT[o] = aT;
            yT[o] = f1 * aT;
        } else {
            y[o] = a;
            yT[o] = aT;
        }
    }
}

// Backward tangent fused with the adjoint update, one pass over W and V: with d = dy and dT = dyT
// (elementwise: d = dy f'(pre), dT = dyT f'(pre) + dy f''(pre) preT; LIN_GATED: d, dT the backward of a * sigmoid(c)
// and its tangent at pre = [a; c], preT = [aT; cT], from dy, dyT [B x out / 2]), dx = W^T d, dxT = W^T dT + V^T d,
// and the adjoint update with gW = d x^T, gb = d, (H v)W = dT x^T + d xT^T, (H v)b = dT. The parameters are not written.
// Thread mapping and row splits as linear_backward_update: block (32, 8), grid (ceil(in / 32) * splits, B);
// both deltas of 256 rows at a time in shared memory, the 8 partial column sums added in a fixed order,
// then the splits' (both sums); slab 0 of each split updates its bias elements. Each element of lambda
// has one writer.
extern "C" __global__ void __launch_bounds__(LIN_BWD_ROWS* LIN_BWD_COLS, BWD_MIN_BLOCKS)
    linear_backward_tangent(const float* p, const float* v, int P, float* lambda, float* lrGrad, int lrGradOn,
                            double alpha, int wOff, int bOff, int in, int out, const float* x, const float* xT,
                            const float* dy, const float* dyT, const float* pre, const float* preT, int mode, float* dx,
                            float* dxT, int splits, float* partial, int* arrivals) {
    __shared__ float d[LIN_BWD_TILE];
    __shared__ float dT[LIN_BWD_TILE];
    __shared__ float part[LIN_BWD_ROWS][LIN_BWD_COLS];
    __shared__ float partT[LIN_BWD_ROWS][LIN_BWD_COLS];
    int b = blockIdx.y, tx = threadIdx.x, ty = threadIdx.y;
    int tid = ty * LIN_BWD_COLS + tx;
    int slabs = gridDim.x / splits, slab = blockIdx.x % slabs, z = blockIdx.x / slabs;
    int col = slab * LIN_BWD_COLS + tx;
    size_t taskBase = (size_t)b * P;
    float xc = col < in ? x[(size_t)b * in + col] : 0.f;
    float xTc = col < in ? xT[(size_t)b * in + col] : 0.f;
    float s = 0.f, sT = 0.f;
    int end = split_row(out, splits, z + 1);
    for (int o0 = split_row(out, splits, z); o0 < end; o0 += LIN_BWD_TILE) {
        int n = min(LIN_BWD_TILE, end - o0);
        __syncthreads();  // the previous tile's deltas are no longer read
        for (int k = tid; k < n; k += LIN_BWD_ROWS * LIN_BWD_COLS) {
            size_t o = (size_t)b * out + o0 + k;
            float dv, dTv;
            if (mode == LIN_GATED) {
                // As in linear_backward_update: row o0 + k belongs to a (r < h) or to c.
                int h = out / 2, r = o0 + k, i = r < h ? r : r - h;
                size_t pa = (size_t)b * out + i, q = (size_t)b * h + i;
                float da, daT, dc, dcT;
                gate_backward_tangent(pre[pa], preT[pa], pre[pa + h], preT[pa + h], dy[q], dyT[q], &da, &daT, &dc,
                                      &dcT);
                dv = r < h ? da : dc;
                dTv = r < h ? daT : dcT;
            } else {
                dv = dy[o];
                dTv = dyT[o];
                if (lin_elementwise(mode)) {
                    float f1, f2;
                    lin_derivs(mode, pre[o], &f1, &f2);
                    dTv = dTv * f1 + dv * f2 * preT[o];
                    dv *= f1;
                }
            }
            d[k] = dv;
            dT[k] = dTv;
        }
        __syncthreads();
        size_t wAt = taskBase + wOff + (size_t)o0 * in + col;  // row o0 of this column
        if (col < in)
            column_dot_adjoint(p + wAt, v + wAt, lambda + wAt, lrGrad + wAt, lrGradOn, alpha, in, d, dT, ty,
                               LIN_BWD_ROWS, n, xc, xTc, &s, &sT);
        if (slab == 0) {
            for (int k = tid; k < n; k += LIN_BWD_ROWS * LIN_BWD_COLS) {
                adjoint_update(lambda, lrGrad, lrGradOn, alpha, taskBase + bOff + o0 + k, d[k], dT[k]);
            }
        }
    }
    if (column_total(&s, &sT, &part[0][0], &partT[0][0], splits, z, slab, slabs, col, in, partial, arrivals) &&
        ty == 0 && col < in) {
        dx[(size_t)b * in + col] = s;
        dxT[(size_t)b * in + col] = sT;
    }
}
