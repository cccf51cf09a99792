// The LSTM of the simulated cuDNN (cudnn.cpp) on host memory: where its weights lie in a weight space,
// where a batch's steps lie in an RNN data tensor, what the reserve space of a training forward holds,
// and the forward, backward-data and backward-weights passes over them. The API layer checks every
// argument and operand first; these functions trust what they are given.
//
// The model is cuDNN's CUDNN_LSTM with CUDNN_RNN_DOUBLE_BIAS, unidirectional, no projection, which is
// PyTorch's nn.LSTM: per layer and step a = W_ih in + b_ih + W_hh h' + b_hh, its four row blocks the
// gates i, f, g, o; i, f, o = sigmoid, g = tanh; c = f c' + i g; h = o tanh(c). Layer 0's input is x,
// layer l's is layer l - 1's h; y is the top layer's h. Storage is float32 (the gates, c and h between
// steps and layers too, as on a device); sums accumulate in double.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <vector>

struct LstmShape {
    int layers = 0, input = 0, hidden = 0;
    int inputOf(int layer) const { return layer == 0 ? input : hidden; }
};

// Where each parameter lies, in floats from the start of the weight space; index layer * 4 + gate, the
// gates in the order i, f, g, o. Matrices are row-major [hidden][layer input] (W_ih) and
// [hidden][hidden] (W_hh), so gate q's block is PyTorch's weight_ih_l{layer}[q * hidden, (q + 1) *
// hidden). The order on purpose is none a caller could guess (not PyTorch's concatenation, not cuDNN's):
//   32 floats of padding;
//   per layer, from the top layer down: W_hh of i, f, g, o, 16 floats of padding, W_ih of i, f, g, o,
//   16 floats of padding (each matrix starting on a multiple of 16 floats);
//   then, per layer from layer 0 up, starting on a multiple of 16 floats: b_hh of i, f, g, o, then
//   b_ih of i, f, g, o, then 8 floats of padding;
//   the whole rounded up to 16 floats.
// Callers must ask for every address (cudnnGetRNNWeightParams); the padding is never read or written.
struct WeightLayout {
    std::vector<size_t> wih, whh, bih, bhh;
    size_t floats = 0;
};
WeightLayout weightLayout(const LstmShape& shape);

enum { SEQ_MAJOR_UNPACKED = 0, SEQ_MAJOR_PACKED = 1, BATCH_MAJOR_UNPACKED = 2 };

// The sequences of a batch as an RNN data descriptor lays them out: sequence b has lens[b] steps (0 to
// maxT). Unpacked layouts hold maxT * batch vectors, seq-major [t][b] or batch-major [b][t], the steps
// past a sequence's end being padding; the packed layout holds only real steps, step by step, each step
// the sequences still running (lens sorted from the longest down, so those are 0 to count - 1).
struct SeqBatch {
    int layout = SEQ_MAJOR_UNPACKED, maxT = 0, batch = 0;
    std::vector<int> lens;
    std::vector<size_t> stepStart;  // packed: the first vector of each step, maxT + 1 entries

    void index();
    // The vector that holds step t of sequence b; -1 where the layout has none (packed, past its end).
    long at(int t, int b) const {
        if (layout == SEQ_MAJOR_PACKED) return t < lens[b] ? (long)(stepStart[t] + b) : -1;
        if (layout == SEQ_MAJOR_UNPACKED) return (long)t * batch + b;
        return (long)b * maxT + t;
    }
    size_t vectors() const { return layout == SEQ_MAJOR_PACKED ? stepStart[maxT] : (size_t)maxT * batch; }
};

// The reserve space of a training forward: a header (RESERVE_HEADER bytes) saying what filled it, then
// per layer, step and sequence ([layer][maxT][batch]) a record of RECORD_VECTORS hidden-size vectors:
// the gates i, f, g, o after their activations, c, h, and the gradient of the gates' pre-activations
// (written by backward data, read by backward weights).
static const size_t RESERVE_HEADER = 256;
static const int RECORD_VECTORS = 10;
struct ReserveHeader {
    uint64_t magic;
    uint64_t phase;  // RESERVE_FORWARD, then RESERVE_DATA after backward data
    uint64_t layers, input, hidden, layout, maxT, batch;
    uint64_t lensHash, xHash, hxHash, cxHash;
};
static const uint64_t RESERVE_MAGIC = 0x6d69732d6c73746dull, RESERVE_FORWARD = 1, RESERVE_DATA = 2;
size_t recordFloats(const LstmShape& shape, const SeqBatch& seq);

// hx, cx null: zeros; hy, cy null: not written. y at padding: *yFill, or NaN (undefined) without one.
// records: recordFloats(shape, seq) floats, the reserve's (training) or scratch (inference).
void lstmForward(const LstmShape& shape, const WeightLayout& layout, const float* w, const SeqBatch& seq,
                 const float* x, float* y, const float* yFill, const float* hx, const float* cx, float* hy, float* cy,
                 float* records);
// dy at padding is not read; dhy, dcy null: zeros; dhx, dcx null: not written. dx at padding: *dxFill,
// or NaN. Writes the gates' gradients into the records.
void lstmBackwardData(const LstmShape& shape, const WeightLayout& layout, const float* w, const SeqBatch& seq,
                      const float* dy, float* dx, const float* dxFill, const float* cx, const float* dhy,
                      const float* dcy, float* dhx, float* dcx, float* records);
// Adds the gradients of every weight and bias to dw (laid out as the weight space).
void lstmBackwardWeights(const LstmShape& shape, const WeightLayout& layout, const SeqBatch& seq, const float* x,
                         const float* hx, const float* records, float* dw);
