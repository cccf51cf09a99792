// Layers without parameters that act elementwise: relu, tanh, sigmoid; gated (x[:d] * sigmoid(x[d:]));
// and the pieces of residual and gated_residual (a sum, and a product with a sigmoid gate).
// All are one thread per element of a [B x width] buffer: grid ceil(count / 256), block 256.
#include "common.cuh"
#include "activation.cuh"

// These kernels serve an activation whose input is not a linear's output; after a linear it runs inside
// the linear's kernels (linear.cu). activation_value and activation_derivs are in common.cuh.

extern "C" __global__ void activation_forward(int kind, int count, const float* x, float* y) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    y[k] = activation_value(kind, x[k]);
}

// The derivative comes from the input (relu) or the output (tanh: 1 - y^2, sigmoid: y (1 - y)).
extern "C" __global__ void activation_backward(int kind, int count, const float* x, const float* y, const float* dy,
                                               float* dx) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    float f1;
    if (kind == ACT_RELU) {
        f1 = x[k] > 0.f ? 1.f : 0.f;
    } else if (kind == ACT_TANH) {
        f1 = 1.f - y[k] * y[k];
    } else {
        f1 = y[k] * (1.f - y[k]);
    }
    dx[k] = f1 * dy[k];
}

// gated: x is [B x 2d], y [B x d]; one thread per output element (count = B * d).
extern "C" __global__ void gated_forward(int d, int B, const float* x, float* y) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * d) return;
    int b = k / d, i = k - b * d;
    const float* xb = x + (size_t)b * 2 * d;
    y[k] = xb[i] * sigmoid_f(xb[d + i]);
}

extern "C" __global__ void gated_backward(int d, int B, const float* x, const float* dy, float* dx) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * d) return;
    int b = k / d, i = k - b * d;
    const float* xb = x + (size_t)b * 2 * d;
    float* dxb = dx + (size_t)b * 2 * d;
    float g = sigmoid_f(xb[d + i]);
    dxb[i] = dy[k] * g;
    dxb[d + i] = dy[k] * xb[i] * g * (1.f - g);
}

// y = a + c: residual's output, and the sum of two input gradients.
extern "C" __global__ void elementwise_add(int count, const float* a, const float* c, float* y) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    y[k] = a[k] + c[k];
}

// gated_residual's output y = a * sigmoid(gp), with gp = W_g x + b_g from linear_forward.
extern "C" __global__ void gate_mul_forward(int count, const float* a, const float* gp, float* y) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    y[k] = a[k] * sigmoid_f(gp[k]);
}

// Its backward: da = dy * s, dgp = dy * a * s (1 - s).
extern "C" __global__ void gate_mul_backward(int count, const float* a, const float* gp, const float* dy, float* da,
                                             float* dgp) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    float s = sigmoid_f(gp[k]);
    da[k] = dy[k] * s;
    dgp[k] = dy[k] * a[k] * s * (1.f - s);
}

// ---- tangents, for MAML's Hessian-vector products: xT, yT, dyT, dxT are laid out like x, y, dy, dx ----

// yT = f'(x) xT. One thread per element: grid ceil(count / 256), block 256.
extern "C" __global__ void activation_forward_tangent(int kind, int count, const float* x, const float* y,
                                                      const float* xT, float* yT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    float f1, f2;
    activation_derivs(kind, x[k], y[k], &f1, &f2);
    yT[k] = f1 * xT[k];
}

// dx = f' dy and dxT = f' dyT + f'' xT dy. One thread per element: grid ceil(count / 256), block 256.
extern "C" __global__ void activation_backward_tangent(int kind, int count, const float* x, const float* y,
                                                       const float* xT, const float* dy, const float* dyT, float* dx,
                                                       float* dxT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    float f1, f2;
    activation_derivs(kind, x[k], y[k], &f1, &f2);
    dx[k] = f1 * dy[k];
    dxT[k] = f1 * dyT[k] + f2 * xT[k] * dy[k];
}

// gated: x, xT [B x 2d], yT [B x d]; one thread per output element (count = B * d).
extern "C" __global__ void gated_forward_tangent(int d, int B, const float* x, const float* xT, float* yT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * d) return;
    int b = k / d, i = k - b * d;
    const float* xb = x + (size_t)b * 2 * d;
    const float* xTb = xT + (size_t)b * 2 * d;
    yT[k] = gate_tangent(xb[i], xTb[i], xb[d + i], xTb[d + i]);
}

// Its backward with the tangent: dx, dxT [B x 2d] from dy, dyT [B x d]; one thread per output element.
extern "C" __global__ void gated_backward_tangent(int d, int B, const float* x, const float* xT, const float* dy,
                                                  const float* dyT, float* dx, float* dxT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= B * d) return;
    int b = k / d, i = k - b * d;
    size_t r = (size_t)b * 2 * d;
    gate_backward_tangent(x[r + i], xT[r + i], x[r + d + i], xT[r + d + i], dy[k], dyT[k], dx + r + i, dxT + r + i,
                          dx + r + d + i, dxT + r + d + i);
}

// gated_residual's y = a * sigmoid(gp): yT = aT s + a s (1 - s) gpT. One thread per element.
extern "C" __global__ void gate_mul_forward_tangent(int count, const float* a, const float* aT, const float* gp,
                                                    const float* gpT, float* yT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    yT[k] = gate_tangent(a[k], aT[k], gp[k], gpT[k]);
}

// Its backward with the tangent: da, dgp and their tangents; one thread per element.
extern "C" __global__ void gate_mul_backward_tangent(int count, const float* a, const float* aT, const float* gp,
                                                     const float* gpT, const float* dy, const float* dyT, float* da,
                                                     float* daT, float* dgp, float* dgpT) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= count) return;
    gate_backward_tangent(a[k], aT[k], gp[k], gpT[k], dy[k], dyT[k], da + k, daT + k, dgp + k, dgpT + k);
}
