package org.reptilegen.engine.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import jcuda.jcublas.cublasStatus;
import jcuda.runtime.cudaStream_t;

/**
 * cuBLAS (through JCublas2) on an engine's stream: the dense products of the lstm baseline's output layer.
 * Matrices are row-major as the engine keeps them; {@link #gemm} states a product in those terms and
 * hands cuBLAS the column-major view of the same memory. Every status is checked into a one-line
 * {@link DeviceException} naming the product.
 */
final class Cublas implements AutoCloseable {
    private final cublasHandle handle = new cublasHandle();
    private boolean open;
    private static final Pointer ONE = Pointer.to(new float[] {1f}), ZERO = Pointer.to(new float[] {0f});

    Cublas(Device dev) {
        String problem = NvidiaLibraries.cublasProblem();
        if (problem != null) throw new DeviceException(problem);
        check(JCublas2.cublasCreate(handle), "cublasCreate", "creating a cuBLAS handle");
        open = true;
        check(JCublas2.cublasSetStream(handle, new cudaStream_t(dev.stream)), "cublasSetStream", "the engine's stream");
    }

    /**
     * C = op(A) op(B) (beta 0) or C += op(A) op(B) (beta 1), row-major: C is [m x n], op(A) [m x k],
     * op(B) [k x n]; transA means A is stored [k x m] (and read transposed), likewise transB [n x k].
     * Leading dimensions are the stored rows' lengths.
     */
    void gemm(
            String what,
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            CUdeviceptr a,
            CUdeviceptr b,
            boolean accumulate,
            CUdeviceptr c) {
        // Row-major C = A B is column-major C^T = B^T A^T: cuBLAS computes [n x m] from B's and A's views.
        int lda = transA ? m : k, ldb = transB ? k : n;
        check(
                JCublas2.cublasSgemm(
                        handle,
                        transB ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        transA ? cublasOperation.CUBLAS_OP_T : cublasOperation.CUBLAS_OP_N,
                        n,
                        m,
                        k,
                        ONE,
                        b,
                        ldb,
                        a,
                        lda,
                        accumulate ? ONE : ZERO,
                        c,
                        n),
                "cublasSgemm",
                what);
    }

    /** A failing status as one line naming the call (and whether the bound library lacks it) and what it did. */
    static void check(int status, String call, String what) {
        if (status == cublasStatus.CUBLAS_STATUS_SUCCESS) return;
        try {
            NvidiaLibraries.checkCublas(status, call);
        } catch (DeviceException e) {
            throw new DeviceException(e.getMessage() + " (" + what + ")");
        }
    }

    @Override
    public void close() {
        if (!open) return;
        open = false;
        check(JCublas2.cublasDestroy(handle), "cublasDestroy", "the engine's cuBLAS handle");
    }
}
