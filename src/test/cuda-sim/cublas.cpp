// The simulated cuBLAS: a libcublas.so.13 with the v2 entry points the LSTM baseline's GPU path calls,
// run on the host in the simulated driver's memory (driver.cpp), so that path is tested without a GPU.
//
// Matrices are column-major float32 as in cuBLAS; products accumulate in double. Arguments are checked
// as cuBLAS checks them (CUBLAS_STATUS_INVALID_VALUE for an operation, a size, a leading dimension or an
// increment out of range, before anything runs); then every device operand is checked through the
// driver over the extent the operation reads or writes, and one outside live memory is a device fault
// there (the context breaks, as a kernel's bad access would). beta == 0 means C is not read, so the NaN
// the driver fills new allocations with does not reach the result; alpha == 0 means A and B are not
// read. Work runs when it is issued, on the calling thread; a call on a capturing stream is refused
// (library work is not recorded into graphs here). Every status but success comes with one line.
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "sim_lib.h"

#define API SIM_LIB_EXPORT

enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
enum { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 };
// cublasMath_t: default, tensor op (deprecated), pedantic, TF32, each optionally with this flag.
static const int CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;
// cuBLAS 13.1.0, encoded as CUBLAS_VERSION is.
static const int VERSION = 13 * 10000 + 1 * 100 + 0;
// CUDA_SUCCESS, CUDA_ERROR_NOT_INITIALIZED and CUDA_ERROR_INVALID_CONTEXT of the driver.
enum { CU_SUCCESS = 0, CU_NOT_INITIALIZED = 3, CU_INVALID_CONTEXT = 201, CU_CAPTURE_UNSUPPORTED = 900 };

typedef int cublasStatus_t;

struct Handle {
    void* stream = nullptr;
    int pointerMode = CUBLAS_POINTER_MODE_HOST;
    int mathMode = 0;
};
typedef Handle* cublasHandle_t;

// Never destroyed: a handle may outlive static destruction at exit.
static std::set<Handle*>& g_handles = *new std::set<Handle*>;

static cublasStatus_t fail(cublasStatus_t s, const std::string& why) {
    sim_lib_say(("reptile-gen simulated cuBLAS: " + why).c_str());
    return s;
}

static cublasStatus_t needHandle(const char* call, Handle* h) {
    if (!h) return fail(CUBLAS_STATUS_NOT_INITIALIZED, std::string(call) + ": a null handle");
    if (!g_handles.count(h))
        return fail(CUBLAS_STATUS_NOT_INITIALIZED,
                    std::string(call) + ": not a handle of cublasCreate (or one destroyed since)");
    return CUBLAS_STATUS_SUCCESS;
}

// Before work: a context to run in and the handle's stream open to work (the driver said why not).
static cublasStatus_t canRun(const char* call, Handle* h) {
    if (int r = sim_lib_context(call))
        return r == CU_NOT_INITIALIZED || r == CU_INVALID_CONTEXT ? CUBLAS_STATUS_NOT_INITIALIZED
                                                                  : CUBLAS_STATUS_EXECUTION_FAILED;
    if (int r = sim_lib_stream(call, h->stream, 1))
        return r == CU_CAPTURE_UNSUPPORTED ? CUBLAS_STATUS_NOT_SUPPORTED : CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

// A device operand of bytes at p: its check failed (a fault, reported by the driver) or not.
static bool bad(const char* call, const char* what, const void* p, size_t bytes) {
    return sim_lib_check(call, what, (unsigned long long)(uintptr_t)p, bytes, sizeof(float)) != CU_SUCCESS;
}

// A scalar argument as the pointer mode says: read from the host, or from device memory after a check.
static cublasStatus_t scalar(const char* call, const char* what, Handle* h, const float* p, double* v) {
    if (h->pointerMode == CUBLAS_POINTER_MODE_DEVICE) {
        if (bad(call, what, p, sizeof(float))) return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    *v = *p;
    return CUBLAS_STATUS_SUCCESS;
}

// Bytes a column-major rows x cols matrix with leading dimension ld spans (0 when it has no element).
static size_t extent(long long rows, long long cols, long long ld) {
    if (rows <= 0 || cols <= 0) return 0;
    return (size_t)((cols - 1) * ld + rows) * sizeof(float);
}

static std::string opName(int op) {
    return op == CUBLAS_OP_N ? "N" : op == CUBLAS_OP_T ? "T" : "C";
}

// The checks cuBLAS makes of a gemm's arguments, in its order; "" when they pass.
static std::string gemmProblem(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc) {
    auto opOk = [](int op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; };
    if (!opOk(ta)) return "transa " + std::to_string(ta) + " is not CUBLAS_OP_N (0), _T (1) or _C (2)";
    if (!opOk(tb)) return "transb " + std::to_string(tb) + " is not CUBLAS_OP_N (0), _T (1) or _C (2)";
    if (m < 0) return "m " + std::to_string(m) + " is negative";
    if (n < 0) return "n " + std::to_string(n) + " is negative";
    if (k < 0) return "k " + std::to_string(k) + " is negative";
    int rowsA = ta == CUBLAS_OP_N ? m : k, rowsB = tb == CUBLAS_OP_N ? k : n;
    if (lda < std::max(1, rowsA))
        return "lda " + std::to_string(lda) + " is less than max(1, " + (ta == CUBLAS_OP_N ? "m" : "k") + " = " +
               std::to_string(rowsA) + ") for transa " + opName(ta);
    if (ldb < std::max(1, rowsB))
        return "ldb " + std::to_string(ldb) + " is less than max(1, " + (tb == CUBLAS_OP_N ? "k" : "n") + " = " +
               std::to_string(rowsB) + ") for transb " + opName(tb);
    if (ldc < std::max(1, m))
        return "ldc " + std::to_string(ldc) + " is less than max(1, m = " + std::to_string(m) + ")";
    return "";
}

// C = alpha op(A) op(B) + beta C for one matrix of a batch. op(A) is packed first into rows of k
// (op(B) into columns of k), so the inner products run over contiguous memory whatever the operation.
static void gemm(int ta, int tb, int m, int n, int k, double alpha, const float* A, int lda, const float* B, int ldb,
                 double beta, float* C, int ldc, std::vector<float>& pa, std::vector<float>& pb) {
    bool product = alpha != 0 && k > 0;
    if (product) {
        pa.resize((size_t)m * k);
        pb.resize((size_t)n * k);
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
                pa[(size_t)i * k + p] = ta == CUBLAS_OP_N ? A[i + (size_t)p * lda] : A[p + (size_t)i * lda];
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++)
                pb[(size_t)j * k + p] = tb == CUBLAS_OP_N ? B[p + (size_t)j * ldb] : B[j + (size_t)p * ldb];
    }
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double acc = 0;
            if (product) {
                const float* a = &pa[(size_t)i * k];
                const float* b = &pb[(size_t)j * k];
                for (int p = 0; p < k; p++) acc += (double)a[p] * b[p];
            }
            float* c = &C[i + (size_t)j * ldc];
            double v = alpha * acc;
            if (beta != 0) v += beta * *c;
            *c = (float)v;
        }
}

static cublasStatus_t gemmBatched(const char* call, Handle* h, int ta, int tb, int m, int n, int k, const float* alpha,
                                  const float* A, int lda, long long strideA, const float* B, int ldb,
                                  long long strideB, const float* beta, float* C, int ldc, long long strideC,
                                  int batchCount) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle(call, h)) return s;
    std::string why = gemmProblem(ta, tb, m, n, k, lda, ldb, ldc);
    if (why.empty() && batchCount < 0) why = "batchCount " + std::to_string(batchCount) + " is negative";
    if (!why.empty()) return fail(CUBLAS_STATUS_INVALID_VALUE, std::string(call) + ": " + why);
    if (!alpha || !beta)
        return fail(CUBLAS_STATUS_INVALID_VALUE, std::string(call) + ": a null " + (alpha ? "beta" : "alpha"));
    if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;
    if (cublasStatus_t s = canRun(call, h)) return s;
    double a, b;
    if (cublasStatus_t s = scalar(call, "alpha", h, alpha, &a)) return s;
    if (cublasStatus_t s = scalar(call, "beta", h, beta, &b)) return s;
    size_t bytesA = a != 0 ? extent(ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda) : 0;
    size_t bytesB = a != 0 ? extent(tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb) : 0;
    size_t bytesC = extent(m, n, ldc);
    for (int i = 0; i < batchCount; i++) {
        std::string at = batchCount > 1 ? " of batch " + std::to_string(i) : "";
        if (bad(call, ("matrix A" + at).c_str(), A + i * strideA, bytesA) ||
            bad(call, ("matrix B" + at).c_str(), B + i * strideB, bytesB) ||
            bad(call, ("matrix C" + at).c_str(), C + i * strideC, bytesC))
            return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    std::vector<float> pa, pb;
    for (int i = 0; i < batchCount; i++)
        gemm(ta, tb, m, n, k, a, A + i * strideA, lda, B + i * strideB, ldb, b, C + i * strideC, ldc, pa, pb);
    return CUBLAS_STATUS_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// The handle.

API cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    SimLibLock lock;
    if (!handle) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasCreate: a null handle pointer");
    if (sim_lib_context("cublasCreate")) return CUBLAS_STATUS_NOT_INITIALIZED;
    Handle* h = new Handle();
    g_handles.insert(h);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasDestroy", h)) return s;
    g_handles.erase(h);
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetVersion_v2(cublasHandle_t, int* version) {
    if (!version) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetVersion: a null version pointer");
    *version = VERSION;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetStream_v2(cublasHandle_t h, void* stream) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasSetStream", h)) return s;
    if (sim_lib_stream("cublasSetStream", stream, 0)) return CUBLAS_STATUS_INVALID_VALUE;
    h->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetStream_v2(cublasHandle_t h, void** stream) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasGetStream", h)) return s;
    if (!stream) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetStream: a null stream pointer");
    *stream = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t h, int mode) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasSetPointerMode", h)) return s;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasSetPointerMode: mode " + std::to_string(mode) +
                                                     " is not CUBLAS_POINTER_MODE_HOST (0) or _DEVICE (1)");
    h->pointerMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t h, int* mode) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasGetPointerMode", h)) return s;
    if (!mode) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetPointerMode: a null mode pointer");
    *mode = h->pointerMode;
    return CUBLAS_STATUS_SUCCESS;
}

// Any math mode is accepted and changes nothing: results are computed one way (double accumulation).
API cublasStatus_t cublasSetMathMode(cublasHandle_t h, int mode) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasSetMathMode", h)) return s;
    int base = mode & ~CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    if (base < 0 || base > 3)
        return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasSetMathMode: mode " + std::to_string(mode) +
                                                     " is not a cublasMath_t (0 to 3, optionally | 16)");
    h->mathMode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

API cublasStatus_t cublasGetMathMode(cublasHandle_t h, int* mode) {
    SimLibLock lock;
    if (cublasStatus_t s = needHandle("cublasGetMathMode", h)) return s;
    if (!mode) return fail(CUBLAS_STATUS_INVALID_VALUE, "cublasGetMathMode: a null mode pointer");
    *mode = h->mathMode;
    return CUBLAS_STATUS_SUCCESS;
}

static const char* statusName(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS:
            return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED:
            return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED:
            return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE:
            return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH:
            return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR:
            return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED:
            return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR:
            return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED:
            return "CUBLAS_STATUS_NOT_SUPPORTED";
        default:
            return "CUBLAS_STATUS_UNKNOWN";
    }
}

API const char* cublasGetStatusName(cublasStatus_t s) {
    return statusName(s);
}

API const char* cublasGetStatusString(cublasStatus_t s) {
    return statusName(s);
}

// ---------------------------------------------------------------------------------------------------
// Level 3 and 2.

API cublasStatus_t cublasSgemm_v2(cublasHandle_t h, int transa, int transb, int m, int n, int k, const float* alpha,
                                  const float* A, int lda, const float* B, int ldb, const float* beta, float* C,
                                  int ldc) {
    return gemmBatched("cublasSgemm", h, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

API cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, int transa, int transb, int m, int n, int k,
                                             const float* alpha, const float* A, int lda, long long strideA,
                                             const float* B, int ldb, long long strideB, const float* beta, float* C,
                                             int ldc, long long strideC, int batchCount) {
    return gemmBatched("cublasSgemmStridedBatched", h, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB,
                       beta, C, ldc, strideC, batchCount);
}

// y = alpha op(A) x + beta y, A m x n. A negative increment walks its vector from the far end, as in BLAS.
API cublasStatus_t cublasSgemv_v2(cublasHandle_t h, int trans, int m, int n, const float* alpha, const float* A,
                                  int lda, const float* x, int incx, const float* beta, float* y, int incy) {
    const char* call = "cublasSgemv";
    SimLibLock lock;
    if (cublasStatus_t s = needHandle(call, h)) return s;
    std::string why;
    if (trans != CUBLAS_OP_N && trans != CUBLAS_OP_T && trans != CUBLAS_OP_C)
        why = "trans " + std::to_string(trans) + " is not CUBLAS_OP_N (0), _T (1) or _C (2)";
    else if (m < 0)
        why = "m " + std::to_string(m) + " is negative";
    else if (n < 0)
        why = "n " + std::to_string(n) + " is negative";
    else if (lda < std::max(1, m))
        why = "lda " + std::to_string(lda) + " is less than max(1, m = " + std::to_string(m) + ")";
    else if (incx == 0)
        why = "incx is 0";
    else if (incy == 0)
        why = "incy is 0";
    if (!why.empty()) return fail(CUBLAS_STATUS_INVALID_VALUE, std::string(call) + ": " + why);
    if (!alpha || !beta)
        return fail(CUBLAS_STATUS_INVALID_VALUE, std::string(call) + ": a null " + (alpha ? "beta" : "alpha"));
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (cublasStatus_t s = canRun(call, h)) return s;
    double a, b;
    if (cublasStatus_t s = scalar(call, "alpha", h, alpha, &a)) return s;
    if (cublasStatus_t s = scalar(call, "beta", h, beta, &b)) return s;
    int lenX = trans == CUBLAS_OP_N ? n : m, lenY = trans == CUBLAS_OP_N ? m : n;
    long long ax = incx < 0 ? -(long long)incx : incx, ay = incy < 0 ? -(long long)incy : incy;
    if (a != 0 && (bad(call, "matrix A", A, extent(m, n, lda)) || bad(call, "vector x", x, extent(1, lenX, ax))))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    if (bad(call, "vector y", y, extent(1, lenY, ay))) return CUBLAS_STATUS_EXECUTION_FAILED;
    auto xAt = [&](int i) { return (double)x[(incx > 0 ? i : lenX - 1 - i) * ax]; };
    for (int i = 0; i < lenY; i++) {
        double acc = 0;
        if (a != 0)
            for (int p = 0; p < lenX; p++)
                acc += (double)(trans == CUBLAS_OP_N ? A[i + (size_t)p * lda] : A[p + (size_t)i * lda]) * xAt(p);
        float* yi = &y[(incy > 0 ? i : lenY - 1 - i) * ay];
        double v = a * acc;
        if (b != 0) v += b * *yi;
        *yi = (float)v;
    }
    return CUBLAS_STATUS_SUCCESS;
}
