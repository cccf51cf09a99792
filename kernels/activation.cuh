// The elementwise math of the activations, shared by their own kernels (activation.cu) and the
// kernels they are fused into (linear.cu, lstm.cu) and the loss (loss.cuh).
#pragma once

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
