package org.reptilegen.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.engine.cuda.LstmBaselineCuda;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Norms;

/**
 * The lstm baseline on cuDNN and cuBLAS against its cpu twin (BaselineEngine, float64 compute), on a GPU
 * and on the simulated driver and libraries (see pom.xml). Bounds, float32 on the device against float64:
 * the gradient of the mean loss 1e-4 (||gpu - cpu|| / ||cpu||), each sequence's loss 1e-5 relative, theta
 * after three Adam steps 1e-4 (with stop_grad too); samples drawn with one seed are equal (on a GPU, all
 * but one).
 */
@Tag("gpu")
class LstmBaselineCudaTest {
    static final LstmBaseline MNIST = new LstmBaseline(TaskKind.MNIST, 4, 8, 2, false, 28);
    static final LstmBaseline TEXT = new LstmBaseline(TaskKind.TEXT, 3, 6, 3, false, 16);

    @BeforeEach
    void needsAGpuAndTheLibraries() {
        String why = CudaEngine.unavailableReason();
        if (why == null) why = LstmBaselineCuda.librariesProblem();
        assumeTrue(why == null, "cuda lstm baseline unavailable: " + why);
    }

    static EngineSettings settings(LstmBaseline spec) {
        return new EngineSettings(
                ModelSpec.of(spec), Algorithm.REPTILE, 1e-3, 0, Precision.FLOAT32, new Adam(1e-2, 0.9, 0.999, 1e-8), 2);
    }

    /** theta rounded to float32, as the device holds it, so both engines start from the same values. */
    static double[] floats(double[] a) {
        double[] f = new double[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }

    static void compare(LstmBaseline spec, TaskBatch batch, long seed) {
        double[] theta = floats(LstmBaselineGradientTest.theta(spec, seed));
        int p = theta.length;
        double[] gCpu = new double[p], gGpu = new double[p];
        try (BaselineEngine cpu = new BaselineEngine(settings(spec));
                LstmBaselineCuda gpu = new LstmBaselineCuda(settings(spec))) {
            cpu.setState(TrainState.fresh(theta));
            gpu.setState(TrainState.fresh(theta));
            double[] lCpu = cpu.metaGradient(batch, gCpu), lGpu = gpu.metaGradient(batch, gGpu);
            double gErr = Norms.relativeError(gGpu, gCpu);
            assertTrue(gErr < 1e-4, "gradient's relative error " + gErr);
            for (int b = 0; b < batch.size(); b++)
                assertEquals(lCpu[b], lGpu[b], 1e-5 * Math.max(1, Math.abs(lCpu[b])), "loss of sequence " + b);
            assertArrayEquals(lGpu, gpu.evaluate(batch), 1e-5, "evaluation's losses");
            for (int s = 0; s < 3; s++) {
                cpu.metaStep(batch);
                gpu.metaStep(batch);
            }
            TrainState a = cpu.state(), b = gpu.state();
            assertEquals(a.adamStep(), b.adamStep());
            double tErr = Norms.relativeError(b.theta(), a.theta());
            assertTrue(tErr < 1e-4, "theta's relative error after three steps " + tErr);
        }
    }

    @Test
    void theGradientAndTrainingMatchTheCpuOnImages() {
        compare(MNIST, LstmBaselineGradientTest.mnistTasks(new int[] {9, 9, 9, 9, 9}, 3), 3);
    }

    @Test
    void theGradientAndTrainingMatchTheCpuOnTextOfUnequalLengths() {
        compare(TEXT, LstmBaselineGradientTest.textTasks(new int[] {5, 12, 1, 0, 7}, 4), 4);
    }

    @Test
    void stopGradMatchesTheCpu() {
        LstmBaseline cut = new LstmBaseline(TaskKind.TEXT, 3, 6, 2, true, 16);
        compare(cut, LstmBaselineGradientTest.textTasks(new int[] {6, 3, 9}, 8), 8);
    }

    @Test
    void samplesWithOneSeedAreTheCpusAndDoNotDependOnTheirGroup() {
        for (LstmBaseline spec : new LstmBaseline[] {MNIST, TEXT}) {
            double[] theta = floats(LstmBaselineGradientTest.theta(spec, 5));
            int steps = 14;
            int[][] positions = new int[steps][];
            for (int t = 0; t < steps; t++)
                positions[t] = spec.task() == TaskKind.MNIST ? new int[] {t / 4, t % 4} : new int[] {t};
            boolean stop = spec.task() == TaskKind.TEXT;
            try (BaselineEngine cpu = new BaselineEngine(settings(spec));
                    LstmBaselineCuda gpu = new LstmBaselineCuda(settings(spec))) {
                cpu.setState(TrainState.fresh(theta));
                gpu.setState(TrainState.fresh(theta));
                int[][] a = cpu.sample(positions, 6, 1.0, 17, stop), b = gpu.sample(positions, 6, 1.0, 17, stop);
                // On the simulated driver (host float arithmetic) every draw is the cpu twin's; on a GPU a draw
                // may land within rounding of a class boundary, and its sample differs from there on.
                int same = 0;
                for (int i = 0; i < a.length; i++) if (java.util.Arrays.equals(a[i], b[i])) same++;
                boolean simulated =
                        System.getProperty("reptilegen.cuda.driver", "").endsWith("cuda-sim/libcuda.so.1");
                assertTrue(
                        same >= a.length - (simulated ? 0 : 1), same + " of " + a.length + " samples equal the cpu's");
                int[][] part = gpu.sample(positions, 2, 3, 1.0, 17, stop);
                for (int i = 0; i < 3; i++) assertArrayEquals(b[2 + i], part[i], "sample " + (2 + i) + " alone");
            }
        }
    }

    @Test
    void stateRoundTrips() {
        double[] theta = floats(LstmBaselineGradientTest.theta(MNIST, 6));
        try (LstmBaselineCuda gpu = new LstmBaselineCuda(settings(MNIST))) {
            TrainState s = new TrainState(theta, theta.clone(), theta.clone(), 7);
            gpu.setState(s);
            TrainState back = gpu.state();
            assertArrayEquals(theta, back.theta(), 0);
            assertArrayEquals(theta, back.adamM(), 0);
            assertEquals(7, back.adamStep());
        }
    }
}
