package org.reptilegen.engine.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import java.util.ArrayList;
import java.util.List;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasOperation;
import org.reptilegen.util.Norms;
import org.reptilegen.util.Rng;

/**
 * doctor's check that cuBLAS computes on GPU 0 through JCublas2 and the forwarding library: C = op(A) op(B) with
 * SGEMM, M x N x K = {@value #M} x {@value #N} x {@value #K}, column-major, in all four transpose combinations,
 * against the product of the same floats in float64 on the host.
 */
public final class CublasCheck {
    private CublasCheck() {}

    public static final int M = 64, N = 48, K = 40;

    /**
     * Relative 2-norm error bound of each float32 product against float64. The inputs are the same floats, so the
     * error is the float32 sums' rounding, about sqrt(K) * 2^-24 (4e-7) relative; a GPU that computed in TF32
     * (10-bit mantissas, 1e-3) or read a wrong layout would be far above it.
     */
    public static final double BOUND = 1e-5;

    /**
     * @param failure null when every combination is within {@link #BOUND}, else one line
     * @param errors each combination's relative error, e.g. "NN 1.9e-08, NT 2.0e-08, TN 1.8e-08, TT 2.1e-08"
     */
    public record Result(String failure, String errors) {}

    /** Runs the check on GPU 0 (its primary context, retained and released here). Never throws. */
    public static Result sgemm() {
        String problem = NvidiaLibraries.cublasProblem();
        if (problem != null) return new Result(problem, null);
        Rng r = Rng.of(7);
        float[] a = new float[M * K], b = new float[K * N];
        for (int i = 0; i < a.length; i++) a[i] = (float) (2 * r.nextDouble() - 1);
        for (int i = 0; i < b.length; i++) b[i] = (float) (2 * r.nextDouble() - 1);
        CUdevice device = new CUdevice();
        CUcontext context = new CUcontext();
        cublasHandle handle = new cublasHandle();
        CUdeviceptr da = new CUdeviceptr(), db = new CUdeviceptr(), dc = new CUdeviceptr();
        List<Runnable> release = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        String failure = null;
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            cuDeviceGet(device, 0);
            cuDevicePrimaryCtxRetain(context, device);
            release.add(() -> cuDevicePrimaryCtxRelease(device));
            cuCtxSetCurrent(context);
            for (CUdeviceptr p : List.of(da, db, dc)) {
                long bytes = (long) Float.BYTES * (p == da ? a.length : p == db ? b.length : M * N);
                cuMemAlloc(p, bytes);
                release.add(0, () -> cuMemFree(p));
            }
            cuMemcpyHtoD(da, Pointer.to(a), (long) Float.BYTES * a.length);
            cuMemcpyHtoD(db, Pointer.to(b), (long) Float.BYTES * b.length);
            NvidiaLibraries.checkCublas(JCublas2.cublasCreate(handle), "cublasCreate");
            release.add(0, () -> JCublas2.cublasDestroy(handle));
            Pointer one = Pointer.to(new float[] {1}), zero = Pointer.to(new float[] {0});
            for (int ta : new int[] {cublasOperation.CUBLAS_OP_N, cublasOperation.CUBLAS_OP_T})
                for (int tb : new int[] {cublasOperation.CUBLAS_OP_N, cublasOperation.CUBLAS_OP_T}) {
                    String name = (ta == cublasOperation.CUBLAS_OP_N ? "N" : "T")
                            + (tb == cublasOperation.CUBLAS_OP_N ? "N" : "T");
                    int lda = ta == cublasOperation.CUBLAS_OP_N ? M : K;
                    int ldb = tb == cublasOperation.CUBLAS_OP_N ? K : N;
                    NvidiaLibraries.checkCublas(
                            JCublas2.cublasSgemm(handle, ta, tb, M, N, K, one, da, lda, db, ldb, zero, dc, M),
                            "cublasSgemm (" + name + ")");
                    cuCtxSynchronize();
                    float[] c = new float[M * N];
                    cuMemcpyDtoH(Pointer.to(c), dc, (long) Float.BYTES * c.length);
                    double e = Norms.relativeError(
                            widen(c),
                            product(a, b, ta == cublasOperation.CUBLAS_OP_T, tb == cublasOperation.CUBLAS_OP_T));
                    errors.add(name + " " + String.format("%.1e", e));
                    if (!(e < BOUND) && failure == null)
                        failure = "cuBLAS SGEMM " + name + " (" + M + "x" + N + "x" + K + ") on GPU 0 is " + e
                                + " (relative) from the float64 product, over " + BOUND;
                }
        } catch (CudaException | DeviceException e) {
            failure = "cuBLAS SGEMM on GPU 0 failed: " + e.getMessage();
        }
        for (Runnable step : release) {
            try {
                step.run();
            } catch (CudaException e) {
                if (failure == null) failure = "releasing cuBLAS SGEMM's memory on GPU 0 failed: " + e.getMessage();
            }
        }
        return new Result(failure, String.join(", ", errors));
    }

    /**
     * op(A) op(B) in float64, column-major: A is M x K (lda M), or K x M (lda K) when transposed; B is K x N (ldb
     * K), or N x K (ldb N) when transposed.
     */
    static double[] product(float[] a, float[] b, boolean ta, boolean tb) {
        double[] c = new double[M * N];
        for (int j = 0; j < N; j++)
            for (int i = 0; i < M; i++) {
                double s = 0;
                for (int l = 0; l < K; l++)
                    s += (double) (ta ? a[l + i * K] : a[i + l * M]) * (tb ? b[j + l * N] : b[l + j * K]);
                c[i + j * M] = s;
            }
        return c;
    }

    private static double[] widen(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
