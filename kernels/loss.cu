// The losses with their gradient in the logits, fused: binary cross-entropy with one logit (images)
// and softmax cross-entropy over L logits (text). z and dz are [B x L]; the targets ys are [T x B],
// read at the device step counter; a target below 0 marks a step the task does not have (a shorter
// task, or a sample that has stopped): its gradient is 0, so the step's update changes nothing.
// Each task's loss is added to nll[b] (float64, one writer per task), read once per meta-step.
#include "loss.cuh"

// One thread per task: grid ceil(B / 128), block 128.
extern "C" __global__ void bce_loss_grad(int B, const float* z, const int* ys, const int* step, float* dz,
                                         double* nll) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int y = ys[(size_t)(*step) * B + b];
    if (y < 0) {
        dz[b] = 0.f;
        return;
    }
    dz[b] = bce_grad(z[b], y);
    nll[b] += bce_nll(z[b], y);
}

// One block per task: grid B, block 256; threads stride over the L logits.
extern "C" __global__ void softmax_ce_loss_grad(int B, int L, const float* z, const int* ys, const int* step, float* dz,
                                                double* nll) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    const float* zb = z + (size_t)b * L;
    float* dzb = dz + (size_t)b * L;
    int y = ys[(size_t)(*step) * B + b];
    if (y < 0) {  // the same for the whole block
        for (int i = threadIdx.x; i < L; i += blockDim.x) dzb[i] = 0.f;
        return;
    }
    float m, s;
    softmax_max_sum(zb, L, scratch, &m, &s);
    for (int i = threadIdx.x; i < L; i += blockDim.x) dzb[i] = softmax_grad(zb[i], m, s, i, y);
    if (threadIdx.x == 0) nll[b] += softmax_nll(m, s, zb[y]);
}

// ---- with tangents, for MAML's Hessian-vector products: zT, dzT [B x L]; dzT = (d^2 l / dz^2) zT ----

// bce: dzT = s (1 - s) zT. One thread per task: grid ceil(B / 128), block 128.
extern "C" __global__ void bce_loss_grad_tangent(int B, const float* z, const float* zT, const int* ys, const int* step,
                                                 float* dz, float* dzT, double* nll) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int y = ys[(size_t)(*step) * B + b];
    if (y < 0) {
        dz[b] = 0.f;
        dzT[b] = 0.f;
        return;
    }
    float s = sigmoid_f(z[b]);
    dz[b] = s - (float)y;  // bce_grad, from the s the tangent needs too
    dzT[b] = s * (1.f - s) * zT[b];
    nll[b] += bce_nll(z[b], y);
}

// softmax: with q = softmax(z), dz = q - onehot(y), dzT = q (zT - q . zT). One block per task: grid B,
// block 256; threads stride over the L logits, the dot product by block_sum.
extern "C" __global__ void softmax_ce_loss_grad_tangent(int B, int L, const float* z, const float* zT, const int* ys,
                                                        const int* step, float* dz, float* dzT, double* nll) {
    __shared__ float scratch[32];
    int b = blockIdx.x;
    const float* zb = z + (size_t)b * L;
    const float* zTb = zT + (size_t)b * L;
    float* dzb = dz + (size_t)b * L;
    float* dzTb = dzT + (size_t)b * L;
    int y = ys[(size_t)(*step) * B + b];
    if (y < 0) {  // the same for the whole block
        for (int i = threadIdx.x; i < L; i += blockDim.x) {
            dzb[i] = 0.f;
            dzTb[i] = 0.f;
        }
        return;
    }
    float m, s;
    softmax_max_sum(zb, L, scratch, &m, &s);
    float pz = 0.f;
    for (int i = threadIdx.x; i < L; i += blockDim.x) pz += expf(zb[i] - m) / s * zTb[i];
    pz = block_sum(pz, scratch);
    for (int i = threadIdx.x; i < L; i += blockDim.x) {
        float q = expf(zb[i] - m) / s;
        dzb[i] = q - (i == y ? 1.f : 0.f);  // softmax_grad, from the q the tangent needs too
        dzTb[i] = q * (zTb[i] - pz);
    }
    if (threadIdx.x == 0) nll[b] += softmax_nll(m, s, zb[y]);
}
