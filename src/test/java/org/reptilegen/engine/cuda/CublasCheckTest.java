package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.reptilegen.util.Rng;

/** doctor's cuBLAS check: its float64 reference on any machine, the check itself where cuBLAS and a GPU are. */
class CublasCheckTest {
    static final int M = CublasCheck.M, N = CublasCheck.N, K = CublasCheck.K;

    /** A transposed operand stored transposed gives the plain product: the reference reads each layout as cuBLAS. */
    @Test
    void theReferenceReadsTransposedOperandsAsCublasDoes() {
        Rng r = Rng.of(3);
        float[] a = new float[M * K], b = new float[K * N];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextDouble();
        for (int i = 0; i < b.length; i++) b[i] = (float) r.nextDouble();
        float[] at = new float[K * M], bt = new float[N * K];
        for (int i = 0; i < M; i++) for (int l = 0; l < K; l++) at[l + i * K] = a[i + l * M];
        for (int l = 0; l < K; l++) for (int j = 0; j < N; j++) bt[j + l * N] = b[l + j * K];
        double[] want = new double[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                for (int l = 0; l < K; l++) want[i + j * M] += (double) a[i + l * M] * b[l + j * K];
        assertArrayEquals(want, CublasCheck.product(a, b, false, false), 1e-12);
        assertArrayEquals(want, CublasCheck.product(at, b, true, false), 1e-12);
        assertArrayEquals(want, CublasCheck.product(a, bt, false, true), 1e-12);
        assertArrayEquals(want, CublasCheck.product(at, bt, true, true), 1e-12);
    }

    @Test
    @Tag("gpu")
    void sgemmOnTheDeviceMatchesTheFloat64Product() {
        String why = CudaEngine.unavailableReason();
        assumeTrue(why == null, why);
        String cublas = NvidiaLibraries.cublasProblem();
        assumeTrue(cublas == null, cublas);
        CublasCheck.Result r = CublasCheck.sgemm();
        assertNull(r.failure(), r.failure());
        System.out.println("cuBLAS SGEMM " + M + "x" + N + "x" + K + ": " + r.errors());
    }
}
