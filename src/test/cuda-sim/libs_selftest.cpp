// The self-test of the simulated cuBLAS and cuDNN (cublas.cpp, cudnn.cpp), run by libs-selftest.sh
// against the libraries build.sh made, on the simulated driver they check their operands through.
//
// cuBLAS: sgemm in every transpose combination, with leading dimensions larger than the rows, against a
// naive double product; beta = 0 over the driver's NaN-filled memory (no NaN may come through, and
// nothing outside C's m x n may be written); strided batches (a stride of 0 too), gemv with negative
// increments, scalars in device memory; argument errors. cuDNN: a 2-layer LSTM over sequences of unequal
// lengths (0 to maxSeqLength) against a straightforward double implementation of PyTorch's nn.LSTM,
// forward (y, hy, cy, and y at padding), and backward (dx, dhx, dcx and every weight and bias) against
// central differences of that implementation for a random linear functional of y, hy and cy; the
// weight addresses cudnnGetRNNWeightParams gives (shapes, no overlap, padding never read or written);
// the packed layout against the unpacked one; argument errors, the order of the backward calls, a wrong
// devSeqLengths, a refused stream capture, and a device fault that breaks the context. Every failing
// call must say exactly one line (captured and shown indented), every succeeding one none.
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

typedef unsigned long long CUdeviceptr;
extern "C" {
int cuInit(unsigned);
int cuDevicePrimaryCtxRetain(void**, int);
int cuDevicePrimaryCtxRelease_v2(int);
int cuDevicePrimaryCtxReset_v2(int);
int cuCtxSetCurrent(void*);
int cuMemAlloc_v2(CUdeviceptr*, size_t);
int cuMemFree_v2(CUdeviceptr);
int cuMemcpyHtoD_v2(CUdeviceptr, const void*, size_t);
int cuMemcpyDtoH_v2(void*, CUdeviceptr, size_t);
int cuStreamCreate(void**, unsigned);
int cuStreamDestroy_v2(void*);
int cuStreamBeginCapture_v2(void*, int);
int cuStreamEndCapture(void*, void**);

int cublasCreate_v2(void**);
int cublasDestroy_v2(void*);
int cublasGetVersion_v2(void*, int*);
int cublasSetStream_v2(void*, void*);
int cublasSetPointerMode_v2(void*, int);
int cublasSgemm_v2(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*,
                   float*, int);
int cublasSgemmStridedBatched(void*, int, int, int, int, int, const float*, const float*, int, long long, const float*,
                              int, long long, const float*, float*, int, long long, int);
int cublasSgemv_v2(void*, int, int, int, const float*, const float*, int, const float*, int, const float*, float*, int);

size_t cudnnGetVersion();
const char* cudnnGetErrorString(int);
int cudnnCreate(void**);
int cudnnDestroy(void*);
int cudnnSetStream(void*, void*);
int cudnnCreateTensorDescriptor(void**);
int cudnnDestroyTensorDescriptor(void*);
int cudnnSetTensorNdDescriptor(void*, int, int, const int*, const int*);
int cudnnGetTensorNdDescriptor(void*, int, int*, int*, int*, int*);
int cudnnCreateDropoutDescriptor(void**);
int cudnnDestroyDropoutDescriptor(void*);
int cudnnDropoutGetStatesSize(void*, size_t*);
int cudnnSetDropoutDescriptor(void*, void*, float, void*, size_t, unsigned long long);
int cudnnCreateRNNDescriptor(void**);
int cudnnDestroyRNNDescriptor(void*);
int cudnnSetRNNDescriptor_v8(void*, int, int, int, int, int, int, int, int, int32_t, int32_t, int32_t, int32_t, void*,
                             uint32_t);
int cudnnCreateRNNDataDescriptor(void**);
int cudnnDestroyRNNDataDescriptor(void*);
int cudnnSetRNNDataDescriptor(void*, int, int, int, int, int, const int*, void*);
int cudnnGetRNNWeightSpaceSize(void*, void*, size_t*);
int cudnnGetRNNTempSpaceSizes(void*, void*, int, void*, size_t*, size_t*);
int cudnnGetRNNWeightParams(void*, void*, int32_t, size_t, const void*, int32_t, void*, void**, void*, void**);
int cudnnRNNForward(void*, void*, int, const int32_t*, void*, const void*, void*, void*, void*, const void*, void*,
                    void*, const void*, void*, size_t, const void*, size_t, void*, size_t, void*);
int cudnnRNNBackwardData_v8(void*, void*, const int32_t*, void*, const void*, const void*, void*, void*, void*,
                            const void*, const void*, void*, void*, const void*, const void*, void*, size_t,
                            const void*, size_t, void*, size_t, void*);
int cudnnRNNBackwardWeights_v8(void*, void*, int, const int32_t*, void*, const void*, void*, const void*, void*,
                               const void*, size_t, void*, size_t, void*, size_t, void*);
}

enum { OP_N = 0, OP_T = 1, OP_C = 2 };
enum { BLAS_INVALID_VALUE = 7, BLAS_NOT_INITIALIZED = 1, BLAS_EXECUTION_FAILED = 13, BLAS_NOT_SUPPORTED = 15 };
enum { DNN_BAD_PARAM = 2000, DNN_NOT_SUPPORTED = 3000, DNN_EXECUTION_FAILED = 5000 };
enum { FWD_INFERENCE = 0, FWD_TRAINING = 1 };
enum { SEQ_UNPACKED = 0, SEQ_PACKED = 1 };

// ---------------------------------------------------------------------------------------------------
// Checks, and the lines a call says.

static int g_checks = 0, g_failures = 0;

static void check(bool ok, const char* fmt, ...) {
    g_checks++;
    if (ok) return;
    g_failures++;
    va_list a;
    va_start(a, fmt);
    fprintf(stdout, "FAIL: ");
    vfprintf(stdout, fmt, a);
    fprintf(stdout, "\n");
    va_end(a);
}

// Runs f with stderr captured: its status, and the lines it said.
static int said(const std::function<int()>& f, std::vector<std::string>* lines) {
    fflush(stderr);
    int saved = dup(2);
    FILE* tmp = tmpfile();
    dup2(fileno(tmp), 2);
    int status = f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    lines->clear();
    char buf[4096];
    while (fgets(buf, sizeof buf, tmp)) lines->push_back(buf);
    fclose(tmp);
    return status;
}

// A call that must succeed and say nothing.
static void ok(const char* what, const std::function<int()>& f) {
    std::vector<std::string> lines;
    int s = said(f, &lines);
    check(s == 0 && lines.empty(), "%s: status %d and %zu lines, expected 0 and none%s%s", what, s, lines.size(),
          lines.empty() ? "" : ": ", lines.empty() ? "" : lines[0].c_str());
}

// A call that must fail with status and say one line.
static void refused(const char* what, int status, const std::function<int()>& f) {
    std::vector<std::string> lines;
    int s = said(f, &lines);
    check(s == status && lines.size() == 1, "%s: status %d and %zu lines, expected %d and one", what, s, lines.size(),
          status);
    for (const std::string& l : lines) printf("  %s", l.c_str());
}

// ---------------------------------------------------------------------------------------------------
// Device memory.

struct Dev {
    CUdeviceptr p = 0;
    size_t bytes = 0;
    explicit Dev(size_t n) : bytes(n) {
        if (cuMemAlloc_v2(&p, n) != 0) {
            printf("cuMemAlloc of %zu bytes failed\n", n);
            exit(2);
        }
    }
    ~Dev() { cuMemFree_v2(p); }
    float* f() const { return (float*)p; }
    void put(const void* h) const { cuMemcpyHtoD_v2(p, h, bytes); }
    void put(const std::vector<float>& v) const { cuMemcpyHtoD_v2(p, v.data(), v.size() * sizeof(float)); }
    std::vector<float> get() const {
        std::vector<float> v(bytes / sizeof(float));
        cuMemcpyDtoH_v2(v.data(), p, bytes);
        return v;
    }
};

static std::mt19937_64 g_rng(20240611);
static float uniform(float lo, float hi) {
    return std::uniform_real_distribution<float>(lo, hi)(g_rng);
}
static std::vector<float> randoms(size_t n, float lo = -1, float hi = 1) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(lo, hi);
    return v;
}

// ---------------------------------------------------------------------------------------------------
// cuBLAS.

// op(M)[i][j] of a column-major matrix with leading dimension ld.
static double opAt(const std::vector<float>& M, int op, int ld, int i, int j) {
    return op == OP_N ? M[i + (size_t)j * ld] : M[j + (size_t)i * ld];
}

static void testGemm(void* blas, int ta, int tb, int m, int n, int k, int batch, long long strideA) {
    int rowsA = ta == OP_N ? m : k, colsA = ta == OP_N ? k : m, rowsB = tb == OP_N ? k : n, colsB = tb == OP_N ? n : k;
    int lda = rowsA + 2, ldb = rowsB + 1, ldc = m + 3;
    long long sizeA = (long long)lda * colsA, sizeB = (long long)ldb * colsB, sizeC = (long long)ldc * n;
    long long strideB = sizeB + 5, strideC = sizeC + 7;
    size_t nA = (size_t)(strideA * (batch - 1) + sizeA), nB = (size_t)(strideB * (batch - 1) + sizeB),
           nC = (size_t)(strideC * (batch - 1) + sizeC);
    std::vector<float> A = randoms(nA), B = randoms(nB);
    Dev dA(nA * 4), dB(nB * 4), dC(nC * 4);
    dA.put(A);
    dB.put(B);
    float alpha = 0.75f, beta = 0;
    char what[160];
    snprintf(what, sizeof what, "sgemm %c%c m %d n %d k %d batch %d strideA %lld", "NTC"[ta], "NTC"[tb], m, n, k, batch,
             strideA);
    if (batch == 1)
        ok(what,
           [&] { return cublasSgemm_v2(blas, ta, tb, m, n, k, &alpha, dA.f(), lda, dB.f(), ldb, &beta, dC.f(), ldc); });
    else
        ok(what, [&] {
            return cublasSgemmStridedBatched(blas, ta, tb, m, n, k, &alpha, dA.f(), lda, strideA, dB.f(), ldb, strideB,
                                             &beta, dC.f(), ldc, strideC, batch);
        });
    std::vector<float> C = dC.get();
    double worst = 0;
    size_t written = 0, nan = 0;
    for (int bi = 0; bi < batch; bi++) {
        std::vector<float> Ab(A.begin() + bi * strideA, A.end()), Bb(B.begin() + bi * strideB, B.end());
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double ref = 0, scale = 0;
                for (int p = 0; p < k; p++) {
                    double t = opAt(Ab, ta, lda, i, p) * opAt(Bb, tb, ldb, p, j);
                    ref += t;
                    scale += fabs(t);
                }
                ref *= alpha;
                double got = C[bi * strideC + i + (size_t)j * ldc];
                worst = std::max(worst, fabs(got - ref) / (alpha * scale + 1e-30));
            }
    }
    // Everything outside the m x n of each batch is untouched: still the driver's NaN.
    for (size_t e = 0; e < nC; e++) {
        long long bi = (long long)e / strideC, in = (long long)e % strideC;
        bool inside = bi < batch && in < sizeC && in % ldc < m;
        if (inside) written += !isnan(C[e]);
        if (!inside) nan += isnan(C[e]);
    }
    check(worst < 1e-6, "%s: relative error %g against the double product", what, worst);
    check(written == (size_t)batch * m * n, "%s: %zu of the %d results are numbers (beta = 0 must not read C's NaN)",
          what, written, batch * m * n);
    check(nan == nC - (size_t)batch * m * n, "%s: something outside C's m x n was written", what);
}

static void testBlas() {
    void* blas = nullptr;
    ok("cublasCreate", [&] { return cublasCreate_v2(&blas); });
    int version = 0;
    cublasGetVersion_v2(blas, &version);
    check(version == 130100, "cublasGetVersion: %d, expected 130100 (13.1.0)", version);
    for (int ta : {OP_N, OP_T, OP_C})
        for (int tb : {OP_N, OP_T, OP_C}) {
            testGemm(blas, ta, tb, 5, 4, 3, 1, 0);
            testGemm(blas, ta, tb, 17, 13, 11, 1, 0);
        }
    testGemm(blas, OP_T, OP_N, 6, 5, 4, 3, 70);
    testGemm(blas, OP_N, OP_T, 6, 5, 4, 3, 0);  // one A for every batch

    // beta != 0 reads C; alpha and beta from device memory.
    {
        int m = 3, n = 2, k = 4;
        std::vector<float> A = randoms(m * k), B = randoms(k * n), C = randoms(m * n);
        Dev dA(A.size() * 4), dB(B.size() * 4), dC(C.size() * 4), dS(8);
        dA.put(A);
        dB.put(B);
        dC.put(C);
        float scalars[2] = {2.0f, -0.5f};
        dS.put(scalars);
        ok("cublasSetPointerMode device", [&] { return cublasSetPointerMode_v2(blas, 1); });
        ok("sgemm with device scalars", [&] {
            return cublasSgemm_v2(blas, OP_N, OP_N, m, n, k, dS.f(), dA.f(), m, dB.f(), k, dS.f() + 1, dC.f(), m);
        });
        cublasSetPointerMode_v2(blas, 0);
        std::vector<float> got = dC.get();
        double worst = 0;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double ref = -0.5 * C[i + j * m];
                for (int p = 0; p < k; p++) ref += 2.0 * A[i + p * m] * B[p + j * k];
                worst = std::max(worst, fabs(got[i + j * m] - ref));
            }
        check(worst < 1e-5, "sgemm alpha 2 beta -0.5 from device memory: error %g", worst);
    }

    // gemv, both operations, negative increments, beta = 0 over NaN.
    for (int trans : {OP_N, OP_T})
        for (int inc : {1, -2}) {
            int m = 5, n = 3, lda = 7, lenX = trans == OP_N ? n : m, lenY = trans == OP_N ? m : n;
            std::vector<float> A = randoms(lda * n), x = randoms((lenX - 1) * abs(inc) + 1);
            Dev dA(A.size() * 4), dx(x.size() * 4), dy(((lenY - 1) * abs(inc) + 1) * 4);
            dA.put(A);
            dx.put(x);
            float alpha = 1.5f, beta = 0;
            char what[80];
            snprintf(what, sizeof what, "sgemv %c inc %d", "NT"[trans], inc);
            ok(what,
               [&] { return cublasSgemv_v2(blas, trans, m, n, &alpha, dA.f(), lda, dx.f(), inc, &beta, dy.f(), inc); });
            std::vector<float> y = dy.get();
            double worst = 0;
            for (int i = 0; i < lenY; i++) {
                double ref = 0;
                for (int p = 0; p < lenX; p++) {
                    double a = trans == OP_N ? A[i + p * lda] : A[p + i * lda];
                    ref += a * x[(inc > 0 ? p : lenX - 1 - p) * abs(inc)];
                }
                double got = y[(inc > 0 ? i : lenY - 1 - i) * abs(inc)];
                worst = std::max(worst, isnan(got) ? 1e30 : fabs(got - 1.5 * ref));
            }
            check(worst < 1e-5, "%s: error %g", what, worst);
        }

    // Arguments cuBLAS refuses.
    Dev d(64 * 4);
    float one = 1, zero = 0;
    refused("sgemm lda < m", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, 4, &one, d.f(), 3, d.f(), 4, &zero, d.f(), 4); });
    refused("sgemm ldb < n for transb T", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_T, 4, 5, 2, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    refused("sgemm ldc < m", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, 4, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 2); });
    refused("sgemm transa 7", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, 7, OP_N, 4, 4, 4, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    refused("sgemm k < 0", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, -1, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    refused("sgemm null alpha", BLAS_INVALID_VALUE,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, 4, nullptr, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    refused("sgemv incx 0", BLAS_INVALID_VALUE,
            [&] { return cublasSgemv_v2(blas, OP_N, 4, 4, &one, d.f(), 4, d.f(), 0, &zero, d.f(), 1); });
    refused("strided batched batchCount < 0", BLAS_INVALID_VALUE, [&] {
        return cublasSgemmStridedBatched(blas, OP_N, OP_N, 2, 2, 2, &one, d.f(), 2, 4, d.f(), 2, 4, &zero, d.f(), 2, 4,
                                         -1);
    });
    refused("cublasSetPointerMode 2", BLAS_INVALID_VALUE, [&] { return cublasSetPointerMode_v2(blas, 2); });

    // A stream destroyed under the handle.
    void* stream = nullptr;
    cuStreamCreate(&stream, 0);
    ok("cublasSetStream", [&] { return cublasSetStream_v2(blas, stream); });
    ok("sgemm on a stream",
       [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, 4, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    cuStreamDestroy_v2(stream);
    refused("sgemm on a destroyed stream", BLAS_EXECUTION_FAILED,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 4, 4, 4, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    cublasSetStream_v2(blas, nullptr);

    void* gone = nullptr;
    cublasCreate_v2(&gone);
    cublasDestroy_v2(gone);
    refused("sgemm on a destroyed handle", BLAS_NOT_INITIALIZED,
            [&] { return cublasSgemm_v2(gone, OP_N, OP_N, 4, 4, 4, &one, d.f(), 4, d.f(), 4, &zero, d.f(), 4); });
    ok("cublasDestroy", [&] { return cublasDestroy_v2(blas); });
}

// ---------------------------------------------------------------------------------------------------
// cuDNN: the reference LSTM (PyTorch's nn.LSTM, in double, one sequence at a time).

struct Lstm {
    int layers, input, hidden;
    // [layer][4 hidden][layer input], [layer][4 hidden][hidden], [layer][4 hidden] twice; rows i, f, g, o.
    std::vector<std::vector<double>> wih, whh, bih, bhh;
    int inputOf(int l) const { return l == 0 ? input : hidden; }
};

struct Batch {
    int maxT, batch;
    std::vector<int> lens;
    std::vector<double> x, hx, cx;  // x [t][b][input], hx and cx [layer][b][hidden]
};

struct Outputs {
    std::vector<double> y, hy, cy;  // y [t][b][hidden], at real steps only
};

static double sig(double v) {
    return 1 / (1 + exp(-v));
}

static Outputs reference(const Lstm& m, const Batch& in) {
    int H = m.hidden, B = in.batch;
    Outputs o;
    o.y.assign((size_t)in.maxT * B * H, 0);
    o.hy.assign((size_t)m.layers * B * H, 0);
    o.cy = o.hy;
    for (int b = 0; b < B; b++) {
        int T = in.lens[b];
        std::vector<std::vector<double>> seq(T);
        for (int t = 0; t < T; t++)
            seq[t].assign(in.x.begin() + ((size_t)t * B + b) * m.input,
                          in.x.begin() + ((size_t)t * B + b + 1) * m.input);
        for (int l = 0; l < m.layers; l++) {
            int n = m.inputOf(l);
            std::vector<double> h(in.hx.begin() + ((size_t)l * B + b) * H, in.hx.begin() + ((size_t)l * B + b + 1) * H);
            std::vector<double> c(in.cx.begin() + ((size_t)l * B + b) * H, in.cx.begin() + ((size_t)l * B + b + 1) * H);
            for (int t = 0; t < T; t++) {
                std::vector<double> a(4 * H);
                for (int r = 0; r < 4 * H; r++) {
                    a[r] = m.bih[l][r] + m.bhh[l][r];
                    for (int j = 0; j < n; j++) a[r] += m.wih[l][(size_t)r * n + j] * seq[t][j];
                    for (int j = 0; j < H; j++) a[r] += m.whh[l][(size_t)r * H + j] * h[j];
                }
                for (int r = 0; r < H; r++) {
                    double i = sig(a[r]), f = sig(a[H + r]), g = tanh(a[2 * H + r]), oo = sig(a[3 * H + r]);
                    c[r] = f * c[r] + i * g;
                    h[r] = oo * tanh(c[r]);
                }
                seq[t] = h;
            }
            for (int r = 0; r < H; r++) {
                o.hy[((size_t)l * B + b) * H + r] = h[r];
                o.cy[((size_t)l * B + b) * H + r] = c[r];
            }
        }
        for (int t = 0; t < T; t++)
            for (int r = 0; r < H; r++) o.y[((size_t)t * B + b) * H + r] = seq[t][r];
    }
    return o;
}

// The functional the backward test differentiates: Ry . y (real steps) + Rh . hy + Rc . cy.
struct Functional {
    int hidden;
    std::vector<double> ry, rh, rc;
    double operator()(const Batch& in, const Outputs& o) const {
        double v = 0;
        for (int b = 0; b < in.batch; b++)
            for (int t = 0; t < in.lens[b]; t++)
                for (int r = 0; r < hidden; r++) {
                    size_t at = ((size_t)t * in.batch + b) * hidden + r;
                    v += ry[at] * o.y[at];
                }
        for (size_t i = 0; i < rh.size(); i++) v += rh[i] * o.hy[i] + rc[i] * o.cy[i];
        return v;
    }
};

// ---------------------------------------------------------------------------------------------------
// cuDNN: descriptors and buffers of one problem.

struct Problem {
    void* dnn;
    Lstm m;
    Batch in;
    void *rnn = nullptr, *xDesc = nullptr, *yDesc = nullptr, *hDesc = nullptr, *dropout = nullptr;
    size_t weightBytes = 0, workBytes = 0, reserveBytes = 0;
    float yFill = -7.0f, xFill = 3.5f;
};

static void* tensor3(int a, int b, int c) {
    void* d;
    cudnnCreateTensorDescriptor(&d);
    int dims[3] = {a, b, c}, strides[3] = {b * c, c, 1};
    cudnnSetTensorNdDescriptor(d, 0, 3, dims, strides);
    return d;
}

static void* dataDesc(int layout, int maxT, int batch, int vector, const std::vector<int>& lens, float* fill) {
    void* d;
    cudnnCreateRNNDataDescriptor(&d);
    int s = cudnnSetRNNDataDescriptor(d, 0, layout, maxT, batch, vector, lens.data(), fill);
    check(s == 0, "cudnnSetRNNDataDescriptor: %d", s);
    return d;
}

static void* rnnDesc(const Lstm& m, void* dropout, unsigned auxFlags) {
    void* d;
    cudnnCreateRNNDescriptor(&d);
    int s =
        cudnnSetRNNDescriptor_v8(d, 0, 2, 2, 0, 0, 0, 0, 1, m.input, m.hidden, m.hidden, m.layers, dropout, auxFlags);
    check(s == 0, "cudnnSetRNNDescriptor_v8: %d", s);
    return d;
}

// The weight space's image: NaN everywhere (the padding must never be read), each parameter at the
// address cudnnGetRNNWeightParams gives; value(l, id, row, col) for matrices, col -1 for biases.
static std::vector<float> weightImage(const Problem& p, const std::function<float(int, int, int, int)>& value,
                                      void* base) {
    std::vector<float> w(p.weightBytes / 4, NAN);
    void *mD, *bD;
    cudnnCreateTensorDescriptor(&mD);
    cudnnCreateTensorDescriptor(&bD);
    for (int l = 0; l < p.m.layers; l++)
        for (int id = 0; id < 8; id++) {
            void *ma, *ba;
            cudnnGetRNNWeightParams(p.dnn, p.rnn, l, p.weightBytes, base, id, mD, &ma, bD, &ba);
            size_t mo = ((char*)ma - (char*)base) / 4, bo = ((char*)ba - (char*)base) / 4;
            int cols = id < 4 ? p.m.inputOf(l) : p.m.hidden;
            for (int r = 0; r < p.m.hidden; r++) {
                for (int c = 0; c < cols; c++) w[mo + (size_t)r * cols + c] = value(l, id, r, c);
                w[bo + r] = value(l, id, r, -1);
            }
        }
    cudnnDestroyTensorDescriptor(mD);
    cudnnDestroyTensorDescriptor(bD);
    return w;
}

// The parameter value(l, id, row, col) of the reference model.
static double& param(Lstm& m, int l, int id, int r, int c) {
    int q = id % 4, row = q * m.hidden + r;
    if (c < 0) return id < 4 ? m.bih[l][row] : m.bhh[l][row];
    return id < 4 ? m.wih[l][(size_t)row * m.inputOf(l) + c] : m.whh[l][(size_t)row * m.hidden + c];
}

static void testWeightParams(Problem& p) {
    void *mD, *bD;
    cudnnCreateTensorDescriptor(&mD);
    cudnnCreateTensorDescriptor(&bD);
    char* base = (char*)0x100000;  // addresses only: nothing is read
    std::vector<std::pair<size_t, size_t>> spans;
    size_t params = 0;
    bool shapes = true;
    for (int l = 0; l < p.m.layers; l++)
        for (int id = 0; id < 8; id++) {
            void *ma, *ba;
            int s = cudnnGetRNNWeightParams(p.dnn, p.rnn, l, p.weightBytes, base, id, mD, &ma, bD, &ba);
            check(s == 0, "cudnnGetRNNWeightParams layer %d id %d: %d", l, id, s);
            int type, nb, dims[3], strides[3];
            cudnnGetTensorNdDescriptor(mD, 3, &type, &nb, dims, strides);
            int cols = id < 4 ? p.m.inputOf(l) : p.m.hidden;
            shapes &= nb == 3 && dims[0] == 1 && dims[1] == p.m.hidden && dims[2] == cols && strides[2] == 1;
            cudnnGetTensorNdDescriptor(bD, 3, &type, &nb, dims, strides);
            shapes &= nb == 3 && dims[0] == 1 && dims[1] == p.m.hidden && dims[2] == 1;
            size_t mo = (char*)ma - base, bo = (char*)ba - base, mb = (size_t)p.m.hidden * cols * 4,
                   bb = p.m.hidden * 4;
            spans.push_back({mo, mo + mb});
            spans.push_back({bo, bo + bb});
            params += mb + bb;
            check(mo % 4 == 0 && bo % 4 == 0 && mo + mb <= p.weightBytes && bo + bb <= p.weightBytes,
                  "layer %d id %d: a parameter outside the weight space or misaligned", l, id);
            if (l == 0 && id == 0)
                check(mo != 0, "layer 0's W_ih of gate i is at the start, as PyTorch's order has it");
        }
    check(shapes, "cudnnGetRNNWeightParams: mDesc is not {1, hidden, cols} or bDesc not {1, hidden, 1}");
    std::sort(spans.begin(), spans.end());
    bool overlap = false;
    for (size_t i = 1; i < spans.size(); i++) overlap |= spans[i].first < spans[i - 1].second;
    check(!overlap, "cudnnGetRNNWeightParams: two parameters overlap");
    check(params < p.weightBytes, "the weight space (%zu bytes) has no padding beyond its %zu bytes of parameters",
          p.weightBytes, params);
    refused("cudnnGetRNNWeightParams pseudoLayer 2 of 2", DNN_BAD_PARAM,
            [&] { return cudnnGetRNNWeightParams(p.dnn, p.rnn, 2, p.weightBytes, base, 0, mD, nullptr, bD, nullptr); });
    refused("cudnnGetRNNWeightParams linLayerID 8", DNN_BAD_PARAM,
            [&] { return cudnnGetRNNWeightParams(p.dnn, p.rnn, 0, p.weightBytes, base, 8, mD, nullptr, bD, nullptr); });
    refused("cudnnGetRNNWeightParams weightSpaceSize short", DNN_BAD_PARAM, [&] {
        return cudnnGetRNNWeightParams(p.dnn, p.rnn, 0, p.weightBytes - 4, base, 0, mD, nullptr, bD, nullptr);
    });
    cudnnDestroyTensorDescriptor(mD);
    cudnnDestroyTensorDescriptor(bD);
}

static std::vector<float> toFloat(const std::vector<double>& v) {
    return std::vector<float>(v.begin(), v.end());
}

// Largest |a - b| over the real steps of [t][b][n] tensors, and the largest |b| there.
static double stepError(const std::vector<float>& a, const std::vector<double>& b, const Batch& in, int n,
                        double* largest = nullptr) {
    double e = 0, big = 0;
    for (int bi = 0; bi < in.batch; bi++)
        for (int t = 0; t < in.lens[bi]; t++)
            for (int j = 0; j < n; j++) {
                size_t at = ((size_t)t * in.batch + bi) * n + j;
                e = std::max(e, isnan(a[at]) ? 1e30 : fabs(a[at] - b[at]));
                big = std::max(big, fabs(b[at]));
            }
    if (largest) *largest = big;
    return e;
}

static double maxError(const std::vector<float>& a, const std::vector<double>& b, double* largest = nullptr) {
    double e = 0, big = 0;
    for (size_t i = 0; i < b.size(); i++) {
        e = std::max(e, isnan(a[i]) ? 1e30 : fabs(a[i] - b[i]));
        big = std::max(big, fabs(b[i]));
    }
    if (largest) *largest = big;
    return e;
}

// Gradients are checked entry by entry: within GRAD_TOLERANCE of the tensor's largest gradient (float32
// storage against central differences of the double reference, step EPS).
static const double GRAD_TOLERANCE = 1e-4, EPS = 1e-5;

static void testLstm(void* dnn) {
    Problem p;
    p.dnn = dnn;
    p.m = {2, 3, 4, {}, {}, {}, {}};
    for (int l = 0; l < p.m.layers; l++) {
        auto r = [&](size_t n) {
            std::vector<double> v(n);
            for (double& x : v) x = uniform(-0.6f, 0.6f);
            return v;
        };
        p.m.wih.push_back(r((size_t)4 * p.m.hidden * p.m.inputOf(l)));
        p.m.whh.push_back(r((size_t)4 * p.m.hidden * p.m.hidden));
        p.m.bih.push_back(r(4 * p.m.hidden));
        p.m.bhh.push_back(r(4 * p.m.hidden));
    }
    const int T = 5, B = 4, L = p.m.layers, H = p.m.hidden, In = p.m.input;
    p.in.maxT = T;
    p.in.batch = B;
    p.in.lens = {5, 2, 0, 4};  // unequal, unsorted, one empty
    for (size_t i = 0; i < (size_t)T * B * In; i++) p.in.x.push_back(uniform(-1, 1));
    for (size_t i = 0; i < (size_t)L * B * H; i++) {
        p.in.hx.push_back(uniform(-0.5f, 0.5f));
        p.in.cx.push_back(uniform(-0.5f, 0.5f));
    }
    // x is given in float: the reference takes the same values.
    for (double& v : p.in.x) v = (float)v;
    for (double& v : p.in.hx) v = (float)v;
    for (double& v : p.in.cx) v = (float)v;

    ok("cudnnCreateDropoutDescriptor", [&] { return cudnnCreateDropoutDescriptor(&p.dropout); });
    ok("cudnnSetDropoutDescriptor 0, no states",
       [&] { return cudnnSetDropoutDescriptor(p.dropout, dnn, 0.0f, nullptr, 0, 1); });
    p.rnn = rnnDesc(p.m, p.dropout, 1);
    p.xDesc = dataDesc(SEQ_UNPACKED, T, B, In, p.in.lens, &p.xFill);
    p.yDesc = dataDesc(SEQ_UNPACKED, T, B, H, p.in.lens, &p.yFill);
    p.hDesc = tensor3(L, B, H);
    ok("cudnnGetRNNWeightSpaceSize", [&] { return cudnnGetRNNWeightSpaceSize(dnn, p.rnn, &p.weightBytes); });
    ok("cudnnGetRNNTempSpaceSizes",
       [&] { return cudnnGetRNNTempSpaceSizes(dnn, p.rnn, FWD_TRAINING, p.xDesc, &p.workBytes, &p.reserveBytes); });
    size_t inferenceReserve = 1;
    cudnnGetRNNTempSpaceSizes(dnn, p.rnn, FWD_INFERENCE, p.xDesc, nullptr, &inferenceReserve);
    check(inferenceReserve == 0, "inference needs a reserve space of %zu bytes", inferenceReserve);
    testWeightParams(p);

    Dev w(p.weightBytes), dw(p.weightBytes), work(p.workBytes), reserve(p.reserveBytes);
    Dev x((size_t)T * B * In * 4), y((size_t)T * B * H * 4), hx((size_t)L * B * H * 4), cx(hx.bytes), hy(hx.bytes),
        cy(hx.bytes), lens(B * 4);
    auto pw = [&](int l, int id, int r, int c) { return (float)param(p.m, l, id, r, c); };
    w.put(weightImage(p, pw, w.f()));
    x.put(toFloat(p.in.x));
    hx.put(toFloat(p.in.hx));
    cx.put(toFloat(p.in.cx));
    lens.put(p.in.lens.data());
    auto forward = [&](int mode, void* reserveSpace) {
        return cudnnRNNForward(dnn, p.rnn, mode, (const int32_t*)lens.f(), p.xDesc, x.f(), p.yDesc, y.f(), p.hDesc,
                               hx.f(), hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(), p.workBytes, work.f(),
                               p.reserveBytes, reserveSpace);
    };

    // Forward against the reference.
    Outputs ref = reference(p.m, p.in);
    ok("cudnnRNNForward inference", [&] { return forward(FWD_INFERENCE, nullptr); });
    std::vector<float> yInference = y.get();
    ok("cudnnRNNForward training", [&] { return forward(FWD_TRAINING, reserve.f()); });
    std::vector<float> yGot = y.get(), hyGot = hy.get(), cyGot = cy.get();
    check(yGot == yInference, "training and inference forwards differ");
    double ey = stepError(yGot, ref.y, p.in, H), eh = maxError(hyGot, ref.hy), ec = maxError(cyGot, ref.cy);
    printf("lstm forward: largest error y %.2g, hy %.2g, cy %.2g\n", ey, eh, ec);
    check(ey < 1e-5 && eh < 1e-5 && ec < 1e-5, "forward against the reference: y %g hy %g cy %g", ey, eh, ec);
    size_t fills = 0, padding = 0;
    for (int b = 0; b < B; b++)
        for (int t = p.in.lens[b]; t < T; t++)
            for (int r = 0; r < H; r++, padding++) fills += yGot[((size_t)t * B + b) * H + r] == p.yFill;
    check(fills == padding, "%zu of %zu values of y at padding are yDesc's paddingFill", fills, padding);

    // Backward against central differences of the reference.
    Functional J{H};
    for (size_t i = 0; i < (size_t)T * B * H; i++) J.ry.push_back((float)uniform(-1, 1));
    for (size_t i = 0; i < (size_t)L * B * H; i++) {
        J.rh.push_back((float)uniform(-1, 1));
        J.rc.push_back((float)uniform(-1, 1));
    }
    std::vector<float> dyHost = toFloat(J.ry);
    for (int b = 0; b < B; b++)
        for (int t = p.in.lens[b]; t < T; t++)
            for (int r = 0; r < H; r++) dyHost[((size_t)t * B + b) * H + r] = 1e30f;  // must not be read
    Dev dy(y.bytes), dx(x.bytes), dhy(hx.bytes), dcy(hx.bytes), dhx(hx.bytes), dcx(hx.bytes);
    dy.put(dyHost);
    dhy.put(toFloat(J.rh));
    dcy.put(toFloat(J.rc));
    auto backwardData = [&](const Dev& hxArg) {
        return cudnnRNNBackwardData_v8(dnn, p.rnn, (const int32_t*)lens.f(), p.yDesc, y.f(), dy.f(), p.xDesc, dx.f(),
                                       p.hDesc, hxArg.f(), dhy.f(), dhx.f(), p.hDesc, cx.f(), dcy.f(), dcx.f(),
                                       p.weightBytes, w.f(), p.workBytes, work.f(), p.reserveBytes, reserve.f());
    };
    auto backwardWeights = [&](int mode) {
        return cudnnRNNBackwardWeights_v8(dnn, p.rnn, mode, (const int32_t*)lens.f(), p.xDesc, x.f(), p.hDesc, hx.f(),
                                          p.yDesc, y.f(), p.weightBytes, dw.f(), p.workBytes, work.f(), p.reserveBytes,
                                          reserve.f());
    };
    refused("cudnnRNNBackwardWeights_v8 before backward data", DNN_BAD_PARAM, [&] { return backwardWeights(0); });
    ok("cudnnRNNBackwardData_v8", [&] { return backwardData(hx); });
    // dw starts at 0.25 (ADD adds to it), its padding NaN (never written).
    const float start = 0.25f;
    dw.put(weightImage(
        p, [&](int, int, int, int) { return start; }, dw.f()));
    refused("cudnnRNNBackwardWeights_v8 CUDNN_WGRAD_MODE_SET", DNN_NOT_SUPPORTED, [&] { return backwardWeights(1); });
    ok("cudnnRNNBackwardWeights_v8", [&] { return backwardWeights(0); });

    auto fd = [&](double* v) {
        double keep = *v;
        *v = keep + EPS;
        double plus = J(p.in, reference(p.m, p.in));
        *v = keep - EPS;
        double minus = J(p.in, reference(p.m, p.in));
        *v = keep;
        return (plus - minus) / (2 * EPS);
    };
    struct Score {
        double error = 0, largest = 0;
        void add(double got, double want) {
            error = std::max(error, isnan(got) ? 1e30 : fabs(got - want));
            largest = std::max(largest, fabs(want));
        }
        bool good() const { return error <= GRAD_TOLERANCE * largest + 1e-7; }
    };
    auto report = [&](const char* name, const Score& s) {
        printf("lstm gradient %-4s: largest %.3g, largest error %.2g (%.2g of the largest)\n", name, s.largest, s.error,
               s.error / (s.largest > 0 ? s.largest : 1));
        check(s.good(), "gradient of %s: error %g against central differences, largest %g", name, s.error, s.largest);
    };
    std::vector<float> dxGot = dx.get(), dhxGot = dhx.get(), dcxGot = dcx.get(), dwGot = dw.get();
    Score sx, shx, scx, sw;
    size_t dxFills = 0, dxPadding = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int j = 0; j < In; j++) {
                size_t at = ((size_t)t * B + b) * In + j;
                if (t < p.in.lens[b])
                    sx.add(dxGot[at], fd(&p.in.x[at]));
                else
                    dxPadding++, dxFills += dxGot[at] == p.xFill;
            }
    for (size_t i = 0; i < p.in.hx.size(); i++) {
        shx.add(dhxGot[i], fd(&p.in.hx[i]));
        scx.add(dcxGot[i], fd(&p.in.cx[i]));
    }
    void *mD = nullptr, *bD = nullptr;
    size_t untouched = 0, pads = 0;
    std::vector<bool> isParam(p.weightBytes / 4, false);
    for (int l = 0; l < L; l++)
        for (int id = 0; id < 8; id++) {
            void *ma, *ba;
            cudnnGetRNNWeightParams(dnn, p.rnn, l, p.weightBytes, dw.f(), id, mD, &ma, bD, &ba);
            size_t mo = ((char*)ma - (char*)dw.f()) / 4, bo = ((char*)ba - (char*)dw.f()) / 4;
            int cols = id < 4 ? p.m.inputOf(l) : H;
            for (int r = 0; r < H; r++) {
                for (int c = 0; c < cols; c++) {
                    size_t at = mo + (size_t)r * cols + c;
                    isParam[at] = true;
                    sw.add((double)dwGot[at] - start, fd(&param(p.m, l, id, r, c)));
                }
                isParam[bo + r] = true;
                sw.add((double)dwGot[bo + r] - start, fd(&param(p.m, l, id, r, -1)));
            }
        }
    for (size_t i = 0; i < isParam.size(); i++)
        if (!isParam[i]) pads++, untouched += isnan(dwGot[i]);
    report("x", sx);
    report("hx", shx);
    report("cx", scx);
    report("W", sw);
    check(dxFills == dxPadding, "%zu of %zu values of dx at padding are xDesc's paddingFill", dxFills, dxPadding);
    check(untouched == pads, "backward weights wrote %zu of the weight space's %zu floats of padding", pads - untouched,
          pads);

    // The packed layout (sequences sorted from the longest down) gives the unpacked results.
    {
        std::vector<int> order(B);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p.in.lens[a] > p.in.lens[b]; });
        std::vector<int> sorted(B);
        for (int j = 0; j < B; j++) sorted[j] = p.in.lens[order[j]];
        std::vector<float> xp, hxp((size_t)L * B * H), cxp(hxp.size());
        for (int t = 0; t < T; t++)
            for (int j = 0; j < B; j++)
                if (t < sorted[j])
                    for (int i = 0; i < In; i++) xp.push_back((float)p.in.x[((size_t)t * B + order[j]) * In + i]);
        for (int l = 0; l < L; l++)
            for (int j = 0; j < B; j++)
                for (int r = 0; r < H; r++) {
                    hxp[((size_t)l * B + j) * H + r] = (float)p.in.hx[((size_t)l * B + order[j]) * H + r];
                    cxp[((size_t)l * B + j) * H + r] = (float)p.in.cx[((size_t)l * B + order[j]) * H + r];
                }
        void* rnnPacked = rnnDesc(p.m, nullptr, 0);
        void* xPacked = dataDesc(SEQ_PACKED, T, B, In, sorted, nullptr);
        void* yPacked = dataDesc(SEQ_PACKED, T, B, H, sorted, nullptr);
        size_t steps = xp.size() / In, work2 = 0;
        cudnnGetRNNTempSpaceSizes(dnn, rnnPacked, FWD_INFERENCE, xPacked, &work2, nullptr);
        Dev dxp(xp.size() * 4), dyp(steps * H * 4), dhxp(hx.bytes), dcxp(hx.bytes), dhyp(hx.bytes), dlens(B * 4),
            dwork(work2);
        dxp.put(xp);
        dhxp.put(hxp);
        dcxp.put(cxp);
        dlens.put(sorted.data());
        ok("cudnnRNNForward packed", [&] {
            return cudnnRNNForward(dnn, rnnPacked, FWD_INFERENCE, (const int32_t*)dlens.f(), xPacked, dxp.f(), yPacked,
                                   dyp.f(), p.hDesc, dhxp.f(), dhyp.f(), p.hDesc, dcxp.f(), nullptr, p.weightBytes,
                                   w.f(), work2, dwork.f(), 0, nullptr);
        });
        std::vector<float> yp = dyp.get(), hyp = dhyp.get();
        double e = 0;
        size_t v = 0;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < B; j++)
                if (t < sorted[j]) {
                    for (int r = 0; r < H; r++)
                        e = std::max(e, (double)fabsf(yp[v * H + r] - yGot[((size_t)t * B + order[j]) * H + r]));
                    v++;
                }
        for (int l = 0; l < L; l++)
            for (int j = 0; j < B; j++)
                for (int r = 0; r < H; r++)
                    e = std::max(
                        e, (double)fabsf(hyp[((size_t)l * B + j) * H + r] - hyGot[((size_t)l * B + order[j]) * H + r]));
        check(e == 0, "the packed layout differs from the unpacked one by %g", e);
        refused("packed layout with lengths not sorted", DNN_BAD_PARAM, [&] {
            void* d;
            cudnnCreateRNNDataDescriptor(&d);
            int s = cudnnSetRNNDataDescriptor(d, 0, SEQ_PACKED, T, B, In, p.in.lens.data(), nullptr);
            cudnnDestroyRNNDataDescriptor(d);
            return s;
        });
        refused("unpacked layout without CUDNN_RNN_PADDED_IO_ENABLED", DNN_BAD_PARAM,
                [&] { return cudnnGetRNNTempSpaceSizes(dnn, rnnPacked, FWD_TRAINING, p.xDesc, &work2, nullptr); });
        cudnnDestroyRNNDataDescriptor(xPacked);
        cudnnDestroyRNNDataDescriptor(yPacked);
        cudnnDestroyRNNDescriptor(rnnPacked);
    }

    // What cuDNN refuses, and what the simulator refuses beyond it.
    {
        void* d;
        cudnnCreateRNNDescriptor(&d);
        auto set = [&](int algo, int cell, int bias, int proj) {
            return cudnnSetRNNDescriptor_v8(d, algo, cell, bias, 0, 0, 0, 0, 0, In, H, proj, L, nullptr, 1);
        };
        refused("cellMode CUDNN_GRU", DNN_NOT_SUPPORTED, [&] { return set(0, 3, 2, H); });
        refused("cellMode 9", DNN_BAD_PARAM, [&] { return set(0, 9, 2, H); });
        refused("biasMode CUDNN_RNN_SINGLE_INP_BIAS", DNN_NOT_SUPPORTED, [&] { return set(0, 2, 1, H); });
        refused("algo CUDNN_RNN_ALGO_PERSIST_STATIC", DNN_NOT_SUPPORTED, [&] { return set(1, 2, 2, H); });
        refused("projSize < hiddenSize", DNN_NOT_SUPPORTED, [&] { return set(0, 2, 2, H - 1); });
        refused("projSize > hiddenSize", DNN_BAD_PARAM, [&] { return set(0, 2, 2, H + 1); });
        cudnnDestroyRNNDescriptor(d);
        refused("dropout 0.5", DNN_NOT_SUPPORTED,
                [&] { return cudnnSetDropoutDescriptor(p.dropout, dnn, 0.5f, nullptr, 0, 1); });
        size_t states = 0;
        cudnnDropoutGetStatesSize(dnn, &states);
        Dev dstates(states);
        ok("cudnnSetDropoutDescriptor with states",
           [&] { return cudnnSetDropoutDescriptor(p.dropout, dnn, 0.0f, dstates.f(), states, 7); });
        refused("a destroyed tensor descriptor", DNN_BAD_PARAM, [&] {
            void* t = tensor3(1, 2, 3);
            cudnnDestroyTensorDescriptor(t);
            int type, nb, dims[3], strides[3];
            return cudnnGetTensorNdDescriptor(t, 3, &type, &nb, dims, strides);
        });
        refused("a 2-D tensor", DNN_NOT_SUPPORTED, [&] {
            void* t;
            cudnnCreateTensorDescriptor(&t);
            int dims[2] = {2, 3}, strides[2] = {3, 1};
            int s = cudnnSetTensorNdDescriptor(t, 0, 2, dims, strides);
            cudnnDestroyTensorDescriptor(t);
            return s;
        });
        refused("hDesc of the wrong batch", DNN_BAD_PARAM, [&] {
            void* wrong = tensor3(L, B + 1, H);
            int s = cudnnRNNForward(dnn, p.rnn, FWD_INFERENCE, (const int32_t*)lens.f(), p.xDesc, x.f(), p.yDesc, y.f(),
                                    wrong, hx.f(), hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(), p.workBytes,
                                    work.f(), 0, nullptr);
            cudnnDestroyTensorDescriptor(wrong);
            return s;
        });
        refused("workSpaceSize short", DNN_BAD_PARAM, [&] {
            return cudnnRNNForward(dnn, p.rnn, FWD_INFERENCE, (const int32_t*)lens.f(), p.xDesc, x.f(), p.yDesc, y.f(),
                                   p.hDesc, hx.f(), hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(),
                                   p.workBytes - 4, work.f(), 0, nullptr);
        });
        refused("reserveSpaceSize short", DNN_BAD_PARAM, [&] {
            return cudnnRNNForward(dnn, p.rnn, FWD_TRAINING, (const int32_t*)lens.f(), p.xDesc, x.f(), p.yDesc, y.f(),
                                   p.hDesc, hx.f(), hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(), p.workBytes,
                                   work.f(), p.reserveBytes - 4, reserve.f());
        });
        std::vector<int> wrongLens = p.in.lens;
        wrongLens[1]++;
        Dev badLens(B * 4);
        badLens.put(wrongLens.data());
        refused("devSeqLengths unlike the descriptors'", DNN_BAD_PARAM, [&] {
            return cudnnRNNForward(dnn, p.rnn, FWD_INFERENCE, (const int32_t*)badLens.f(), p.xDesc, x.f(), p.yDesc,
                                   y.f(), p.hDesc, hx.f(), hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(),
                                   p.workBytes, work.f(), 0, nullptr);
        });
        refused("devSeqLengths null", DNN_BAD_PARAM, [&] {
            return cudnnRNNForward(dnn, p.rnn, FWD_INFERENCE, nullptr, p.xDesc, x.f(), p.yDesc, y.f(), p.hDesc, hx.f(),
                                   hy.f(), p.hDesc, cx.f(), cy.f(), p.weightBytes, w.f(), p.workBytes, work.f(), 0,
                                   nullptr);
        });
        Dev otherHx(hx.bytes);
        otherHx.put(randoms(hx.bytes / 4));
        refused("backward data with another hx than the forward's", DNN_BAD_PARAM,
                [&] { return backwardData(otherHx); });
        Dev fresh(p.reserveBytes);
        refused("backward data on a reserve space no forward filled", DNN_BAD_PARAM, [&] {
            return cudnnRNNBackwardData_v8(dnn, p.rnn, (const int32_t*)lens.f(), p.yDesc, y.f(), dy.f(), p.xDesc,
                                           dx.f(), p.hDesc, hx.f(), dhy.f(), dhx.f(), p.hDesc, cx.f(), dcy.f(), dcx.f(),
                                           p.weightBytes, w.f(), p.workBytes, work.f(), p.reserveBytes, fresh.f());
        });
    }

    // A capturing stream refuses library work, and the capture ends invalidated.
    {
        void* stream;
        cuStreamCreate(&stream, 0);
        ok("cudnnSetStream", [&] { return cudnnSetStream(dnn, stream); });
        cuStreamBeginCapture_v2(stream, 0);
        refused("cudnnRNNForward on a capturing stream", DNN_NOT_SUPPORTED,
                [&] { return forward(FWD_INFERENCE, nullptr); });
        void* graph = nullptr;
        int s = cuStreamEndCapture(stream, &graph);
        check(s == 901, "the capture ends with %d, expected CUDA_ERROR_STREAM_CAPTURE_INVALIDATED (901)", s);
        cudnnSetStream(dnn, nullptr);
        cuStreamDestroy_v2(stream);
    }
    cudnnDestroyTensorDescriptor(p.hDesc);
    cudnnDestroyRNNDataDescriptor(p.xDesc);
    cudnnDestroyRNNDataDescriptor(p.yDesc);
    cudnnDestroyRNNDescriptor(p.rnn);
    cudnnDestroyDropoutDescriptor(p.dropout);
}

// Last: an operand outside live memory is a device fault; the context stays broken until it is reset.
static void testFault(void* dnn) {
    void* blas;
    cublasCreate_v2(&blas);
    Dev small(16 * 4), big(64 * 4);
    float one = 1, zero = 0;
    refused("sgemm writing past C's allocation", BLAS_EXECUTION_FAILED, [&] {
        return cublasSgemm_v2(blas, OP_N, OP_N, 8, 8, 8, &one, big.f(), 8, big.f(), 8, &zero, small.f(), 8);
    });
    refused("sgemm after the fault", BLAS_EXECUTION_FAILED,
            [&] { return cublasSgemm_v2(blas, OP_N, OP_N, 2, 2, 2, &one, big.f(), 2, big.f(), 2, &zero, big.f(), 2); });
    void* dropout;
    cudnnCreateDropoutDescriptor(&dropout);
    refused("cuDNN work after the fault", DNN_EXECUTION_FAILED,
            [&] { return cudnnSetDropoutDescriptor(dropout, dnn, 0.0f, big.f(), 1 << 20, 1); });
    cudnnDestroyDropoutDescriptor(dropout);
    CUdeviceptr p;
    check(cuMemAlloc_v2(&p, 4) == 700, "the driver does not report the library's fault (700) on its next call");
    cublasDestroy_v2(blas);
}

int main() {
    void* ctx;
    if (cuInit(0) != 0 || cuDevicePrimaryCtxRetain(&ctx, 0) != 0 || cuCtxSetCurrent(ctx) != 0) {
        printf("the simulated driver does not start\n");
        return 2;
    }
    check(cudnnGetVersion() == 91400, "cudnnGetVersion: %zu, expected 91400 (9.14.0)", cudnnGetVersion());
    check(strcmp(cudnnGetErrorString(2000), "CUDNN_STATUS_BAD_PARAM") == 0, "cudnnGetErrorString(2000): %s",
          cudnnGetErrorString(2000));
    testBlas();
    void* dnn = nullptr;
    ok("cudnnCreate", [&] { return cudnnCreate(&dnn); });
    testLstm(dnn);
    testFault(dnn);
    cudnnDestroy(dnn);
    cuDevicePrimaryCtxReset_v2(0);
    cuDevicePrimaryCtxRelease_v2(0);
    printf("libs-selftest: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
