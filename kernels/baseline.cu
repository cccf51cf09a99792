// The LSTM baseline (README, The LSTM baseline): what neither cuDNN nor cuBLAS does for it. The LSTM stack
// runs in cuDNN's RNN calls and the output layer in cuBLAS GEMMs (the engine, LstmBaselineCuda); these
// kernels gather the inputs, form the loss, and turn the libraries' gradients into the float64 gradient
// the Adam step (meta.cu) reads, laid out as the model's parameters (ParamLayout).
//
// Layouts: a batch's N = T x B rows are step-major (row n = t * B + b), as cuDNN's sequence-major data;
// idx [N x tables] holds each row's embedding indices, ys [N] its target (-1 past the sequence's end);
// x [N x tables * E] is the LSTM's input, z and dz [N x L] the logits and their gradient. Every gradient
// element is written by one thread, summing in a fixed order, so results repeat bit for bit.
#include "loss.cuh"

// x[n][j * E + e] = theta[tableOff[j] + idx[n * tables + j] * E + e].
// One thread per element: grid ceil(N * tables * E / 256), block 256.
extern "C" __global__ void baseline_embed(const float* theta, const int* tableOff, int tables, int E, const int* idx,
                                          int N, float* x) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, width = (size_t)tables * E;
    if (i >= (size_t)N * width) return;
    size_t n = i / width;
    int c = (int)(i - n * width), j = c / E, e = c - j * E;
    x[i] = theta[tableOff[j] + (size_t)idx[n * tables + j] * E + e];
}

// The embedding tables' gradient: g[tableOff[j] + r * E + e] = sum over rows n with ys[n] >= 0 and
// idx[n][j] == r of dx[n][j * E + e], in row order. tableRow0[j] is table j's first row among all
// tables' rows (rowsTotal in all). One thread per (row, e), each scanning every row n of the batch:
// grid ceil(rowsTotal * E / 128), block 128.
extern "C" __global__ void baseline_embed_grad(const float* dx, const int* idx, const int* ys, int N, int tables, int E,
                                               const int* tableOff, const int* tableRow0, int rowsTotal, double* g) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rowsTotal * E) return;
    int row = i / E, e = i - row * E, j = 0;
    while (j + 1 < tables && tableRow0[j + 1] <= row) j++;
    int r = row - tableRow0[j];
    size_t width = (size_t)tables * E;
    double s = 0;
    for (int n = 0; n < N; n++)
        if (idx[(size_t)n * tables + j] == r && ys[n] >= 0) s += (double)dx[n * width + (size_t)j * E + e];
    g[tableOff[j] + (size_t)r * E + e] = s;
}

// The trainable initial state repeated for B sequences: hx[k][b][u] = theta[h0Off + k * H + u], cx from
// c0Off. One thread per element: grid ceil(layers * B * H / 256), block 256.
extern "C" __global__ void baseline_initial_state(const float* theta, int h0Off, int c0Off, int layers, int B, int H,
                                                  float* hx, float* cx) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)layers * B * H) return;
    int u = (int)(i % H);
    int k = (int)(i / ((size_t)B * H));
    hx[i] = theta[h0Off + k * H + u];
    cx[i] = theta[c0Off + k * H + u];
}

// The initial state's gradient, summed over the batch in order: g[h0Off + k * H + u] = sum_b dhx[k][b][u],
// likewise c; dhx and dcx hold rows rows per layer, of which the first B are the batch's initial states.
// One thread per (k, u): grid ceil(layers * H / 256), block 256.
extern "C" __global__ void baseline_initial_state_grad(const float* dhx, const float* dcx, int layers, int B, int rows,
                                                       int H, int h0Off, int c0Off, double* g) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= layers * H) return;
    int k = i / H, u = i - k * H;
    double sh = 0, sc = 0;
    for (int b = 0; b < B; b++) {
        size_t at = ((size_t)k * rows + b) * H + u;
        sh += (double)dhx[at];
        sc += (double)dcx[at];
    }
    g[h0Off + i] = sh;
    g[c0Off + i] = sc;
}

// stop_grad: every step of every sequence as a sequence of one step from the states before it, kept by a
// forward pass one step at a time. out [layers x T * B x H] (row t * B + b of layer k) is init [layers x
// B x H] at t = 0, else hist [T x layers x B x H] at t - 1. One thread per element: grid
// ceil(layers * T * B * H / 256), block 256.
extern "C" __global__ void baseline_states_gather(const float* init, const float* hist, int T, int layers, int B, int H,
                                                  float* out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, rows = (size_t)T * B;
    if (i >= (size_t)layers * rows * H) return;
    int u = (int)(i % H);
    size_t r = i / H, n = r % rows;
    int k = (int)(r / rows), t = (int)(n / B), b = (int)(n % B);
    out[i] = t == 0 ? init[((size_t)k * B + b) * H + u] : hist[(((size_t)(t - 1) * layers + k) * B + b) * H + u];
}

// Copies of whole tensors between the parameters and another buffer (cuDNN's weight space, the output
// layer's gradient): segment s is segs[3s + 2] floats at segs[3s] in the parameters and at segs[3s + 1]
// in the other. Grid (ceil(longest / 256), segments), block 256.
// baseline_segments_copy: the parameters' values into the other buffer.
extern "C" __global__ void baseline_segments_copy(const float* theta, float* other, const int* segs, int segments) {
    int s = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= segments || i >= segs[3 * s + 2]) return;
    other[(size_t)segs[3 * s + 1] + i] = theta[(size_t)segs[3 * s] + i];
}

// baseline_segments_to_grad: a float gradient in the other buffer into the float64 gradient's places.
extern "C" __global__ void baseline_segments_to_grad(const float* other, double* g, const int* segs, int segments) {
    int s = blockIdx.y, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= segments || i >= segs[3 * s + 2]) return;
    g[(size_t)segs[3 * s] + i] = (double)other[(size_t)segs[3 * s + 1] + i];
}

// Rows past their sequence's end (ys[n] < 0) set to 0 in a [N x width] buffer: what cuDNN leaves there
// (its padding fill, or nothing defined) must not reach a product over all rows. One thread per element:
// grid ceil(N * width / 256), block 256.
extern "C" __global__ void baseline_clear_padding(float* a, const int* ys, int N, int width) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * width) return;
    if (ys[i / width] < 0) a[i] = 0.f;
}

// The logits' bias: z[n][c] += bias[c]. One thread per element: grid ceil(N * L / 256), block 256.
extern "C" __global__ void baseline_add_bias(float* z, const float* bias, int N, int L) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * L) return;
    z[i] += bias[i % L];
}

// The bias's gradient: g[off + c] = sum_n dz[n][c], in a fixed order (each thread strides over the rows,
// then the block's tree). One block per logit: grid L, block 256.
extern "C" __global__ void baseline_bias_grad(const float* dz, int N, int L, int off, double* g) {
    __shared__ double part[256];
    int c = blockIdx.x;
    double s = 0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) s += (double)dz[(size_t)n * L + c];
    part[threadIdx.x] = s;
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        __syncthreads();
        if ((int)threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    }
    if (threadIdx.x == 0) g[off + c] = part[0];
}

// Binary cross-entropy of every row with its one logit z[n] + bias[0]: rowNll[n] the loss (0 past a
// sequence's end) and, where dz is not null, dz[n] = scale * d loss / dz (0 past the end).
// One thread per row: grid ceil(N / 256), block 256.
extern "C" __global__ void baseline_bce_loss(int N, const float* z, const float* bias, const int* ys, float scale,
                                             float* dz, double* rowNll) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    int y = ys[n];
    float zn = z[n] + bias[0];
    rowNll[n] = y < 0 ? 0.0 : bce_nll(zn, y);
    if (dz) dz[n] = y < 0 ? 0.f : scale * bce_grad(zn, y);
}

// Softmax cross-entropy over the L logits z[n] + bias of every row, as baseline_bce_loss. z is given
// with its bias added (baseline_add_bias). One block per row: grid N, block 256.
extern "C" __global__ void baseline_softmax_loss(int N, int L, const float* z, const int* ys, float scale, float* dz,
                                                 double* rowNll) {
    __shared__ float scratch[32];
    int n = blockIdx.x;
    const float* zn = z + (size_t)n * L;
    int y = ys[n];
    if (y < 0) {  // the same for the whole block
        if (dz)
            for (int i = threadIdx.x; i < L; i += blockDim.x) dz[(size_t)n * L + i] = 0.f;
        if (threadIdx.x == 0) rowNll[n] = 0.0;
        return;
    }
    float m, s;
    softmax_max_sum(zn, L, scratch, &m, &s);
    if (dz)
        for (int i = threadIdx.x; i < L; i += blockDim.x)
            dz[(size_t)n * L + i] = scale * softmax_grad(zn[i], m, s, i, y);
    if (threadIdx.x == 0) rowNll[n] = softmax_nll(m, s, zn[y]);
}

// Each sequence's loss, summed over its steps in order: nll[b] = sum_t rowNll[t * B + b].
// One thread per sequence: grid ceil(B / 256), block 256.
extern "C" __global__ void baseline_nll_sum(const double* rowNll, int T, int B, double* nll) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    double s = 0;
    for (int t = 0; t < T; t++) s += rowNll[(size_t)t * B + b];
    nll[b] = s;
}

// Sampling, before step t (*step): each sample's embedding indices, the step's position (pos, the same
// for all) then the previous draw (ys [steps x B] of sample_draw; 0 at t = 0 and once a sample stopped).
// One thread per sample: grid ceil(B / 256), block 256.
extern "C" __global__ void baseline_sample_inputs(const int* pos, int posDim, const int* step, const int* ys, int B,
                                                  int* idx) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= B) return;
    int t = *step, tables = posDim + 1;
    for (int j = 0; j < posDim; j++) idx[(size_t)b * tables + j] = pos[(size_t)t * posDim + j];
    int prev = t == 0 ? 0 : ys[(size_t)(t - 1) * B + b];
    idx[(size_t)b * tables + posDim] = prev < 0 ? 0 : prev;
}
