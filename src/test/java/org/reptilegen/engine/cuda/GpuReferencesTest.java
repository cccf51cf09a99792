package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.reptilegen.engine.cuda.CudaTestModels.relErr;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.model.ModelSpec;

/**
 * The whole-model comparisons of {@link CudaEngineGpuTest} can pass at all (no GPU needed): with their
 * parameters and batches the CPU's reference is finite, and float32 storage moves it by well under the
 * bound the device is held to.
 */
class GpuReferencesTest {

    private static void check(ModelSpec m, Algorithm alg, TaskBatch batch, double[] theta, double bound, String what) {
        int n = theta.length;
        double[] g64 = new double[n], g32 = new double[n];
        double[] nll;
        try (CpuEngine cpu = new CpuEngine(CudaEngineGpuTest.settings(m, alg, 0.05, Precision.FLOAT64))) {
            cpu.setState(TrainState.fresh(theta));
            nll = cpu.metaGradient(batch, g64);
        }
        try (CpuEngine cpu = new CpuEngine(CudaEngineGpuTest.settings(m, alg, 0.05, Precision.FLOAT32))) {
            cpu.setState(TrainState.fresh(theta));
            cpu.metaGradient(batch, g32);
        }
        for (double v : nll) assertTrue(Double.isFinite(v), what + ": the CPU's NLL is " + v);
        for (double v : g64) assertTrue(Double.isFinite(v), what + ": the CPU's meta-gradient is not finite");
        double e = relErr(g32, g64);
        assertTrue(e < bound / 10, what + ": float32 storage alone moves the meta-gradient by " + e);
    }

    @ParameterizedTest
    @EnumSource(
            value = Algorithm.class,
            names = {"REPTILE", "FOMAML"})
    void mnistLstmAndTextMlpReferencesAreFinite(Algorithm alg) {
        // The batches, parameters and learning rate of CudaEngineGpuTest's mnist-lstm and text-mlp tests.
        ModelSpec l = CudaTestModels.MNIST_LSTM;
        check(l, alg, CudaTestModels.batch(l, 3, 4, 23, true), CudaTestModels.params(l, 33), 1e-3, "mnist-lstm");
        ModelSpec t = CudaTestModels.TEXT_MLP;
        check(
                t,
                alg,
                CudaTestModels.batch(t, 3, 4, 24, true),
                CudaTestModels.params(t, 34, CudaTestModels.TEXT_MLP_NOISE),
                1e-3,
                "text-mlp");
    }

    /** The batches and parameters of CudaEngineGpuTest's MAML test (T = 16). */
    @org.junit.jupiter.api.Test
    void mamlReferencesAreFinite() {
        ModelSpec l = CudaTestModels.MNIST_LSTM;
        check(
                l,
                Algorithm.MAML,
                CudaTestModels.batch(l, 3, 16, 25, true),
                CudaTestModels.params(l, 35, CudaEngineGpuTest.MAML_NOISE),
                CudaEngineGpuTest.MAML_BOUND,
                "mnist-lstm maml");
        ModelSpec t = CudaTestModels.TEXT_MLP;
        check(
                t,
                Algorithm.MAML,
                CudaTestModels.batch(t, 3, 16, 26, true),
                CudaTestModels.params(t, 36, CudaTestModels.TEXT_MLP_NOISE),
                CudaEngineGpuTest.MAML_BOUND,
                "text-mlp maml");
    }
}
