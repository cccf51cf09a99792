// The LSTM's passes on the host (cudnn_lstm.h has the model, the layouts and the contracts).
#include "cudnn_lstm.h"

#include <math.h>

WeightLayout weightLayout(const LstmShape& s) {
    WeightLayout w;
    size_t n = (size_t)s.layers * 4, H = (size_t)s.hidden;
    w.wih.resize(n);
    w.whh.resize(n);
    w.bih.resize(n);
    w.bhh.resize(n);
    auto align = [](size_t v) { return (v + 15) / 16 * 16; };
    size_t off = 32;
    for (int l = s.layers - 1; l >= 0; l--) {
        for (int q = 0; q < 4; q++) {
            off = align(off);
            w.whh[l * 4 + q] = off;
            off += H * H;
        }
        off += 16;
        for (int q = 0; q < 4; q++) {
            off = align(off);
            w.wih[l * 4 + q] = off;
            off += H * s.inputOf(l);
        }
        off += 16;
    }
    for (int l = 0; l < s.layers; l++) {
        off = align(off);
        for (int q = 0; q < 4; q++, off += H) w.bhh[l * 4 + q] = off;
        for (int q = 0; q < 4; q++, off += H) w.bih[l * 4 + q] = off;
        off += 8;
    }
    w.floats = align(off);
    return w;
}

void SeqBatch::index() {
    stepStart.assign((size_t)maxT + 1, 0);
    for (int t = 0; t < maxT; t++) {
        size_t running = 0;
        for (int b = 0; b < batch; b++) running += lens[b] > t;
        stepStart[t + 1] = stepStart[t] + running;
    }
}

size_t recordFloats(const LstmShape& s, const SeqBatch& seq) {
    return (size_t)s.layers * seq.maxT * seq.batch * RECORD_VECTORS * s.hidden;
}

namespace {

// The records of one pass: record(l, t, b) + k * hidden is vector k (gates i, f, g, o at 0 to 3, c at
// 4, h at 5, the gates' gradients at 6 to 9).
struct Records {
    float* base;
    int maxT, batch, hidden;
    float* at(int l, int t, int b) const {
        return base + (((size_t)l * maxT + t) * batch + b) * RECORD_VECTORS * hidden;
    }
};
enum { REC_C = 4, REC_H = 5, REC_DGATES = 6 };

double sigmoid(double v) {
    return 1 / (1 + exp(-v));
}

// A layer's initial state of sequence b (h or c), or zeros.
const float* initial(const float* s, const std::vector<float>& zeros, int l, int b, int batch, int hidden) {
    return s ? s + ((size_t)l * batch + b) * hidden : zeros.data();
}

}  // namespace

void lstmForward(const LstmShape& s, const WeightLayout& wl, const float* w, const SeqBatch& seq, const float* x,
                 float* y, const float* yFill, const float* hx, const float* cx, float* hy, float* cy, float* records) {
    const int Hd = s.hidden, B = seq.batch, T = seq.maxT;
    Records R{records, T, B, Hd};
    std::vector<float> zeros(Hd, 0.0f);
    std::vector<double> a(4 * (size_t)Hd);
    for (int l = 0; l < s.layers; l++) {
        int in = s.inputOf(l);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                if (t >= seq.lens[b]) continue;
                const float* input = l == 0 ? x + (size_t)seq.at(t, b) * in : R.at(l - 1, t, b) + REC_H * Hd;
                const float* hPrev = t == 0 ? initial(hx, zeros, l, b, B, Hd) : R.at(l, t - 1, b) + REC_H * Hd;
                const float* cPrev = t == 0 ? initial(cx, zeros, l, b, B, Hd) : R.at(l, t - 1, b) + REC_C * Hd;
                for (int q = 0; q < 4; q++)
                    for (int r = 0; r < Hd; r++) {
                        double acc = (double)w[wl.bih[l * 4 + q] + r] + w[wl.bhh[l * 4 + q] + r];
                        const float* wi = w + wl.wih[l * 4 + q] + (size_t)r * in;
                        for (int j = 0; j < in; j++) acc += (double)wi[j] * input[j];
                        const float* wh = w + wl.whh[l * 4 + q] + (size_t)r * Hd;
                        for (int j = 0; j < Hd; j++) acc += (double)wh[j] * hPrev[j];
                        a[(size_t)q * Hd + r] = acc;
                    }
                float* rec = R.at(l, t, b);
                for (int r = 0; r < Hd; r++) {
                    float i = (float)sigmoid(a[r]), f = (float)sigmoid(a[Hd + r]), g = (float)tanh(a[2 * Hd + r]),
                          o = (float)sigmoid(a[3 * Hd + r]);
                    rec[r] = i;
                    rec[Hd + r] = f;
                    rec[2 * Hd + r] = g;
                    rec[3 * Hd + r] = o;
                    float c = (float)((double)f * cPrev[r] + (double)i * g);
                    rec[REC_C * Hd + r] = c;
                    rec[REC_H * Hd + r] = (float)(o * tanh((double)c));
                }
            }
    }
    const float undefined = NAN;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            long v = seq.at(t, b);
            if (v < 0) continue;
            float* out = y + (size_t)v * Hd;
            if (t < seq.lens[b]) {
                const float* h = R.at(s.layers - 1, t, b) + REC_H * Hd;
                for (int r = 0; r < Hd; r++) out[r] = h[r];
            } else {
                for (int r = 0; r < Hd; r++) out[r] = yFill ? *yFill : undefined;
            }
        }
    for (int l = 0; l < s.layers; l++)
        for (int b = 0; b < B; b++) {
            int last = seq.lens[b] - 1;
            const float* h = last >= 0 ? R.at(l, last, b) + REC_H * Hd : initial(hx, zeros, l, b, B, Hd);
            const float* c = last >= 0 ? R.at(l, last, b) + REC_C * Hd : initial(cx, zeros, l, b, B, Hd);
            size_t at = ((size_t)l * B + b) * Hd;
            for (int r = 0; r < Hd; r++) {
                if (hy) hy[at + r] = h[r];
                if (cy) cy[at + r] = c[r];
            }
        }
}

void lstmBackwardData(const LstmShape& s, const WeightLayout& wl, const float* w, const SeqBatch& seq, const float* dy,
                      float* dx, const float* dxFill, const float* cx, const float* dhy, const float* dcy, float* dhx,
                      float* dcx, float* records) {
    const int Hd = s.hidden, B = seq.batch, T = seq.maxT;
    Records R{records, T, B, Hd};
    std::vector<float> zeros(Hd, 0.0f);
    // The gradient reaching layer l's output from above (layer l + 1's input gradient), [t][b][hidden].
    std::vector<double> dOut, dIn;
    std::vector<double> dh((size_t)B * Hd), dc((size_t)B * Hd);
    for (int l = s.layers - 1; l >= 0; l--) {
        int in = s.inputOf(l);
        dIn.assign((size_t)T * B * in, 0.0);
        for (int b = 0; b < B; b++)
            for (int r = 0; r < Hd; r++) {
                size_t at = ((size_t)l * B + b) * Hd + r;
                dh[(size_t)b * Hd + r] = dhy ? dhy[at] : 0.0;
                dc[(size_t)b * Hd + r] = dcy ? dcy[at] : 0.0;
            }
        for (int t = T - 1; t >= 0; t--)
            for (int b = 0; b < B; b++) {
                if (t >= seq.lens[b]) continue;
                float* rec = R.at(l, t, b);
                const float* cPrev = t == 0 ? initial(cx, zeros, l, b, B, Hd) : R.at(l, t - 1, b) + REC_C * Hd;
                double* dhb = &dh[(size_t)b * Hd];
                double* dcb = &dc[(size_t)b * Hd];
                for (int r = 0; r < Hd; r++) {
                    double above = l == s.layers - 1 ? (double)dy[(size_t)seq.at(t, b) * Hd + r]
                                                     : dOut[((size_t)t * B + b) * Hd + r];
                    double dhT = dhb[r] + above;
                    double i = rec[r], f = rec[Hd + r], g = rec[2 * Hd + r], o = rec[3 * Hd + r];
                    double tc = tanh((double)rec[REC_C * Hd + r]);
                    double dcT = dcb[r] + dhT * o * (1 - tc * tc);
                    rec[REC_DGATES * Hd + r] = (float)(dcT * g * i * (1 - i));
                    rec[(REC_DGATES + 1) * Hd + r] = (float)(dcT * cPrev[r] * f * (1 - f));
                    rec[(REC_DGATES + 2) * Hd + r] = (float)(dcT * i * (1 - g * g));
                    rec[(REC_DGATES + 3) * Hd + r] = (float)(dhT * tc * o * (1 - o));
                    dcb[r] = dcT * f;
                }
                // dh' = W_hh^T da and d(input) = W_ih^T da, with da as stored.
                for (int j = 0; j < Hd; j++) dhb[j] = 0;
                double* dInTB = &dIn[((size_t)t * B + b) * in];
                for (int q = 0; q < 4; q++)
                    for (int r = 0; r < Hd; r++) {
                        double da = rec[(REC_DGATES + q) * Hd + r];
                        if (da == 0) continue;
                        const float* wh = w + wl.whh[l * 4 + q] + (size_t)r * Hd;
                        for (int j = 0; j < Hd; j++) dhb[j] += da * wh[j];
                        const float* wi = w + wl.wih[l * 4 + q] + (size_t)r * in;
                        for (int j = 0; j < in; j++) dInTB[j] += da * wi[j];
                    }
            }
        for (int b = 0; b < B; b++)
            for (int r = 0; r < Hd; r++) {
                size_t at = ((size_t)l * B + b) * Hd + r;
                if (dhx) dhx[at] = (float)dh[(size_t)b * Hd + r];
                if (dcx) dcx[at] = (float)dc[(size_t)b * Hd + r];
            }
        dOut.swap(dIn);
    }
    // dOut now holds layer 0's input gradient.
    const float undefined = NAN;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            long v = seq.at(t, b);
            if (v < 0) continue;
            float* out = dx + (size_t)v * s.input;
            for (int j = 0; j < s.input; j++)
                out[j] = t < seq.lens[b] ? (float)dOut[((size_t)t * B + b) * s.input + j]
                         : dxFill        ? *dxFill
                                         : undefined;
        }
}

void lstmBackwardWeights(const LstmShape& s, const WeightLayout& wl, const SeqBatch& seq, const float* x,
                         const float* hx, const float* records, float* dw) {
    const int Hd = s.hidden, B = seq.batch, T = seq.maxT;
    Records R{const_cast<float*>(records), T, B, Hd};
    std::vector<float> zeros(Hd, 0.0f);
    for (int l = 0; l < s.layers; l++) {
        int in = s.inputOf(l);
        std::vector<double> gih((size_t)4 * Hd * in, 0.0), ghh((size_t)4 * Hd * Hd, 0.0), gb((size_t)4 * Hd, 0.0);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                if (t >= seq.lens[b]) continue;
                const float* rec = R.at(l, t, b);
                const float* input = l == 0 ? x + (size_t)seq.at(t, b) * in : R.at(l - 1, t, b) + REC_H * Hd;
                const float* hPrev = t == 0 ? initial(hx, zeros, l, b, B, Hd) : R.at(l, t - 1, b) + REC_H * Hd;
                for (int row = 0; row < 4 * Hd; row++) {
                    double da = rec[REC_DGATES * Hd + row];
                    if (da == 0) continue;
                    gb[row] += da;
                    double* gi = &gih[(size_t)row * in];
                    for (int j = 0; j < in; j++) gi[j] += da * input[j];
                    double* gh = &ghh[(size_t)row * Hd];
                    for (int j = 0; j < Hd; j++) gh[j] += da * hPrev[j];
                }
            }
        for (int q = 0; q < 4; q++)
            for (int r = 0; r < Hd; r++) {
                size_t row = (size_t)q * Hd + r;
                float* wi = dw + wl.wih[l * 4 + q] + (size_t)r * in;
                for (int j = 0; j < in; j++) wi[j] = (float)(wi[j] + gih[row * in + j]);
                float* wh = dw + wl.whh[l * 4 + q] + (size_t)r * Hd;
                for (int j = 0; j < Hd; j++) wh[j] = (float)(wh[j] + ghh[row * Hd + j]);
                dw[wl.bih[l * 4 + q] + r] = (float)(dw[wl.bih[l * 4 + q] + r] + gb[row]);
                dw[wl.bhh[l * 4 + q] + r] = (float)(dw[wl.bhh[l * 4 + q] + r] + gb[row]);
            }
    }
}
