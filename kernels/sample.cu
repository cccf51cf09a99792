// Sampling: y_t drawn from the model's distribution at a temperature, on the device.
//
// The uniform number of sample b at step t is the (t+1)-th output of a SplitMix64 stream started at
// streams[b]: u = (mix(streams[b] + (t + 1) * 0x9E3779B97F4A7C15) >> 11) * 2^-53, the same numbers the
// CPU engine draws for that sample, so a seed gives the same samples on both up to float rounding.
#include "common.cuh"

__device__ __forceinline__ unsigned long long splitmix_mix(unsigned long long z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__device__ __forceinline__ double stream_uniform(unsigned long long start, int t) {
    unsigned long long s = start + (unsigned long long)(t + 1) * 0x9E3779B97F4A7C15ull;
    return (double)(splitmix_mix(s) >> 11) * 0x1.0p-53;
}

#define SAMPLE_MAX_CLASSES 256

// One block of 256 threads per sample: grid B, block 256; L <= 256 logits per sample (L = 1: a
// Bernoulli of sigmoid(z / T) over {0, 1}). Writes the drawn class to out [B x steps] and, as the loss
// kernel's target, to ys [steps x B]; with stopAtZero a sample ends at its first 0 (kept in out, no
// SGD step on it), after which its target is -1 and its output 0. done [B] marks ended samples.
extern "C" __global__ void sample_draw(int B, int L, double temperature, const float* z,
                                       const unsigned long long* streams, int stopAtZero, const int* step, int steps,
                                       int* ys, int* done, int* out) {
    __shared__ double e[SAMPLE_MAX_CLASSES];
    __shared__ float scratch[32];
    int b = blockIdx.x;
    int t = *step;
    size_t target = (size_t)t * B + b;
    if (done[b]) {
        if (threadIdx.x == 0) {
            ys[target] = -1;
            out[(size_t)b * steps + t] = 0;
        }
        return;
    }
    const float* zb = z + (size_t)b * L;
    double u = stream_uniform(streams[b], t);
    int y;
    if (L == 1) {
        if (threadIdx.x != 0) return;
        double s = 1.0 / (1.0 + exp(-(double)zb[0] / temperature));
        y = u < 1.0 - s ? 0 : 1;
    } else {
        // The maximum of z / T, then exp(z / T - max) in float64, as the CPU forms the probabilities.
        float m = -INFINITY;
        for (int i = threadIdx.x; i < L; i += blockDim.x) m = fmaxf(m, zb[i]);
        double mT = (double)block_max(m, scratch) / temperature;
        for (int i = threadIdx.x; i < L; i += blockDim.x) e[i] = exp((double)zb[i] / temperature - mT);
        __syncthreads();
        if (threadIdx.x != 0) return;
        double sum = 0;
        for (int i = 0; i < L; i++) sum += e[i];
        double c = 0;
        y = L - 1;
        for (int i = 0; i < L; i++) {
            c += e[i] / sum;
            if (u < c) {
                y = i;
                break;
            }
        }
    }
    out[(size_t)b * steps + t] = y;
    if (stopAtZero && y == 0) {
        done[b] = 1;
        ys[target] = -1;
    } else {
        ys[target] = y;
    }
}
