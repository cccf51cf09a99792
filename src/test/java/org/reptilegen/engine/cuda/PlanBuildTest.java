package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.model.ModelSpec;

/**
 * Builds every step plan against placeholders (no GPU): every launch of every layer is checked against
 * its kernel's .cu parameter list, and the memory a batch needs is measured.
 */
class PlanBuildTest {

    static void buildAll(ModelSpec spec, int tasks, int steps) {
        for (boolean acc : new boolean[]{false, true}) {
            Workspace w = Workspace.measuring(spec, tasks, steps, acc);
            List<Launch> step = w.trainStep(1e-3f, acc);
            assertTrue(step.size() >= 3);
            assertEquals("step_advance", step.get(step.size() - 1).sig.name());
            w.plan.sampleStep(w.sgd(1e-3f, false), 0.8, true);
            // The launches around a task loop, with placeholders for theta, the meta-gradient and the moments.
            jcuda.driver.CUdeviceptr any = new jcuda.driver.CUdeviceptr();
            assertEquals(2, w.start(any, acc).size());
            w.metaGradientMean(any, any, acc);
            Workspace.adamStep(sig -> null, spec.layout().size(), any, any, any, any, new org.reptilegen.meta.Adam(1e-3, 0.9, 0.99, 1e-8), 3);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayersLaunchesMatchTheirKernels(String name, ModelSpec spec) {
        buildAll(spec, 3, 5);
    }

    @Test
    void referenceModelsBuild() {
        buildAll(CudaTestModels.MNIST_LSTM, 50, 784);
        buildAll(CudaTestModels.TEXT_MLP, 50, 128);
        buildAll(CudaTestModels.MNIST_SIREN, 50, 784);
        // embed, 3 layernorm, 2 lstm, 2 linear: forward 8, loss 1, backward 8, advance 1.
        assertEquals(18, Workspace.measuring(CudaTestModels.MNIST_LSTM, 50, 784, false).trainStep(1e-3f, false).size());
    }

    @Test
    void mnistLstmWithAThousandTasksFitsAnEightyGigabyteCard() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        assertEquals(1_125_889, m.layout().size());
        long reptile = Workspace.measure(m, 1024, 784, false);
        long fomaml = Workspace.measure(m, 1024, 784, true);
        long params = 1024L * 1_125_889 * 4;
        assertTrue(reptile >= params && reptile < params + (200L << 20), "reptile: " + Bytes.show(reptile));
        assertTrue(fomaml >= 2 * params && fomaml < 2 * params + (200L << 20), "fomaml: " + Bytes.show(fomaml));
        assertTrue(fomaml < 70L << 30);
        long perTask = Workspace.measure(m, 2, 784, false) - Workspace.measure(m, 1, 784, false);
        assertTrue(perTask >= 1_125_889L * 4 && perTask < 1_125_889L * 4 + (64 << 10), Bytes.show(perTask));
    }
}
