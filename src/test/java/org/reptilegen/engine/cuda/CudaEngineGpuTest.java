package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.reptilegen.engine.cuda.CudaTestModels.relErr;

import java.util.Arrays;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.util.Rng;

/**
 * The CUDA engine against the CPU engine (the executable specification), at the sizes of the shipped
 * models, on a GPU and on the simulated driver (see pom.xml); EveryLayerGpuTest has every kernel on
 * small networks.
 *
 * <p>Bounds, for float32 on the device against float64 on the CPU, as relative errors of whole vectors
 * (||gpu - cpu|| / ||cpu||) or of each task's loss:
 * <ul>
 * <li>one layer, one inner step (FOMAML, T = 1: the plain gradient): 1e-4;
 * <li>one layer, three inner steps of ragged tasks (Reptile): 2e-4;
 * <li>whole meta-gradients of mnist-lstm and text-mlp (Reptile and FOMAML, T = 4): 1e-3;
 * <li>second-order MAML of mnist-lstm and text-mlp (T = 9, alpha 0.05, segment lengths 1, 3 and 9, equal
 *     to each other bit for bit): 2e-3; MAML of every layer (T = 5, alpha 0.2): 2e-4;
 * <li>evaluation (prequential NLL per task, T = 30): 1e-4;
 * <li>Adam on the device against Adam on the CPU fed the device's own meta-gradient: 1e-6 per element;
 * <li>learned inner learning rates on mnist-lstm (FOMAML and MAML, T = 4): 1e-3 for the meta-gradient
 *     and the rates' gradient;
 * <li>determinism, resumed runs and sampling with one seed: exactly equal.
 * </ul>
 */
@Tag("gpu")
class CudaEngineGpuTest {

    @BeforeEach
    void needsAGpu() {
        String why = CudaEngine.unavailableReason();
        assumeTrue(why == null, "cuda backend unavailable: " + why);
    }

    static EngineSettings settings(ModelSpec m, Algorithm a, double alpha, Precision p) {
        return new EngineSettings(m, a, alpha, 0, p, new Adam(1e-3, 0.9, 0.99, 1e-8), 2);
    }

    /** The meta-gradient and per-task NLL of both engines from the same theta. */
    private static void compareMetaGradient(
            ModelSpec spec,
            Algorithm alg,
            double alpha,
            TaskBatch batch,
            long seed,
            double gradBound,
            double nllBound,
            String what) {
        compareMetaGradient(spec, alg, alpha, batch, CudaTestModels.params(spec, seed), gradBound, nllBound, what);
    }

    private static void compareMetaGradient(
            ModelSpec spec,
            Algorithm alg,
            double alpha,
            TaskBatch batch,
            double[] theta,
            double gradBound,
            double nllBound,
            String what) {
        int n = theta.length;
        double[] gGpu = new double[n], gCpu = new double[n];
        double[] nllGpu, nllCpu;
        try (CudaEngine gpu = new CudaEngine(settings(spec, alg, alpha, Precision.FLOAT32))) {
            gpu.setState(TrainState.fresh(theta));
            nllGpu = gpu.metaGradient(batch, gGpu);
        }
        try (CpuEngine cpu = new CpuEngine(settings(spec, alg, alpha, Precision.FLOAT64))) {
            cpu.setState(TrainState.fresh(theta));
            nllCpu = cpu.metaGradient(batch, gCpu);
        }
        double e = relErr(gGpu, gCpu);
        assertTrue(e < gradBound, what + ": meta-gradient relative error " + e);
        for (int b = 0; b < nllCpu.length; b++)
            assertEquals(nllCpu[b], nllGpu[b], nllBound * Math.abs(nllCpu[b]) + 1e-6, what + ": NLL of task " + b);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void oneStepOfEveryLayerMatchesTheCpu(String name, ModelSpec spec) {
        TaskBatch batch = CudaTestModels.batch(spec, 3, 1, 21, false);
        compareMetaGradient(spec, Algorithm.FOMAML, 0.5, batch, 31, 1e-4, 1e-4, name + " (gradient)");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void severalStepsOfEveryLayerMatchTheCpu(String name, ModelSpec spec) {
        TaskBatch batch = CudaTestModels.batch(spec, 3, 3, 22, true);
        compareMetaGradient(spec, Algorithm.REPTILE, 0.5, batch, 32, 2e-4, 1e-4, name + " (three steps)");
    }

    @Test
    void mnistLstmMetaGradientsMatchTheCpu() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        TaskBatch batch = CudaTestModels.batch(m, 3, 4, 23, true);
        compareMetaGradient(m, Algorithm.REPTILE, 0.05, batch, 33, 1e-3, 1e-4, "mnist-lstm reptile");
        compareMetaGradient(m, Algorithm.FOMAML, 0.05, batch, 33, 1e-3, 1e-4, "mnist-lstm fomaml");
    }

    @Test
    void textMlpMetaGradientsMatchTheCpu() {
        ModelSpec m = CudaTestModels.TEXT_MLP;
        TaskBatch batch = CudaTestModels.batch(m, 3, 4, 24, true);
        double[] theta = CudaTestModels.params(m, 34, CudaTestModels.TEXT_MLP_NOISE);
        compareMetaGradient(m, Algorithm.REPTILE, 0.05, batch, theta, 1e-3, 1e-4, "text-mlp reptile");
        compareMetaGradient(m, Algorithm.FOMAML, 0.05, batch, theta, 1e-3, 1e-4, "text-mlp fomaml");
    }

    /**
     * Row splits on the device, where blocks of one slab really run at once and meet in split_total's
     * atomic count: mnist-lstm at B = 50 (automatic: 3 splits of the lstm_block rows on a 132-SM card),
     * one split, and 4, each against the CPU, and each twice with the same bits.
     */
    @Test
    void rowSplitsMatchTheCpuAndRepeatBitForBit() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        double[] theta = CudaTestModels.params(m, 47, 0.03);
        TaskBatch batch = CudaTestModels.batch(m, 50, 3, 48, true);
        double[] want = cpuFomaml(m, batch, theta);
        for (int splits : new int[] {0, 1, 4})
            fomamlTwice(m, batch, theta, want, gpu -> gpu.useRowSplits(splits), "row splits");
    }

    /** The CPU engine's FOMAML meta-gradient (alpha 0.05, float64). */
    private static double[] cpuFomaml(ModelSpec m, TaskBatch batch, double[] theta) {
        double[] want = new double[theta.length];
        try (CpuEngine cpu = new CpuEngine(settings(m, Algorithm.FOMAML, 0.05, Precision.FLOAT64))) {
            cpu.setState(TrainState.fresh(theta));
            cpu.metaGradient(batch, want);
        }
        return want;
    }

    /**
     * The GPU's FOMAML meta-gradient with the engine set up by setup, within 1e-3 of want, and the same
     * bits from a second run; returns it.
     */
    private static double[] fomamlTwice(
            ModelSpec m,
            TaskBatch batch,
            double[] theta,
            double[] want,
            java.util.function.Consumer<CudaEngine> setup,
            String what) {
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.FOMAML, 0.05, Precision.FLOAT32))) {
            setup.accept(gpu);
            gpu.setState(TrainState.fresh(theta));
            double[] g = new double[theta.length], again = new double[theta.length];
            gpu.metaGradient(batch, g);
            gpu.metaGradient(batch, again);
            String how = what + " (" + gpu.rowSplits() + ")";
            double e = relErr(g, want);
            assertTrue(e < 1e-3, how + ": meta-gradient relative error " + e);
            assertArrayEquals(g, again, 0.0, how + ": a second run");
            return g;
        }
    }

    /**
     * The small layers folded on the device, where a task's blocks really finish in any order and meet in
     * last_arrival's count: mnist-lstm at B = 50 with automatic row splits, folded and not, each against
     * the CPU; the folded layers add in their own kernels' order, so both give the same bits, run after run.
     */
    @Test
    void foldedSmallLayersMatchTheirOwnKernelsBitForBit() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        double[] theta = CudaTestModels.params(m, 57, 0.03);
        TaskBatch batch = CudaTestModels.batch(m, 50, 3, 58, true);
        double[] want = cpuFomaml(m, batch, theta);
        double[] tails = fomamlTwice(m, batch, theta, want, gpu -> gpu.foldSmallLayers(true), "small layers folded");
        double[] own = fomamlTwice(m, batch, theta, want, gpu -> gpu.foldSmallLayers(false), "their own kernels");
        assertArrayEquals(own, tails, 0.0, "folded against their own kernels");
    }

    @Test
    void replayedGraphsGiveExactlyWhatKernelByKernelLaunchesGive() {
        // 2 * 16 + 7 steps: two recorded blocks replayed, and a remainder launched directly. MAML's
        // segments of ceil(sqrt(39)) = 7 steps: five full ones replayed in both sweeps, a rest of 4 launched.
        // A second batch of the same shape replays the recordings kept from the first with new inputs.
        // mnist-lstm's layers at width 32: the sequencing is what is tested, not the size.
        int steps = 2 * InnerLoopRunner.STEPS_PER_GRAPH + 7;
        for (Algorithm alg : new Algorithm[] {Algorithm.REPTILE, Algorithm.FOMAML, Algorithm.MAML}) {
            ModelSpec m = CudaTestModels.SMALL_LSTM;
            double[] theta = CudaTestModels.params(m, 41, 0.03);
            TaskBatch batch = CudaTestModels.batch(m, 3, steps, 42, true);
            TaskBatch second = CudaTestModels.batch(m, 3, steps, 43, true);
            double[][] g = new double[2][theta.length], g2 = new double[2][theta.length];
            double[][] nll = new double[2][], eval = new double[2][], nll2 = new double[2][];
            int[][][] samples = new int[2][][];
            // Sampling the first 39 pixels: two recorded blocks and the remainder, as for the meta-gradient.
            int[][] positions = Arrays.copyOf(org.reptilegen.task.Samples.positions(m.task(), 0), steps);
            for (int v = 0; v < 2; v++) {
                try (CudaEngine gpu = new CudaEngine(settings(m, alg, 1e-3, Precision.FLOAT32))) {
                    gpu.useGraphs(v == 0);
                    gpu.setState(TrainState.fresh(theta));
                    nll[v] = gpu.metaGradient(batch, g[v]);
                    eval[v] = gpu.evaluate(batch);
                    nll2[v] = gpu.metaGradient(second, g2[v]);
                    samples[v] = gpu.sample(positions, 2, 1.0, 7, false);
                }
            }
            assertArrayEquals(g[1], g[0], 0.0, alg + ": meta-gradient");
            assertArrayEquals(nll[1], nll[0], 0.0, alg + ": NLL");
            assertArrayEquals(eval[1], eval[0], 0.0, alg + ": evaluation");
            assertArrayEquals(g2[1], g2[0], 0.0, alg + ": meta-gradient of a second batch");
            assertArrayEquals(nll2[1], nll2[0], 0.0, alg + ": NLL of a second batch");
            assertTrue(!java.util.Arrays.equals(nll2[0], nll[0]), alg + ": the second batch is another batch");
            for (int i = 0; i < 2; i++) assertArrayEquals(samples[1][i], samples[0][i], alg + ": sample " + i);
        }
    }

    @Test
    void evaluationMatchesTheCpuAndLeavesThetaAlone() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        double[] theta = CudaTestModels.params(m, 35);
        TaskBatch batch = CudaTestModels.batch(m, 3, 30, 25, true);
        double[] gpuNll, cpuNll;
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.REPTILE, 1e-3, Precision.FLOAT32))) {
            gpu.setState(TrainState.fresh(theta));
            gpuNll = gpu.evaluate(batch);
            assertArrayEquals(theta, gpu.state().theta(), 0.0);
        }
        try (CpuEngine cpu = new CpuEngine(settings(m, Algorithm.REPTILE, 1e-3, Precision.FLOAT64))) {
            cpu.setState(TrainState.fresh(theta));
            cpuNll = cpu.evaluate(batch);
        }
        for (int b = 0; b < cpuNll.length; b++)
            assertEquals(cpuNll[b], gpuNll[b], 1e-4 * Math.abs(cpuNll[b]), "NLL of task " + b);
    }

    @Test
    void adamOnTheDeviceIsAdamOnTheCpuAndRunsAreDeterministic() {
        ModelSpec m = CudaTestModels.TINY_TEXT;
        double[] theta = CudaTestModels.params(m, 36);
        int n = theta.length;
        Rng r = Rng.of(37);
        double[] mom = new double[n], vel = new double[n];
        for (int i = 0; i < n; i++) {
            mom[i] = (float) (1e-3 * r.nextGaussian());
            vel[i] = (float) (1e-6 * r.nextDouble());
        }
        TrainState s0 = new TrainState(theta, mom, vel, 5);
        TaskBatch batch = CudaTestModels.batch(m, 4, 6, 26, false);
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.REPTILE, 0.1, Precision.FLOAT32))) {
            gpu.setState(s0);
            double[] g = new double[n], g2 = new double[n];
            gpu.metaGradient(batch, g);
            gpu.metaGradient(batch, g2);
            assertArrayEquals(g, g2, 0.0, "two runs of one batch");
            gpu.metaStep(batch);
            TrainState s1 = gpu.state();
            double[] th = theta.clone(), mm = mom.clone(), vv = vel.clone();
            gpu.settings().adam().step(th, g, mm, vv, 6, true);
            assertEquals(6, s1.adamStep());
            for (int i = 0; i < n; i++) {
                assertEquals(th[i], s1.theta()[i], 1e-6 * Math.abs(th[i]) + 1e-12, "theta " + i);
                assertEquals(mm[i], s1.adamM()[i], 1e-6 * Math.abs(mm[i]) + 1e-15, "m " + i);
                assertEquals(vv[i], s1.adamV()[i], 1e-6 * Math.abs(vv[i]) + 1e-18, "v " + i);
            }
        }
    }

    @Test
    void aResumedRunEqualsAnUninterruptedOne() {
        for (Algorithm alg : new Algorithm[] {Algorithm.REPTILE, Algorithm.FOMAML}) {
            ModelSpec m = CudaTestModels.TINY_MNIST;
            EngineSettings s = settings(m, alg, 0.05, Precision.FLOAT32);
            TrainState s0 = TrainState.fresh(CudaTestModels.params(m, 38));
            TaskBatch[] batches = new TaskBatch[3];
            for (int k = 0; k < 3; k++) batches[k] = CudaTestModels.batch(m, 5, 7, 100 + k, k == 1);
            TrainState straight, resumed;
            try (CudaEngine a = new CudaEngine(s)) {
                a.setState(s0);
                for (TaskBatch b : batches) a.metaStep(b);
                straight = a.state();
            }
            TrainState mid;
            try (CudaEngine b = new CudaEngine(s)) {
                b.setState(s0);
                b.metaStep(batches[0]);
                b.metaStep(batches[1]);
                mid = b.state();
            }
            try (CudaEngine c = new CudaEngine(s)) {
                c.setState(mid);
                c.metaStep(batches[2]);
                resumed = c.state();
            }
            assertArrayEquals(straight.theta(), resumed.theta(), 0.0, alg + " theta");
            assertArrayEquals(straight.adamM(), resumed.adamM(), 0.0, alg + " m");
            assertArrayEquals(straight.adamV(), resumed.adamV(), 0.0, alg + " v");
            assertEquals(straight.adamStep(), resumed.adamStep());
        }
    }

    /** The Adam step with a gradient given from outside (an MPI job's sum) is exactly metaStep's own. */
    @Test
    void anAdamStepWithAGivenGradientIsTheMetaStepsOwn() {
        ModelSpec m = CudaTestModels.TINY_MNIST;
        double[] theta = CudaTestModels.params(m, 7);
        TaskBatch batch = CudaTestModels.batch(m, 3, 5, 11, true);
        TrainState stepped, applied;
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.FOMAML, 0.1, Precision.FLOAT32))) {
            gpu.setState(TrainState.fresh(theta));
            gpu.metaStep(batch);
            gpu.metaStep(batch);
            stepped = gpu.state();
        }
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.FOMAML, 0.1, Precision.FLOAT32))) {
            gpu.setState(TrainState.fresh(theta));
            for (int i = 0; i < 2; i++) {
                double[] g = new double[m.layout().size()];
                gpu.metaGradient(batch, g);
                gpu.adamStep(g, null);
            }
            applied = gpu.state();
        }
        assertArrayEquals(stepped.theta(), applied.theta(), 0.0);
        assertArrayEquals(stepped.adamM(), applied.adamM(), 0.0);
        assertArrayEquals(stepped.adamV(), applied.adamV(), 0.0);
        assertEquals(stepped.adamStep(), applied.adamStep());
    }

    @Test
    void samplingIsReproducibleAndDrawsTheCpusNumbers() {
        for (ModelSpec m : new ModelSpec[] {CudaTestModels.TINY_MNIST, CudaTestModels.TINY_TEXT}) {
            boolean text = m == CudaTestModels.TINY_TEXT;
            double[] theta = CudaTestModels.params(m, 39);
            int steps = text ? 9 : 30;
            int[][] positions = new int[steps][];
            for (int t = 0; t < steps; t++) positions[t] = text ? new int[] {t} : new int[] {t % 5, t % 6};
            int count = 6;
            int[][] a, b, other, cpuSamples, share;
            try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.REPTILE, 0.1, Precision.FLOAT32))) {
                gpu.setState(TrainState.fresh(theta));
                a = gpu.sample(positions, count, 0.9, 11, text);
                b = gpu.sample(positions, count, 0.9, 11, text);
                share = gpu.sample(positions, 2, 3, 0.9, 11, text);
                other = gpu.sample(positions, count, 0.9, 12, text);
                assertArrayEquals(theta, gpu.state().theta(), 0.0, "sampling leaves theta alone");
            }
            for (int i = 0; i < count; i++) assertArrayEquals(a[i], b[i], "sample " + i + " with one seed");
            for (int i = 0; i < 3; i++)
                assertArrayEquals(a[2 + i], share[i], "samples 2..4 drawn on their own (a rank's share)");
            assertTrue(!Arrays.deepEquals(a, other), "another seed draws other samples");
            try (CpuEngine cpu = new CpuEngine(settings(m, Algorithm.REPTILE, 0.1, Precision.FLOAT64))) {
                cpu.setState(TrainState.fresh(theta));
                cpuSamples = cpu.sample(positions, count, 0.9, 11, text);
            }
            // Same uniforms; a draw differs only when one lands within float rounding of a class boundary.
            int same = 0;
            for (int i = 0; i < count; i++) if (Arrays.equals(a[i], cpuSamples[i])) same++;
            assertTrue(same >= count - 1, m.task() + ": " + same + " of " + count + " samples equal the CPU's");
            if (text) {
                for (int[] s : a) {
                    int z = 0;
                    while (z < s.length && s[z] != 0) z++;
                    for (int t = z; t < s.length; t++) assertEquals(0, s[t], "after the first 0 a text sample is 0");
                }
            }
        }
    }

    @Test
    void mnistLstmRunsAThousandTasksAndTooLargeABatchSaysHowManyFit() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.REPTILE, 1e-3, Precision.FLOAT32))) {
            gpu.setState(TrainState.fresh(CudaTestModels.params(m, 40)));
            double[] nll = gpu.metaStep(CudaTestModels.batch(m, 1024, 1, 27, false));
            assertEquals(1024, nll.length);
            for (double v : nll) assertTrue(Double.isFinite(v) && v > 0);
        }
        ModelSpec t = CudaTestModels.TEXT_MLP;
        try (CudaEngine gpu = new CudaEngine(settings(t, Algorithm.FOMAML, 1e-3, Precision.FLOAT32))) {
            TaskBatch huge = CudaTestModels.batch(t, 65535, 1, 28, false);
            DeviceException e = assertThrows(DeviceException.class, () -> gpu.metaStep(huge));
            assertTrue(e.getMessage().contains("tasks fit"), e.getMessage());
            assertNotEquals(-1, e.getMessage().indexOf("--batch"), e.getMessage());
        }
    }

    /**
     * Second-order MAML of mnist-lstm and text-mlp over T = 9 steps (ragged tasks) against the CPU, with
     * segment lengths 1, ceil(sqrt(T)) = 3 and T, whose results must be equal bit for bit (recomputing a
     * segment runs the same kernels on the same values as the forward loop).
     */
    @Test
    void mamlMetaGradientsMatchTheCpuForEverySegmentLength() {
        int steps = 9;
        ModelSpec lstm = CudaTestModels.MNIST_LSTM, mlp = CudaTestModels.TEXT_MLP;
        compareMaml(
                lstm,
                CudaTestModels.params(lstm, 35, MAML_NOISE),
                CudaTestModels.batch(lstm, 3, steps, 25, true),
                "mnist-lstm");
        compareMaml(
                mlp,
                CudaTestModels.params(mlp, 36, CudaTestModels.TEXT_MLP_NOISE),
                CudaTestModels.batch(mlp, 3, steps, 26, true),
                "text-mlp");
    }

    /** MAML's bound: the Hessian-vector products of up to 16 float32 steps against float64. */
    static final double MAML_BOUND = 2e-3;
    /**
     * Parameter noise of the mnist-lstm MAML test: with 0.3, sixteen steps of mnist-lstm amplify rounding
     * so much that float32 storage alone moves the CPU's own MAML meta-gradient by 9e-4.
     */
    static final double MAML_NOISE = 0.03;

    private static void compareMaml(ModelSpec m, double[] theta, TaskBatch batch, String what) {
        double alpha = 0.05;
        int n = theta.length, steps = batch.maxSteps();
        double[] gCpu = new double[n];
        double[] nllCpu;
        try (CpuEngine cpu = new CpuEngine(settings(m, Algorithm.MAML, alpha, Precision.FLOAT64))) {
            cpu.setState(TrainState.fresh(theta));
            nllCpu = cpu.metaGradient(batch, gCpu);
        }
        double[] first = null;
        for (int k : new int[] {1, MamlSegment.of(0, steps), steps}) {
            EngineSettings s = new EngineSettings(
                    m, Algorithm.MAML, alpha, k, Precision.FLOAT32, new Adam(1e-3, 0.9, 0.99, 1e-8), 2);
            double[] g = new double[n];
            double[] nll;
            try (CudaEngine gpu = new CudaEngine(s)) {
                gpu.setState(TrainState.fresh(theta));
                nll = gpu.metaGradient(batch, g);
            }
            double e = relErr(g, gCpu);
            assertTrue(e < MAML_BOUND, what + " K=" + k + ": MAML meta-gradient relative error " + e);
            for (int b = 0; b < nllCpu.length; b++)
                assertEquals(
                        nllCpu[b], nll[b], 1e-4 * Math.abs(nllCpu[b]) + 1e-6, what + " K=" + k + ": NLL of task " + b);
            if (first == null) first = g;
            else assertArrayEquals(first, g, 0.0, what + ": K=" + k + " differs from K=1");
        }
    }

    /** metaStep with MAML: the Adam step on the MAML meta-gradient, the same on both engines. */
    @Test
    void mamlMetaStepRunsOnEveryLayer() {
        for (Object[] c : CudaTestModels.layerCases().map(a -> a.get()).toList()) {
            ModelSpec m = (ModelSpec) c[1];
            TaskBatch batch = CudaTestModels.batch(m, 3, 5, 29, true);
            double[] theta = CudaTestModels.params(m, 30);
            compareMetaGradient(m, Algorithm.MAML, 0.2, batch, theta, 2e-4, 1e-4, c[0] + " maml");
            try (CudaEngine gpu = new CudaEngine(settings(m, Algorithm.MAML, 0.2, Precision.FLOAT32))) {
                gpu.setState(TrainState.fresh(theta));
                double[] nll = gpu.metaStep(batch);
                assertEquals(3, nll.length);
                assertEquals(1, gpu.state().adamStep());
                assertTrue(
                        Arrays.stream(gpu.state().theta()).allMatch(Double::isFinite),
                        c[0] + ": theta after a MAML step");
            }
        }
    }

    /**
     * Learned inner learning rates on mnist-lstm (T = 4, rates drawn in [0.02, 0.08)), FOMAML and MAML,
     * per tensor and per element: the meta-gradient and the rates' gradient against the CPU engine's
     * (float64) within 1e-3; metaStep's Adam on the rates is the CPU's Adam fed the device's gradient,
     * with the same step t as theta's; state() carries the rates and their moments to setState().
     */
    @Test
    void learnedRatesMatchTheCpuOnMnistLstm() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        double[] theta = CudaTestModels.params(m, 81);
        int n = theta.length;
        TaskBatch batch = CudaTestModels.batch(m, 3, 4, 82, true);
        Adam adam = new Adam(1e-3, 0.9, 0.99, 1e-8);
        for (InnerLr.Mode mode : new InnerLr.Mode[] {InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT}) {
            int size = new org.reptilegen.core.InnerLrLayout(m.layout(), mode).size();
            Rng r = Rng.of(83);
            double[] lr = new double[size];
            for (int i = 0; i < size; i++) lr[i] = (float) (0.02 + 0.06 * r.nextDouble());
            TrainState s0 =
                    new TrainState(theta, new double[n], new double[n], 0, lr, new double[size], new double[size]);
            for (Algorithm alg : new Algorithm[] {Algorithm.FOMAML, Algorithm.MAML}) {
                String what = "mnist-lstm " + alg + " " + mode;
                double[] gGpu = new double[n], gCpu = new double[n], lrGpu = new double[size], lrCpu = new double[size];
                try (CpuEngine cpu =
                        new CpuEngine(new EngineSettings(m, alg, 0.05, 0, Precision.FLOAT64, adam, 2, mode))) {
                    cpu.setState(s0);
                    cpu.metaGradient(batch, gCpu, lrCpu);
                }
                try (CudaEngine gpu =
                        new CudaEngine(new EngineSettings(m, alg, 0.05, 0, Precision.FLOAT32, adam, 2, mode))) {
                    gpu.setState(s0);
                    gpu.metaGradient(batch, gGpu, lrGpu);
                    double eg = relErr(gGpu, gCpu), elr = relErr(lrGpu, lrCpu);
                    assertTrue(eg < 1e-3, what + ": meta-gradient relative error " + eg);
                    assertTrue(elr < 1e-3, what + ": rates' gradient relative error " + elr);
                    gpu.metaStep(batch);
                    TrainState s1 = gpu.state();
                    double[] want = lr.clone(), mm = new double[size], vv = new double[size];
                    adam.step(want, lrGpu, mm, vv, 1, true);
                    assertEquals(1, s1.adamStep());
                    assertArrayEquals(want, s1.innerLr(), 0.0, what + ": the rates after one step");
                    assertArrayEquals(mm, s1.innerLrM(), 0.0, what + ": the rates' first moments");
                    assertArrayEquals(vv, s1.innerLrV(), 0.0, what + ": the rates' second moments");
                    gpu.setState(s1);
                    assertArrayEquals(s1.innerLr(), gpu.state().innerLr(), 0.0, what + ": setState keeps the rates");
                }
            }
        }
    }

    @Test
    void learnedRatesWithReptileAreRefused() {
        ModelSpec m = CudaTestModels.TINY_MNIST;
        EngineSettings s = new EngineSettings(
                m,
                Algorithm.REPTILE,
                0.1,
                0,
                Precision.FLOAT32,
                new Adam(1e-3, 0.9, 0.99, 1e-8),
                2,
                InnerLr.Mode.PER_TENSOR);
        assertThrows(IllegalArgumentException.class, () -> new CudaEngine(s));
    }
}
