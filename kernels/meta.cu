// The meta level: task copies from theta, the meta-gradient as a mean over tasks, the outer Adam step,
// and the device step counter the per-step kernels read.
//
// theta, m, v are [P] floats; the task copies p and FOMAML's gradient sums acc are [B x S]: one row of
// S >= P floats per task (S a multiple of 32, so every task's row starts on a 128-byte boundary; the
// S - P padding elements are zero in the task copies and read by no layer); the meta-gradient g is
// [P] doubles.
#include "common.cuh"

// p[b, i] = theta[i] (0 in the padding), and acc[b, i] = 0 when accOn. grid (ceil(S / 256), B), block 256.
extern "C" __global__ void tasks_from_theta(const float* theta, int P, int S, int B, float* p, float* acc, int accOn) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (i >= S || b >= B) return;
    size_t idx = (size_t)b * S + i;
    p[idx] = i < P ? theta[i] : 0.f;
    if (accOn) acc[idx] = 0.f;
}

// g[i] = mean over tasks, summed in task order in float64: of theta[i] - rows[b, i] (Reptile, rows the
// tasks' final parameters), or of rows[b, i] (FOMAML, rows the tasks' gradient sums).
// One thread per parameter, walking the tasks (coalesced across threads): grid ceil(P / 256), block 256.
extern "C" __global__ void meta_gradient_mean(const float* rows, const float* theta, int reptile, int P, int S, int B,
                                              double* g) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P) return;
    double s = 0;
    if (reptile) {
        double th = theta[i];
        for (int b = 0; b < B; b++) s += th - (double)rows[(size_t)b * S + i];
    } else {
        for (int b = 0; b < B; b++) s += (double)rows[(size_t)b * S + i];
    }
    g[i] = s / B;
}

// Adam with PyTorch's semantics (bias-corrected, eps after the square root), in float64 arithmetic on
// float32 storage: lrCorrected = lr / (1 - beta1^t), sqrtBc2 = sqrt(1 - beta2^t), from the host.
// One thread per parameter: grid ceil(P / 256), block 256.
extern "C" __global__ void adam_update(float* theta, const double* g, float* m, float* v, int P, double beta1,
                                       double beta2, double eps, double lrCorrected, double sqrtBc2) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P) return;
    double gi = g[i];
    double mi = beta1 * (double)m[i] + (1 - beta1) * gi;
    double vi = beta2 * (double)v[i] + (1 - beta2) * gi * gi;
    double th = (double)theta[i] - lrCorrected * mi / (sqrt(vi) / sqrtBc2 + eps);
    m[i] = (float)mi;
    v[i] = (float)vi;
    theta[i] = (float)th;
}

// The step counter: set before a task loop, advanced after each step's launches. grid 1, block 1.
extern "C" __global__ void step_set(int* step, int value) {
    *step = value;
}

extern "C" __global__ void step_advance(int* step) {
    *step += 1;
}

// ---- MAML: checkpoints of the task copies (the adjoint update itself runs inside the backward tangent kernels) ----
// Every [B x S] buffer below is one row per task; one thread per element: grid (ceil(S / 256), B), block 256.

// dst = src: a checkpoint of the task copies, or a segment state from its checkpoint.
extern "C" __global__ void rows_copy(const float* src, float* dst, int P, int B) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (i >= P || b >= B) return;
    size_t idx = (size_t)b * P + i;
    dst[idx] = src[idx];
}

// dst = 0, also for narrow activations (a zero input tangent: P is the width).
extern "C" __global__ void rows_zero(float* dst, int P, int B) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (i >= P || b >= B) return;
    dst[(size_t)b * P + i] = 0.f;
}

// The step counter moved by delta: the reverse sweep walks a segment's steps backwards. grid 1, block 1.
extern "C" __global__ void step_add(int* step, int delta) {
    *step += delta;
}

// ---- learned inner learning rates (Meta-SGD) ----
// With a learned inner learning rate per parameter element the layers' fused updates run with scale 0
// and sum one step's gradient into stepGrad [B x S] instead; inner_lr_update then applies
// p -= innerLr[i] * stepGrad. This keeps the fused kernels, and so the fixed-rate path, as they are.
// innerLr is [P] floats, shared by every task.
// One thread per parameter element (the padding is left alone): grid (ceil(P / 256), B), block 256.

// p -= innerLr * stepGrad, then stepGrad = 0 for the next step's sum; with accOn FOMAML's sums
// acc += stepGrad and, for the learned rates' gradient, gradSquares += stepGrad^2.
extern "C" __global__ void inner_lr_update(float* p, float* stepGrad, const float* innerLr, float* acc,
                                           float* gradSquares, int accOn, int P, int S, int B) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (i >= P || b >= B) return;
    size_t idx = (size_t)b * S + i;
    float g = stepGrad[idx];
    p[idx] -= innerLr[i] * g;
    stepGrad[idx] = 0.f;
    if (accOn) {
        acc[idx] += g;
        gradSquares[idx] += g * g;
    }
}

// FOMAML's gradient of the per-element inner learning rates, the mean over tasks (in task order,
// float64) of -((sum_t g_t)^2 - sum_t g_t^2) / 2 = -sum_{s<t} g_s g_t, from the sums acc and the
// squares gradSquares. One thread per parameter walking the tasks: grid ceil(P / 256), block 256.
extern "C" __global__ void inner_lr_fomaml_grad(const float* acc, const float* gradSquares, int P, int S, int B,
                                                double* lrGradMean) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= P) return;
    double s = 0;
    for (int b = 0; b < B; b++) {
        double a = acc[(size_t)b * S + i];
        s += -0.5 * (a * a - (double)gradSquares[(size_t)b * S + i]);
    }
    lrGradMean[i] = s / B;
}

// MAML's tangent direction with learned inner learning rates, v = innerLr * lambda (the inner step moves theta_t by
// -innerLr * g, so the adjoint meets H (innerLr * lambda)). Grid (ceil(P / 256), B), block 256.
extern "C" __global__ void maml_direction(const float* lambda, const float* innerLr, float* v, int P, int S, int B) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (i >= P || b >= B) return;
    size_t idx = (size_t)b * S + i;
    v[idx] = innerLr[i] * lambda[idx];
}
