// The input layers: embed (a table row per input integer) and d2c (integers to floats).
//
// Inputs of the whole meta-batch stay on the device: xs is [T x B x inDim] ints, and the current step
// t is read from the device counter *step, so a step's launches are the same every step.
#include "embed.cuh"

// embed forward: y[b, outOff_j + k] = E_j[x_j, k].
// meta holds 4 ints per table j: {offset of E_j in the task's parameters, rows, dim, outOff}.
// One thread per output column of one task: grid (ceil(outWidth / 256), B), block 256.
extern "C" __global__ void embed_gather_forward(const float* p, int P, const int* meta, int tables, int outWidth,
                                                const int* xs, int inDim, const int* step, int B, float* y) {
    int b = blockIdx.y;
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= outWidth) return;
    y[(size_t)b * outWidth + col] = TASK_ROW(p, b, P)[embed_element(meta, tables, col, xs, inDim, step, B, b)];
}

// embed backward and update: only the looked-up rows change, E_j[x_j, k] += scale * dy[b, outOff_j + k].
// Same thread mapping as the forward; tables are distinct, so every element has one writer.
extern "C" __global__ void embed_scatter_update(float* p, int P, float scale, float* acc, int accOn, const int* meta,
                                                int tables, int outWidth, const int* xs, int inDim, const int* step,
                                                int B, const float* dy) {
    int b = blockIdx.y;
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= outWidth) return;
    size_t idx = (size_t)b * P + embed_element(meta, tables, col, xs, inDim, step, B, b);
    apply_grad(p, acc, idx, p[idx], dy[(size_t)b * outWidth + col], scale, accOn);
}

// MAML's adjoint update of the looked-up rows (adjoint_update, common.cuh): the embedding is linear in
// its tables, so a row's gradient is dy and its Hessian-vector product dyT; every other row has neither
// and keeps its lambda. Same thread mapping as the forward.
extern "C" __global__ void embed_scatter_adjoint(int P, const int* meta, int tables, int outWidth, const int* xs,
                                                 int inDim, const int* step, int B, const float* dy, const float* dyT,
                                                 float* lambda, float* lrGrad, int lrGradOn, double alpha) {
    int b = blockIdx.y;
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= outWidth) return;
    size_t idx = (size_t)b * P + embed_element(meta, tables, col, xs, inDim, step, B, b);
    size_t o = (size_t)b * outWidth + col;
    adjoint_update(lambda, lrGrad, lrGradOn, alpha, idx, dy[o], dyT[o]);
}

// d2c forward: y[b, i] = x_i * (2 / n) - 1. It has no parameters and is always the first layer, so it
// has no backward. One thread per (task, input): grid ceil(B * inDim / 256), block 256.
extern "C" __global__ void d2c_forward(float scale, int inDim, const int* xs, const int* step, int B, float* y) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * inDim) return;
    y[k] = (float)xs[(size_t)(*step) * B * inDim + k] * scale - 1.f;
}
