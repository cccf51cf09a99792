// The simulated cuDNN: a libcudnn.so.9 with the handle, tensor, dropout and RNN (v8 API) entry points the
// LSTM baseline's GPU path calls, taking arguments as the cuDNN 8 ABI passes them, run on the host in the
// simulated driver's memory (driver.cpp) by cudnn_lstm.cpp, so that path is tested without a GPU.
//
// Supported: a unidirectional multi-layer LSTM with two bias vectors and linear input, no projection,
// float32 data and math, the standard algorithm, no dropout (every math type is accepted and computes
// the same); RNN data in the seq-major unpacked and packed and the batch-major unpacked layouts. Valid
// values beyond that are CUDNN_STATUS_NOT_SUPPORTED, invalid ones CUDNN_STATUS_BAD_PARAM, each with one
// line naming the argument. Status codes are cuDNN 9's (this stands in for libcudnn.so.9).
//
// What it checks, as cuDNN does or a device would: descriptors are live and set and agree with each
// other (vector sizes, the h and c shapes {layers, batch, hidden} packed, x and y with the same
// sequences, unpacked layouts only with CUDNN_RNN_PADDED_IO_ENABLED); buffer sizes are at least what
// cudnnGetRNNWeightSpaceSize and cudnnGetRNNTempSpaceSizes give; devSeqLengths is device memory holding
// the descriptors' lengths; every device operand is checked through the driver over what is read or
// written (outside live memory is a device fault that breaks the context). Beyond cuDNN, to catch
// misuse cuDNN would let pass silently: the work space is filled with NaN at every call (it holds
// nothing between calls); outputs at padding are NaN where no paddingFill makes them defined; the reserve
// space records what filled it, so backward refuses one no training forward of this shape filled,
// backward weights refuses one backward data has not used (cuDNN's required order), and both refuse x, hx
// or cx that differ from the forward's. Work runs when it is issued, on the calling thread; a call on a
// capturing stream is refused (library work is not recorded into graphs here).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cudnn_lstm.h"
#include "sim_lib.h"

#define API SIM_LIB_EXPORT

enum {
    CUDNN_STATUS_SUCCESS = 0,
    CUDNN_STATUS_NOT_INITIALIZED = 1001,
    CUDNN_STATUS_BAD_PARAM = 2000,
    CUDNN_STATUS_NOT_SUPPORTED = 3000,
    CUDNN_STATUS_INTERNAL_ERROR = 4000,
    CUDNN_STATUS_EXECUTION_FAILED = 5000,
};
typedef int cudnnStatus_t;

// cuDNN 9.14.0, as cudnnGetVersion encodes it (major * 10000 + minor * 100 + patch).
static const int MAJOR = 9, MINOR = 14, PATCH = 0;

enum { CUDNN_DATA_FLOAT = 0, DATA_TYPES = 22 };
enum { CUDNN_RNN_ALGO_STANDARD = 0, RNN_ALGOS = 4 };
enum { CUDNN_LSTM = 2, RNN_MODES = 4 };
enum { CUDNN_RNN_DOUBLE_BIAS = 2, RNN_BIAS_MODES = 4 };
enum { CUDNN_UNIDIRECTIONAL = 0, DIRECTION_MODES = 2 };
enum { CUDNN_LINEAR_INPUT = 0, INPUT_MODES = 2 };
enum { MATH_TYPES = 4 };
enum { CUDNN_RNN_PADDED_IO_ENABLED = 1 };
enum { CUDNN_FWD_MODE_INFERENCE = 0, CUDNN_FWD_MODE_TRAINING = 1 };
enum { CUDNN_WGRAD_MODE_ADD = 0, CUDNN_WGRAD_MODE_SET = 1 };
static const int DIM_MAX = 8;
// CUDA_SUCCESS and the driver errors that mean no usable context, or a refused capture.
enum { CU_SUCCESS = 0, CU_NOT_INITIALIZED = 3, CU_INVALID_CONTEXT = 201, CU_CAPTURE_UNSUPPORTED = 900 };

// Random-number states a dropout descriptor would keep; no dropout runs, but callers allocate them.
static const size_t DROPOUT_STATES = 64 * 1024;

// ---------------------------------------------------------------------------------------------------
// Handles and descriptors: each kind in its own set of live ones, so a destroyed one or one of another
// kind is refused by name.

struct Handle {
    void* stream = nullptr;
};
struct TensorDesc {
    bool set = false;
    int dataType = 0, nbDims = 0;
    int dims[DIM_MAX] = {}, strides[DIM_MAX] = {};
};
struct DropoutDesc {
    bool set = false;
    float dropout = 0;
};
struct RnnDesc {
    bool set = false;
    LstmShape shape;
    int mathType = 0;
    unsigned auxFlags = 0;
    bool padded() const { return auxFlags & CUDNN_RNN_PADDED_IO_ENABLED; }
};
struct DataDesc {
    bool set = false;
    int vectorSize = 0;
    SeqBatch seq;
    bool hasFill = false;
    float fill = 0;
};

template <class T>
struct Kind;
template <>
struct Kind<Handle> {
    static constexpr const char* name = "cuDNN handle";
    static constexpr const char* creator = "cudnnCreate";
};
template <>
struct Kind<TensorDesc> {
    static constexpr const char* name = "tensor descriptor";
    static constexpr const char* creator = "cudnnCreateTensorDescriptor";
    static constexpr const char* setter = "cudnnSetTensorNdDescriptor";
};
template <>
struct Kind<DropoutDesc> {
    static constexpr const char* name = "dropout descriptor";
    static constexpr const char* creator = "cudnnCreateDropoutDescriptor";
    static constexpr const char* setter = "cudnnSetDropoutDescriptor";
};
template <>
struct Kind<RnnDesc> {
    static constexpr const char* name = "RNN descriptor";
    static constexpr const char* creator = "cudnnCreateRNNDescriptor";
    static constexpr const char* setter = "cudnnSetRNNDescriptor_v8";
};
template <>
struct Kind<DataDesc> {
    static constexpr const char* name = "RNN data descriptor";
    static constexpr const char* creator = "cudnnCreateRNNDataDescriptor";
    static constexpr const char* setter = "cudnnSetRNNDataDescriptor";
};

// Never destroyed: handles and descriptors may outlive static destruction at exit.
template <class T>
static std::set<T*>& live() {
    static std::set<T*>* s = new std::set<T*>;
    return *s;
}

static thread_local std::string t_lastError;

static cudnnStatus_t fail(cudnnStatus_t s, const std::string& why) {
    t_lastError = why;
    sim_lib_say(("reptile-gen simulated cuDNN: " + why).c_str());
    return s;
}

static std::string str(long long v) {
    return std::to_string(v);
}

// p is a live T, and set unless only its existence matters.
template <class T>
static cudnnStatus_t use(const char* call, const char* arg, const T* p, bool mustBeSet = true) {
    if (!p) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + arg + " is null");
    if (!live<T>().count(const_cast<T*>(p)))
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + arg + " is not a " + Kind<T>::name + " of " +
                                                Kind<T>::creator + " (or one destroyed since)");
    if constexpr (!std::is_same<T, Handle>::value) {
        if (mustBeSet && !p->set)
            return fail(CUDNN_STATUS_BAD_PARAM,
                        std::string(call) + ": " + arg + " was never set (" + Kind<T>::setter + ")");
    }
    return CUDNN_STATUS_SUCCESS;
}

template <class T>
static cudnnStatus_t create(const char* call, T** out) {
    SimLibLock lock;
    if (!out) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": a null pointer for the new descriptor");
    T* d = new T();
    live<T>().insert(d);
    *out = d;
    return CUDNN_STATUS_SUCCESS;
}

// Destroying null does nothing, as in cuDNN.
template <class T>
static cudnnStatus_t destroy(const char* call, T* d) {
    SimLibLock lock;
    if (!d) return CUDNN_STATUS_SUCCESS;
    if (cudnnStatus_t s = use(call, "the descriptor", d, false)) return s;
    live<T>().erase(d);
    delete d;
    return CUDNN_STATUS_SUCCESS;
}

// Before work: a context to run in and the handle's stream open to work (the driver said why not).
static cudnnStatus_t canRun(const char* call, const Handle* h) {
    if (int r = sim_lib_context(call))
        return r == CU_NOT_INITIALIZED || r == CU_INVALID_CONTEXT ? CUDNN_STATUS_NOT_INITIALIZED
                                                                  : CUDNN_STATUS_EXECUTION_FAILED;
    if (int r = sim_lib_stream(call, h->stream, 1))
        return r == CU_CAPTURE_UNSUPPORTED ? CUDNN_STATUS_NOT_SUPPORTED : CUDNN_STATUS_EXECUTION_FAILED;
    return CUDNN_STATUS_SUCCESS;
}

// A device operand of bytes at p failed its check (a fault, reported by the driver).
static bool bad(const char* call, const char* what, const void* p, size_t bytes) {
    return sim_lib_check(call, what, (unsigned long long)(uintptr_t)p, bytes, sizeof(float)) != CU_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// Library, handle and tensor descriptors.

API size_t cudnnGetVersion() {
    return (size_t)(MAJOR * 10000 + MINOR * 100 + PATCH);
}

API size_t cudnnGetCudartVersion() {
    return 13000;
}

// libraryPropertyType: MAJOR_VERSION 0, MINOR_VERSION 1, PATCH_LEVEL 2.
API cudnnStatus_t cudnnGetProperty(int type, int* value) {
    if (!value) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetProperty: value is null");
    if (type < 0 || type > 2)
        return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetProperty: type " + str(type) + " is not a libraryPropertyType");
    *value = type == 0 ? MAJOR : type == 1 ? MINOR : PATCH;
    return CUDNN_STATUS_SUCCESS;
}

API const char* cudnnGetErrorString(cudnnStatus_t s) {
    switch (s) {
        case CUDNN_STATUS_SUCCESS:
            return "CUDNN_STATUS_SUCCESS";
        case CUDNN_STATUS_NOT_INITIALIZED:
            return "CUDNN_STATUS_NOT_INITIALIZED";
        case CUDNN_STATUS_BAD_PARAM:
            return "CUDNN_STATUS_BAD_PARAM";
        case CUDNN_STATUS_NOT_SUPPORTED:
            return "CUDNN_STATUS_NOT_SUPPORTED";
        case CUDNN_STATUS_INTERNAL_ERROR:
            return "CUDNN_STATUS_INTERNAL_ERROR";
        case CUDNN_STATUS_EXECUTION_FAILED:
            return "CUDNN_STATUS_EXECUTION_FAILED";
        default:
            return "CUDNN_UNKNOWN_STATUS";
    }
}

// The line of this thread's last failed call (cuDNN 9).
API void cudnnGetLastErrorString(char* message, size_t maxSize) {
    if (!message || maxSize == 0) return;
    snprintf(message, maxSize, "%s", t_lastError.c_str());
    t_lastError.clear();
}

API cudnnStatus_t cudnnCreate(Handle** handle) {
    SimLibLock lock;
    if (!handle) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnCreate: handle is null");
    if (sim_lib_context("cudnnCreate")) return CUDNN_STATUS_NOT_INITIALIZED;
    return create("cudnnCreate", handle);
}

API cudnnStatus_t cudnnDestroy(Handle* h) {
    SimLibLock lock;
    if (cudnnStatus_t s = use("cudnnDestroy", "handle", h)) return s;
    live<Handle>().erase(h);
    delete h;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnSetStream(Handle* h, void* stream) {
    SimLibLock lock;
    if (cudnnStatus_t s = use("cudnnSetStream", "handle", h)) return s;
    if (sim_lib_stream("cudnnSetStream", stream, 0)) return CUDNN_STATUS_BAD_PARAM;
    h->stream = stream;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnGetStream(Handle* h, void** stream) {
    SimLibLock lock;
    if (cudnnStatus_t s = use("cudnnGetStream", "handle", h)) return s;
    if (!stream) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnGetStream: streamId is null");
    *stream = h->stream;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnCreateTensorDescriptor(TensorDesc** d) {
    return create("cudnnCreateTensorDescriptor", d);
}

API cudnnStatus_t cudnnDestroyTensorDescriptor(TensorDesc* d) {
    return destroy("cudnnDestroyTensorDescriptor", d);
}

API cudnnStatus_t cudnnSetTensorNdDescriptor(TensorDesc* d, int dataType, int nbDims, const int* dimA,
                                             const int* strideA) {
    const char* call = "cudnnSetTensorNdDescriptor";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "tensorDesc", d, false)) return s;
    if (dataType < 0 || dataType >= DATA_TYPES)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": dataType " + str(dataType) + " is not a cudnnDataType_t");
    if (nbDims < 3 || nbDims > DIM_MAX)
        return fail(nbDims <= 0 ? CUDNN_STATUS_BAD_PARAM : CUDNN_STATUS_NOT_SUPPORTED,
                    std::string(call) + ": nbDims " + str(nbDims) + " is outside 3 to " + str(DIM_MAX));
    if (!dimA || !strideA)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + (dimA ? "strideA" : "dimA") + " is null");
    for (int i = 0; i < nbDims; i++) {
        if (dimA[i] <= 0)
            return fail(CUDNN_STATUS_BAD_PARAM,
                        std::string(call) + ": dimA[" + str(i) + "] is " + str(dimA[i]) + ", not positive");
        if (strideA[i] <= 0)
            return fail(CUDNN_STATUS_BAD_PARAM,
                        std::string(call) + ": strideA[" + str(i) + "] is " + str(strideA[i]) + ", not positive");
    }
    d->dataType = dataType;
    d->nbDims = nbDims;
    for (int i = 0; i < nbDims; i++) {
        d->dims[i] = dimA[i];
        d->strides[i] = strideA[i];
    }
    d->set = true;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnGetTensorNdDescriptor(const TensorDesc* d, int nbDimsRequested, int* dataType, int* nbDims,
                                             int* dimA, int* strideA) {
    const char* call = "cudnnGetTensorNdDescriptor";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "tensorDesc", d)) return s;
    if (nbDimsRequested < 0)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": nbDimsRequested " + str(nbDimsRequested) + " is negative");
    if (!dataType || !nbDims || (nbDimsRequested > 0 && (!dimA || !strideA)))
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": a null output pointer");
    *dataType = d->dataType;
    *nbDims = d->nbDims;
    for (int i = 0; i < std::min(nbDimsRequested, d->nbDims); i++) {
        dimA[i] = d->dims[i];
        strideA[i] = d->strides[i];
    }
    return CUDNN_STATUS_SUCCESS;
}

// Sets d to a packed 3-D float tensor {d0, d1, d2}.
static void setPacked3(TensorDesc* d, int d0, int d1, int d2) {
    d->dataType = CUDNN_DATA_FLOAT;
    d->nbDims = 3;
    d->dims[0] = d0;
    d->dims[1] = d1;
    d->dims[2] = d2;
    d->strides[0] = d1 * d2;
    d->strides[1] = d2;
    d->strides[2] = 1;
    d->set = true;
}

// ---------------------------------------------------------------------------------------------------
// Dropout: only none.

API cudnnStatus_t cudnnCreateDropoutDescriptor(DropoutDesc** d) {
    return create("cudnnCreateDropoutDescriptor", d);
}

API cudnnStatus_t cudnnDestroyDropoutDescriptor(DropoutDesc* d) {
    return destroy("cudnnDestroyDropoutDescriptor", d);
}

API cudnnStatus_t cudnnDropoutGetStatesSize(const Handle* h, size_t* sizeInBytes) {
    SimLibLock lock;
    if (cudnnStatus_t s = use("cudnnDropoutGetStatesSize", "handle", h)) return s;
    if (!sizeInBytes) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDropoutGetStatesSize: sizeInBytes is null");
    *sizeInBytes = DROPOUT_STATES;
    return CUDNN_STATUS_SUCCESS;
}

// States, when given, are written as cuDNN initialises them (with a pattern of the seed here).
API cudnnStatus_t cudnnSetDropoutDescriptor(DropoutDesc* d, const Handle* h, float dropout, void* states,
                                            size_t stateSizeInBytes, unsigned long long seed) {
    const char* call = "cudnnSetDropoutDescriptor";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "dropoutDesc", d, false)) return s;
    if (cudnnStatus_t s = use(call, "handle", h)) return s;
    if (!(dropout >= 0 && dropout < 1))
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": dropout " + std::to_string(dropout) + " is outside [0, 1)");
    if (dropout != 0)
        return fail(CUDNN_STATUS_NOT_SUPPORTED,
                    std::string(call) + ": dropout " + std::to_string(dropout) + " is not simulated (only 0)");
    if (states) {
        if (stateSizeInBytes < DROPOUT_STATES)
            return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": stateSizeInBytes " + str(stateSizeInBytes) +
                                                    " is less than the " + str(DROPOUT_STATES) +
                                                    " cudnnDropoutGetStatesSize gives");
        if (cudnnStatus_t s = canRun(call, h)) return s;
        if (bad(call, "states", states, DROPOUT_STATES)) return CUDNN_STATUS_EXECUTION_FAILED;
        uint64_t v = seed;
        for (size_t i = 0; i < DROPOUT_STATES / 8; i++) {
            v = v * 6364136223846793005ull + 1442695040888963407ull;
            memcpy((char*)states + i * 8, &v, 8);
        }
    }
    d->dropout = dropout;
    d->set = true;
    return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// The RNN and RNN data descriptors.

API cudnnStatus_t cudnnCreateRNNDescriptor(RnnDesc** d) {
    return create("cudnnCreateRNNDescriptor", d);
}

API cudnnStatus_t cudnnDestroyRNNDescriptor(RnnDesc* d) {
    return destroy("cudnnDestroyRNNDescriptor", d);
}

// An enum argument: in range and the one value simulated, else BAD_PARAM or NOT_SUPPORTED with a line.
static cudnnStatus_t choice(const char* call, const char* arg, int v, int count, int supported, const char* name) {
    if (v < 0 || v >= count)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + arg + " " + str(v) + " is not a valid value");
    if (v != supported)
        return fail(CUDNN_STATUS_NOT_SUPPORTED,
                    std::string(call) + ": " + arg + " " + str(v) + " is not simulated (only " + name + ")");
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnSetRNNDescriptor_v8(RnnDesc* d, int algo, int cellMode, int biasMode, int dirMode, int inputMode,
                                           int dataType, int mathPrec, int mathType, int32_t inputSize,
                                           int32_t hiddenSize, int32_t projSize, int32_t numLayers,
                                           const DropoutDesc* dropoutDesc, uint32_t auxFlags) {
    const char* call = "cudnnSetRNNDescriptor_v8";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "rnnDesc", d, false)) return s;
    if (cudnnStatus_t s = choice(call, "algo", algo, RNN_ALGOS, CUDNN_RNN_ALGO_STANDARD, "CUDNN_RNN_ALGO_STANDARD (0)"))
        return s;
    if (cudnnStatus_t s = choice(call, "cellMode", cellMode, RNN_MODES, CUDNN_LSTM, "CUDNN_LSTM (2)")) return s;
    if (cudnnStatus_t s =
            choice(call, "biasMode", biasMode, RNN_BIAS_MODES, CUDNN_RNN_DOUBLE_BIAS, "CUDNN_RNN_DOUBLE_BIAS (2)"))
        return s;
    if (cudnnStatus_t s =
            choice(call, "dirMode", dirMode, DIRECTION_MODES, CUDNN_UNIDIRECTIONAL, "CUDNN_UNIDIRECTIONAL (0)"))
        return s;
    if (cudnnStatus_t s =
            choice(call, "inputMode", inputMode, INPUT_MODES, CUDNN_LINEAR_INPUT, "CUDNN_LINEAR_INPUT (0)"))
        return s;
    if (cudnnStatus_t s = choice(call, "dataType", dataType, DATA_TYPES, CUDNN_DATA_FLOAT, "CUDNN_DATA_FLOAT (0)"))
        return s;
    if (cudnnStatus_t s = choice(call, "mathPrec", mathPrec, DATA_TYPES, CUDNN_DATA_FLOAT, "CUDNN_DATA_FLOAT (0)"))
        return s;
    if (mathType < 0 || mathType >= MATH_TYPES)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": mathType " + str(mathType) + " is not a cudnnMathType_t");
    if (inputSize <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": inputSize " + str(inputSize) + " is not positive");
    if (hiddenSize <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": hiddenSize " + str(hiddenSize) + " is not positive");
    if (numLayers <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": numLayers " + str(numLayers) + " is not positive");
    if (projSize <= 0 || projSize > hiddenSize)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": projSize " + str(projSize) +
                                                " is outside 1 to hiddenSize " + str(hiddenSize));
    if (projSize != hiddenSize)
        return fail(CUDNN_STATUS_NOT_SUPPORTED, std::string(call) + ": projSize " + str(projSize) +
                                                    " < hiddenSize (a projection) is not simulated");
    if (dropoutDesc) {
        if (cudnnStatus_t s = use(call, "dropoutDesc", dropoutDesc)) return s;
    }
    if (auxFlags & ~(uint32_t)CUDNN_RNN_PADDED_IO_ENABLED)
        return fail(CUDNN_STATUS_NOT_SUPPORTED, std::string(call) + ": auxFlags " + str(auxFlags) +
                                                    " has flags other than CUDNN_RNN_PADDED_IO_ENABLED (1)");
    d->shape.layers = numLayers;
    d->shape.input = inputSize;
    d->shape.hidden = hiddenSize;
    d->mathType = mathType;
    d->auxFlags = auxFlags;
    d->set = true;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnCreateRNNDataDescriptor(DataDesc** d) {
    return create("cudnnCreateRNNDataDescriptor", d);
}

API cudnnStatus_t cudnnDestroyRNNDataDescriptor(DataDesc* d) {
    return destroy("cudnnDestroyRNNDataDescriptor", d);
}

API cudnnStatus_t cudnnSetRNNDataDescriptor(DataDesc* d, int dataType, int layout, int maxSeqLength, int batchSize,
                                            int vectorSize, const int* seqLengthArray, void* paddingFill) {
    const char* call = "cudnnSetRNNDataDescriptor";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "rnnDataDesc", d, false)) return s;
    if (cudnnStatus_t s = choice(call, "dataType", dataType, DATA_TYPES, CUDNN_DATA_FLOAT, "CUDNN_DATA_FLOAT (0)"))
        return s;
    if (layout < SEQ_MAJOR_UNPACKED || layout > BATCH_MAJOR_UNPACKED)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": layout " + str(layout) + " is not a cudnnRNNDataLayout_t");
    if (maxSeqLength <= 0 || batchSize <= 0 || vectorSize <= 0)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": maxSeqLength " + str(maxSeqLength) + ", batchSize " +
                                                str(batchSize) + " and vectorSize " + str(vectorSize) +
                                                " must be positive");
    if (!seqLengthArray) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": seqLengthArray is null");
    for (int b = 0; b < batchSize; b++) {
        if (seqLengthArray[b] < 0 || seqLengthArray[b] > maxSeqLength)
            return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": seqLengthArray[" + str(b) + "] is " +
                                                    str(seqLengthArray[b]) + ", outside 0 to maxSeqLength " +
                                                    str(maxSeqLength));
        if (layout == SEQ_MAJOR_PACKED && b > 0 && seqLengthArray[b] > seqLengthArray[b - 1])
            return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": the packed layout needs seqLengthArray sorted " +
                                                    "from the longest down, and [" + str(b) +
                                                    "] = " + str(seqLengthArray[b]) + " > [" + str(b - 1) +
                                                    "] = " + str(seqLengthArray[b - 1]));
    }
    d->vectorSize = vectorSize;
    d->seq.layout = layout;
    d->seq.maxT = maxSeqLength;
    d->seq.batch = batchSize;
    d->seq.lens.assign(seqLengthArray, seqLengthArray + batchSize);
    d->seq.index();
    d->hasFill = paddingFill != nullptr;
    d->fill = paddingFill ? *(const float*)paddingFill : 0.0f;
    d->set = true;
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnGetRNNDataDescriptor(const DataDesc* d, int* dataType, int* layout, int* maxSeqLength,
                                            int* batchSize, int* vectorSize, int arrayLengthRequested,
                                            int* seqLengthArray, void* paddingFill) {
    const char* call = "cudnnGetRNNDataDescriptor";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "rnnDataDesc", d)) return s;
    if (!dataType || !layout || !maxSeqLength || !batchSize || !vectorSize || arrayLengthRequested < 0 ||
        (arrayLengthRequested > 0 && !seqLengthArray))
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": a null output pointer or a negative arrayLengthRequested");
    *dataType = CUDNN_DATA_FLOAT;
    *layout = d->seq.layout;
    *maxSeqLength = d->seq.maxT;
    *batchSize = d->seq.batch;
    *vectorSize = d->vectorSize;
    for (int b = 0; b < std::min(arrayLengthRequested, d->seq.batch); b++) seqLengthArray[b] = d->seq.lens[b];
    if (paddingFill) *(float*)paddingFill = d->fill;
    return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// Sizes and weight addresses.

static size_t workSpaceBytes(const LstmShape& s, const SeqBatch& seq) {
    return ((size_t)seq.maxT * seq.batch * 4 * s.hidden + 64) * sizeof(float);
}

static size_t reserveBytes(const LstmShape& s, const SeqBatch& seq) {
    return RESERVE_HEADER + recordFloats(s, seq) * sizeof(float);
}

API cudnnStatus_t cudnnGetRNNWeightSpaceSize(const Handle* h, const RnnDesc* rnn, size_t* weightSpaceSize) {
    const char* call = "cudnnGetRNNWeightSpaceSize";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "handle", h)) return s;
    if (cudnnStatus_t s = use(call, "rnnDesc", rnn)) return s;
    if (!weightSpaceSize) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": weightSpaceSize is null");
    *weightSpaceSize = weightLayout(rnn->shape).floats * sizeof(float);
    return CUDNN_STATUS_SUCCESS;
}

// xDesc agrees with the RNN descriptor: its vector size is the input size, and an unpacked layout comes
// with padded IO enabled.
static cudnnStatus_t inputFits(const char* call, const RnnDesc* rnn, const DataDesc* x) {
    if (x->vectorSize != rnn->shape.input)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": xDesc's vectorSize " + str(x->vectorSize) +
                                                " is not the RNN descriptor's inputSize " + str(rnn->shape.input));
    if (x->seq.layout != SEQ_MAJOR_PACKED && !rnn->padded())
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": xDesc has an unpacked layout (" + str(x->seq.layout) +
                        ") but the RNN descriptor's auxFlags lack CUDNN_RNN_PADDED_IO_ENABLED (1)");
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnGetRNNTempSpaceSizes(const Handle* h, const RnnDesc* rnn, int fwdMode, const DataDesc* xDesc,
                                            size_t* workSpaceSize, size_t* reserveSpaceSize) {
    const char* call = "cudnnGetRNNTempSpaceSizes";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "handle", h)) return s;
    if (cudnnStatus_t s = use(call, "rnnDesc", rnn)) return s;
    if (fwdMode != CUDNN_FWD_MODE_INFERENCE && fwdMode != CUDNN_FWD_MODE_TRAINING)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": fwdMode " + str(fwdMode) +
                                                " is not CUDNN_FWD_MODE_INFERENCE (0) or _TRAINING (1)");
    if (cudnnStatus_t s = use(call, "xDesc", xDesc)) return s;
    if (cudnnStatus_t s = inputFits(call, rnn, xDesc)) return s;
    if (workSpaceSize) *workSpaceSize = workSpaceBytes(rnn->shape, xDesc->seq);
    if (reserveSpaceSize)
        *reserveSpaceSize = fwdMode == CUDNN_FWD_MODE_TRAINING ? reserveBytes(rnn->shape, xDesc->seq) : 0;
    return CUDNN_STATUS_SUCCESS;
}

// Gate q of linLayerID (0 to 3 with the layer's input, 4 to 7 with the recurrent h): its matrix is
// [hidden x layer input] or [hidden x hidden], its bias b_ih or b_hh of that gate.
API cudnnStatus_t cudnnGetRNNWeightParams(const Handle* h, const RnnDesc* rnn, int32_t pseudoLayer,
                                          size_t weightSpaceSize, const void* weightSpace, int32_t linLayerID,
                                          TensorDesc* mDesc, void** mAddr, TensorDesc* bDesc, void** bAddr) {
    const char* call = "cudnnGetRNNWeightParams";
    SimLibLock lock;
    if (cudnnStatus_t s = use(call, "handle", h)) return s;
    if (cudnnStatus_t s = use(call, "rnnDesc", rnn)) return s;
    const LstmShape& sh = rnn->shape;
    if (pseudoLayer < 0 || pseudoLayer >= sh.layers)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": pseudoLayer " + str(pseudoLayer) +
                                                " is outside 0 to numLayers - 1 = " + str(sh.layers - 1));
    if (linLayerID < 0 || linLayerID > 7)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": linLayerID " + str(linLayerID) +
                                                " is outside 0 to 7 (an LSTM without projection)");
    WeightLayout wl = weightLayout(sh);
    if (weightSpaceSize < wl.floats * sizeof(float))
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": weightSpaceSize " + str(weightSpaceSize) +
                                                " is less than the " + str(wl.floats * sizeof(float)) +
                                                " bytes cudnnGetRNNWeightSpaceSize gives");
    if (mDesc) {
        if (cudnnStatus_t s = use(call, "mDesc", mDesc, false)) return s;
    }
    if (bDesc) {
        if (cudnnStatus_t s = use(call, "bDesc", bDesc, false)) return s;
    }
    int gate = linLayerID % 4, at = pseudoLayer * 4 + gate;
    bool recurrent = linLayerID >= 4;
    size_t m = recurrent ? wl.whh[at] : wl.wih[at], b = recurrent ? wl.bhh[at] : wl.bih[at];
    if (mDesc) setPacked3(mDesc, 1, sh.hidden, recurrent ? sh.hidden : sh.inputOf(pseudoLayer));
    if (bDesc) setPacked3(bDesc, 1, sh.hidden, 1);
    if (mAddr) *mAddr = (char*)weightSpace + m * sizeof(float);
    if (bAddr) *bAddr = (char*)weightSpace + b * sizeof(float);
    return CUDNN_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// Forward and backward: the checks they share, then the passes.

static uint64_t hashBytes(uint64_t h, const void* p, size_t n) {
    const unsigned char* c = (const unsigned char*)p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static const uint64_t HASH_START = 14695981039346656037ull;

// The real steps of x (padding excluded: it is not read).
static uint64_t hashSteps(const float* x, const SeqBatch& seq, int vectorSize) {
    uint64_t h = HASH_START;
    for (int b = 0; b < seq.batch; b++)
        for (int t = 0; t < seq.lens[b]; t++)
            h = hashBytes(h, x + (size_t)seq.at(t, b) * vectorSize, (size_t)vectorSize * sizeof(float));
    return h;
}

// An initial state, or a mark of none.
static uint64_t hashState(const float* s, size_t floats) {
    return s ? hashBytes(HASH_START, s, floats * sizeof(float)) : 0;
}

static uint64_t hashLens(const SeqBatch& seq) {
    return hashBytes(HASH_START, seq.lens.data(), seq.lens.size() * sizeof(int));
}

// One call's descriptors and sizes, checked: what the passes need.
struct Pass {
    const char* call;
    LstmShape shape;
    WeightLayout layout;
    const SeqBatch* seq;
    size_t stateFloats;  // of hx, cx, hy, cy and their gradients
};

// A forward's or backward's descriptors: x and y (either may be absent) agree with the RNN descriptor
// and each other; h and c are {layers, batch, hidden}, packed.
static cudnnStatus_t describe(Pass* p, const Handle* h, const RnnDesc* rnn, const DataDesc* xDesc,
                              const DataDesc* yDesc, const TensorDesc* hDesc, const TensorDesc* cDesc) {
    const char* call = p->call;
    if (cudnnStatus_t s = use(call, "handle", h)) return s;
    if (cudnnStatus_t s = use(call, "rnnDesc", rnn)) return s;
    if (cudnnStatus_t s = use(call, "xDesc", xDesc)) return s;
    if (cudnnStatus_t s = use(call, "yDesc", yDesc)) return s;
    if (cudnnStatus_t s = inputFits(call, rnn, xDesc)) return s;
    const LstmShape& sh = rnn->shape;
    if (yDesc->vectorSize != sh.hidden)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": yDesc's vectorSize " + str(yDesc->vectorSize) +
                                                " is not the RNN descriptor's hiddenSize " + str(sh.hidden));
    const SeqBatch &xs = xDesc->seq, &ys = yDesc->seq;
    if (xs.layout != ys.layout || xs.maxT != ys.maxT || xs.batch != ys.batch || xs.lens != ys.lens)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) +
                                                ": xDesc and yDesc differ in layout, maxSeqLength, batchSize or "
                                                "seqLengthArray");
    const TensorDesc* states[2] = {hDesc, cDesc};
    const char* names[2] = {"hDesc", "cDesc"};
    for (int i = 0; i < 2; i++) {
        const TensorDesc* d = states[i];
        if (cudnnStatus_t s = use(call, names[i], d)) return s;
        bool shaped = d->nbDims == 3 && d->dims[0] == sh.layers && d->dims[1] == xs.batch && d->dims[2] == sh.hidden;
        bool packed =
            shaped && d->strides[0] == xs.batch * sh.hidden && d->strides[1] == sh.hidden && d->strides[2] == 1;
        if (!packed)
            return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + names[i] + " is not a packed {numLayers " +
                                                    str(sh.layers) + ", batchSize " + str(xs.batch) + ", hiddenSize " +
                                                    str(sh.hidden) + "} tensor");
        if (d->dataType != CUDNN_DATA_FLOAT)
            return fail(CUDNN_STATUS_NOT_SUPPORTED,
                        std::string(call) + ": " + names[i] + "'s dataType " + str(d->dataType) + " is not float");
    }
    p->shape = sh;
    p->layout = weightLayout(sh);
    p->seq = &xs;
    p->stateFloats = (size_t)sh.layers * xs.batch * sh.hidden;
    return CUDNN_STATUS_SUCCESS;
}

// Pointers that must be given.
static cudnnStatus_t given(const char* call, std::initializer_list<std::pair<const char*, const void*>> args) {
    for (auto& [name, p] : args)
        if (!p) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + name + " is null");
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t bigEnough(const char* call, const char* arg, size_t given, size_t needed, const char* source) {
    if (given >= needed) return CUDNN_STATUS_SUCCESS;
    return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + arg + " " + str(given) + " is less than the " +
                                            str(needed) + " bytes " + source + " gives");
}

// devSeqLengths: device memory holding the descriptors' sequence lengths (after canRun).
static cudnnStatus_t devLengths(const char* call, const int32_t* dev, const SeqBatch& seq) {
    if (!dev) return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": devSeqLengths is null");
    if (bad(call, "devSeqLengths", dev, (size_t)seq.batch * sizeof(int32_t))) return CUDNN_STATUS_EXECUTION_FAILED;
    for (int b = 0; b < seq.batch; b++)
        if (dev[b] != seq.lens[b])
            return fail(CUDNN_STATUS_BAD_PARAM,
                        std::string(call) + ": devSeqLengths[" + str(b) + "] is " + str(dev[b]) +
                            " on the device but the descriptors' seqLengthArray says " + str(seq.lens[b]));
    return CUDNN_STATUS_SUCCESS;
}

// Device operands: each given one over the bytes the pass touches.
struct Operand {
    const char* name;
    const void* p;
    size_t bytes;
};
static bool anyBad(const char* call, std::initializer_list<Operand> ops) {
    for (const Operand& o : ops)
        if (o.p && bad(call, o.name, o.p, o.bytes)) return true;
    return false;
}

// The work space holds nothing between calls: NaN, so a caller that keeps something there sees it lost.
static void scribble(void* workSpace, size_t bytes) {
    float nan = NAN;
    for (size_t i = 0; i < bytes / sizeof(float); i++) memcpy((char*)workSpace + i * sizeof(float), &nan, sizeof nan);
}

// The reserve space a backward is given: filled by a training forward of this shape and sequences, and
// (for backward weights) used by backward data since; x, hx and cx (where given) the forward's.
static cudnnStatus_t reserveFits(const char* call, const ReserveHeader& r, const Pass& p, uint64_t phase,
                                 const uint64_t* xHash, uint64_t hxHash, const uint64_t* cxHash) {
    const SeqBatch& seq = *p.seq;
    if (r.magic != RESERVE_MAGIC)
        return fail(
            CUDNN_STATUS_BAD_PARAM,
            std::string(call) + ": reserveSpace holds no training cudnnRNNForward's results (none ran into it)");
    if (r.layers != (uint64_t)p.shape.layers || r.input != (uint64_t)p.shape.input ||
        r.hidden != (uint64_t)p.shape.hidden || r.layout != (uint64_t)seq.layout || r.maxT != (uint64_t)seq.maxT ||
        r.batch != (uint64_t)seq.batch || r.lensHash != hashLens(seq))
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) +
                                                ": reserveSpace was filled by a forward of another shape or other "
                                                "sequence lengths");
    if (phase == RESERVE_DATA && r.phase != RESERVE_DATA)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) +
                                                ": cudnnRNNBackwardData_v8 has not run on this reserveSpace since its "
                                                "forward (cuDNN needs it before cudnnRNNBackwardWeights_v8)");
    const char* differs = nullptr;
    if (xHash && *xHash != r.xHash)
        differs = "x";
    else if (hxHash != r.hxHash)
        differs = "hx";
    else if (cxHash && *cxHash != r.cxHash)
        differs = "cx";
    if (differs)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": " + differs +
                                                " is not what the forward that filled reserveSpace was given (changed "
                                                "since, another buffer, or null once and not the other time)");
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnRNNForward(const Handle* h, const RnnDesc* rnn, int fwdMode, const int32_t* devSeqLengths,
                                  const DataDesc* xDesc, const void* x, const DataDesc* yDesc, void* y,
                                  const TensorDesc* hDesc, const void* hx, void* hy, const TensorDesc* cDesc,
                                  const void* cx, void* cy, size_t weightSpaceSize, const void* weightSpace,
                                  size_t workSpaceSize, void* workSpace, size_t reserveSpaceSize, void* reserveSpace) {
    Pass p{"cudnnRNNForward"};
    const char* call = p.call;
    SimLibLock lock;
    if (cudnnStatus_t s = describe(&p, h, rnn, xDesc, yDesc, hDesc, cDesc)) return s;
    if (fwdMode != CUDNN_FWD_MODE_INFERENCE && fwdMode != CUDNN_FWD_MODE_TRAINING)
        return fail(CUDNN_STATUS_BAD_PARAM, std::string(call) + ": fwdMode " + str(fwdMode) +
                                                " is not CUDNN_FWD_MODE_INFERENCE (0) or _TRAINING (1)");
    bool training = fwdMode == CUDNN_FWD_MODE_TRAINING;
    const SeqBatch& seq = *p.seq;
    size_t weightBytes = p.layout.floats * sizeof(float), workBytes = workSpaceBytes(p.shape, seq),
           reserve = training ? reserveBytes(p.shape, seq) : 0;
    if (cudnnStatus_t s = given(call, {{"x", x}, {"y", y}, {"weightSpace", weightSpace}, {"workSpace", workSpace}}))
        return s;
    if (training) {
        if (cudnnStatus_t s = given(call, {{"reserveSpace (training)", reserveSpace}})) return s;
    }
    if (cudnnStatus_t s =
            bigEnough(call, "weightSpaceSize", weightSpaceSize, weightBytes, "cudnnGetRNNWeightSpaceSize"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "workSpaceSize", workSpaceSize, workBytes, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "reserveSpaceSize", reserveSpaceSize, reserve, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = canRun(call, h)) return s;
    if (cudnnStatus_t s = devLengths(call, devSeqLengths, seq)) return s;
    size_t stateBytes = p.stateFloats * sizeof(float);
    if (anyBad(call, {{"x", x, seq.vectors() * p.shape.input * sizeof(float)},
                      {"y", y, seq.vectors() * p.shape.hidden * sizeof(float)},
                      {"hx", hx, stateBytes},
                      {"cx", cx, stateBytes},
                      {"hy", hy, stateBytes},
                      {"cy", cy, stateBytes},
                      {"weightSpace", weightSpace, weightBytes},
                      {"workSpace", workSpace, workBytes},
                      {"reserveSpace", training ? reserveSpace : nullptr, reserve}}))
        return CUDNN_STATUS_EXECUTION_FAILED;
    scribble(workSpace, workBytes);
    std::vector<float> scratch;
    float* records;
    if (training) {
        records = (float*)((char*)reserveSpace + RESERVE_HEADER);
    } else {
        scratch.resize(recordFloats(p.shape, seq));
        records = scratch.data();
    }
    const float* fill = yDesc->hasFill ? &yDesc->fill : nullptr;
    lstmForward(p.shape, p.layout, (const float*)weightSpace, seq, (const float*)x, (float*)y, fill, (const float*)hx,
                (const float*)cx, (float*)hy, (float*)cy, records);
    if (training) {
        ReserveHeader r{};
        r.magic = RESERVE_MAGIC;
        r.phase = RESERVE_FORWARD;
        r.layers = p.shape.layers;
        r.input = p.shape.input;
        r.hidden = p.shape.hidden;
        r.layout = seq.layout;
        r.maxT = seq.maxT;
        r.batch = seq.batch;
        r.lensHash = hashLens(seq);
        r.xHash = hashSteps((const float*)x, seq, p.shape.input);
        r.hxHash = hashState((const float*)hx, p.stateFloats);
        r.cxHash = hashState((const float*)cx, p.stateFloats);
        memcpy(reserveSpace, &r, sizeof r);
    }
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnRNNBackwardData_v8(const Handle* h, const RnnDesc* rnn, const int32_t* devSeqLengths,
                                          const DataDesc* yDesc, const void* y, const void* dy, const DataDesc* xDesc,
                                          void* dx, const TensorDesc* hDesc, const void* hx, const void* dhy, void* dhx,
                                          const TensorDesc* cDesc, const void* cx, const void* dcy, void* dcx,
                                          size_t weightSpaceSize, const void* weightSpace, size_t workSpaceSize,
                                          void* workSpace, size_t reserveSpaceSize, void* reserveSpace) {
    Pass p{"cudnnRNNBackwardData_v8"};
    const char* call = p.call;
    SimLibLock lock;
    if (cudnnStatus_t s = describe(&p, h, rnn, xDesc, yDesc, hDesc, cDesc)) return s;
    const SeqBatch& seq = *p.seq;
    size_t weightBytes = p.layout.floats * sizeof(float), workBytes = workSpaceBytes(p.shape, seq),
           reserve = reserveBytes(p.shape, seq);
    if (cudnnStatus_t s = given(call, {{"y", y},
                                       {"dy", dy},
                                       {"dx", dx},
                                       {"weightSpace", weightSpace},
                                       {"workSpace", workSpace},
                                       {"reserveSpace", reserveSpace}}))
        return s;
    if (cudnnStatus_t s =
            bigEnough(call, "weightSpaceSize", weightSpaceSize, weightBytes, "cudnnGetRNNWeightSpaceSize"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "workSpaceSize", workSpaceSize, workBytes, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "reserveSpaceSize", reserveSpaceSize, reserve, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = canRun(call, h)) return s;
    if (cudnnStatus_t s = devLengths(call, devSeqLengths, seq)) return s;
    size_t stateBytes = p.stateFloats * sizeof(float), yBytes = seq.vectors() * p.shape.hidden * sizeof(float);
    if (anyBad(call, {{"y", y, yBytes},
                      {"dy", dy, yBytes},
                      {"dx", dx, seq.vectors() * p.shape.input * sizeof(float)},
                      {"hx", hx, stateBytes},
                      {"dhy", dhy, stateBytes},
                      {"dhx", dhx, stateBytes},
                      {"cx", cx, stateBytes},
                      {"dcy", dcy, stateBytes},
                      {"dcx", dcx, stateBytes},
                      {"weightSpace", weightSpace, weightBytes},
                      {"workSpace", workSpace, workBytes},
                      {"reserveSpace", reserveSpace, reserve}}))
        return CUDNN_STATUS_EXECUTION_FAILED;
    ReserveHeader r;
    memcpy(&r, reserveSpace, sizeof r);
    uint64_t cxHash = hashState((const float*)cx, p.stateFloats);
    if (cudnnStatus_t s =
            reserveFits(call, r, p, RESERVE_FORWARD, nullptr, hashState((const float*)hx, p.stateFloats), &cxHash))
        return s;
    scribble(workSpace, workBytes);
    const float* fill = xDesc->hasFill ? &xDesc->fill : nullptr;
    lstmBackwardData(p.shape, p.layout, (const float*)weightSpace, seq, (const float*)dy, (float*)dx, fill,
                     (const float*)cx, (const float*)dhy, (const float*)dcy, (float*)dhx, (float*)dcx,
                     (float*)((char*)reserveSpace + RESERVE_HEADER));
    r.phase = RESERVE_DATA;
    memcpy(reserveSpace, &r, sizeof r);
    return CUDNN_STATUS_SUCCESS;
}

API cudnnStatus_t cudnnRNNBackwardWeights_v8(const Handle* h, const RnnDesc* rnn, int addGrad,
                                             const int32_t* devSeqLengths, const DataDesc* xDesc, const void* x,
                                             const TensorDesc* hDesc, const void* hx, const DataDesc* yDesc,
                                             const void* y, size_t weightSpaceSize, void* dweightSpace,
                                             size_t workSpaceSize, void* workSpace, size_t reserveSpaceSize,
                                             void* reserveSpace) {
    Pass p{"cudnnRNNBackwardWeights_v8"};
    const char* call = p.call;
    SimLibLock lock;
    // The c descriptor is not an argument here: h's shape stands for it.
    if (cudnnStatus_t s = describe(&p, h, rnn, xDesc, yDesc, hDesc, hDesc)) return s;
    if (addGrad == CUDNN_WGRAD_MODE_SET)
        return fail(
            CUDNN_STATUS_NOT_SUPPORTED,
            std::string(call) + ": addGrad CUDNN_WGRAD_MODE_SET (1) is not supported (as in cuDNN: only _ADD, 0)");
    if (addGrad != CUDNN_WGRAD_MODE_ADD)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    std::string(call) + ": addGrad " + str(addGrad) + " is not a cudnnWgradMode_t");
    const SeqBatch& seq = *p.seq;
    size_t weightBytes = p.layout.floats * sizeof(float), workBytes = workSpaceBytes(p.shape, seq),
           reserve = reserveBytes(p.shape, seq);
    if (cudnnStatus_t s = given(call, {{"x", x},
                                       {"y", y},
                                       {"dweightSpace", dweightSpace},
                                       {"workSpace", workSpace},
                                       {"reserveSpace", reserveSpace}}))
        return s;
    if (cudnnStatus_t s =
            bigEnough(call, "weightSpaceSize", weightSpaceSize, weightBytes, "cudnnGetRNNWeightSpaceSize"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "workSpaceSize", workSpaceSize, workBytes, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = bigEnough(call, "reserveSpaceSize", reserveSpaceSize, reserve, "cudnnGetRNNTempSpaceSizes"))
        return s;
    if (cudnnStatus_t s = canRun(call, h)) return s;
    if (cudnnStatus_t s = devLengths(call, devSeqLengths, seq)) return s;
    if (anyBad(call, {{"x", x, seq.vectors() * p.shape.input * sizeof(float)},
                      {"hx", hx, p.stateFloats * sizeof(float)},
                      {"y", y, seq.vectors() * p.shape.hidden * sizeof(float)},
                      {"dweightSpace", dweightSpace, weightBytes},
                      {"workSpace", workSpace, workBytes},
                      {"reserveSpace", reserveSpace, reserve}}))
        return CUDNN_STATUS_EXECUTION_FAILED;
    ReserveHeader r;
    memcpy(&r, reserveSpace, sizeof r);
    uint64_t xHash = hashSteps((const float*)x, seq, p.shape.input);
    if (cudnnStatus_t s =
            reserveFits(call, r, p, RESERVE_DATA, &xHash, hashState((const float*)hx, p.stateFloats), nullptr))
        return s;
    scribble(workSpace, workBytes);
    lstmBackwardWeights(p.shape, p.layout, seq, (const float*)x, (const float*)hx,
                        (const float*)((char*)reserveSpace + RESERVE_HEADER), (float*)dweightSpace);
    return CUDNN_STATUS_SUCCESS;
}
