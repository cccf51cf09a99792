package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.reptilegen.engine.cuda.CudaTestModels.relErr;

import java.util.Arrays;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.util.Rng;

/**
 * Every kernel against the CPU engine, through the cuda engine's own calls on small networks around each
 * layer (widths that are not multiples of 32 or 256, so bounds checks and tails run): FOMAML, Reptile and
 * MAML meta-gradients, Adam's step, evaluation, learned rates, sampling, row splits and folded layers.
 * The kernels compute in float32, the CPU engine in float64: meta-gradients, parameters and Adam moments
 * agree to a relative error (norm of the difference over norm of the reference) of {@link #BOUND}, each
 * task's NLL to {@link #BOUND} of itself; MAML's meta-gradients for segment lengths 1, 2 and T equal each
 * other bit for bit. Runs on a GPU and on the simulated driver (see pom.xml).
 */
@Tag("gpu")
class EveryLayerGpuTest {
    /**
     * float32 kernels against the float64 CPU engine: the cases here agree to about 2e-6, MAML's to 1e-7
     * .. 2.4e-6 and its lstm_block case to 1.6e-5 (four steps at alpha 0.2 amplify float32 rounding).
     */
    static final double BOUND = 1e-4;

    static final Adam ADAM = new Adam(1e-2, 0.9, 0.99, 1e-8);

    @BeforeEach
    void needsTheCudaEngine() {
        String why = CudaEngine.unavailableReason();
        assumeTrue(why == null, "cuda backend unavailable: " + why);
    }

    static EngineSettings settings(
            ModelSpec m, Algorithm a, double alpha, int segment, Precision p, InnerLr.Mode mode) {
        return new EngineSettings(m, a, alpha, segment, p, ADAM, 1, mode);
    }

    static EngineSettings cpuSettings(ModelSpec m, Algorithm a, double alpha) {
        return settings(m, a, alpha, 0, Precision.FLOAT64, InnerLr.Mode.FIXED);
    }

    static EngineSettings gpuSettings(ModelSpec m, Algorithm a, double alpha) {
        return settings(m, a, alpha, 0, Precision.FLOAT32, InnerLr.Mode.FIXED);
    }

    static void assertClose(double[] want, double[] got, String what) {
        assertTrue(Arrays.stream(got).allMatch(Double::isFinite), what + ": not finite");
        double e = relErr(got, want);
        assertTrue(e <= BOUND, what + ": relative error " + e + " (bound " + BOUND + ")");
    }

    static void assertNll(double[] want, double[] got, String what) {
        assertEquals(want.length, got.length);
        for (int b = 0; b < want.length; b++)
            assertEquals(want[b], got[b], BOUND * Math.abs(want[b]) + 1e-6, what + ": NLL of task " + b);
    }

    /** The CPU engine's meta-gradient (into g) and NLL. */
    static double[] cpuMetaGradient(EngineSettings s, TrainState state, TaskBatch batch, double[] g) {
        try (CpuEngine cpu = new CpuEngine(s)) {
            cpu.setState(state);
            return cpu.metaGradient(batch, g);
        }
    }

    /** Meta-gradient and losses of both engines from the same theta. */
    static void compareMetaGradient(
            ModelSpec spec, Algorithm alg, double alpha, TaskBatch batch, long seed, String what) {
        double[] theta = CudaTestModels.params(spec, seed);
        double[] want = new double[theta.length], got = new double[theta.length];
        double[] nll = cpuMetaGradient(cpuSettings(spec, alg, alpha), TrainState.fresh(theta), batch, want);
        double[] gpuNll;
        try (CudaEngine gpu = new CudaEngine(gpuSettings(spec, alg, alpha))) {
            gpu.setState(TrainState.fresh(theta));
            gpuNll = gpu.metaGradient(batch, got);
        }
        assertClose(want, got, what + " meta-gradient");
        assertNll(nll, gpuNll, what);
    }

    /** Three tasks of lengths 3, 2, 3: every layer's forward, backward and fused update, FOMAML's sums. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayerFomaml(String name, ModelSpec spec) {
        compareMetaGradient(
                spec, Algorithm.FOMAML, 0.5, CudaTestModels.batch(spec, 3, 3, 22, true), 32, name + " fomaml");
    }

    /** One task of one step: the batch edge where every grid has a single row of blocks. */
    @Test
    void oneTaskOneStep() {
        ModelSpec m = CudaTestModels.TINY_TEXT;
        compareMetaGradient(m, Algorithm.FOMAML, 0.3, CudaTestModels.batch(m, 1, 1, 43, false), 44, "text B1 T1");
    }

    /** metaStep: the meta-gradient, then Adam's step t from nonzero moments, against the CPU engine's metaStep. */
    @Test
    void adamStepFromNonzeroMoments() {
        ModelSpec spec = CudaTestModels.TINY_MNIST;
        double[] theta = CudaTestModels.params(spec, 51);
        int n = theta.length;
        Rng r = Rng.of(52);
        double[] m = new double[n], v = new double[n];
        for (int i = 0; i < n; i++) {
            m[i] = (float) (0.1 * r.nextGaussian());
            v[i] = (float) (0.01 * Math.abs(r.nextGaussian()));
        }
        TrainState s = new TrainState(theta, m, v, 4);
        TaskBatch batch = CudaTestModels.batch(spec, 3, 4, 53, true);
        for (Algorithm alg : new Algorithm[] {Algorithm.REPTILE, Algorithm.FOMAML}) {
            TrainState want, got;
            double[] nll, gpuNll;
            try (CpuEngine cpu = new CpuEngine(cpuSettings(spec, alg, 0.2))) {
                cpu.setState(s);
                nll = cpu.metaStep(batch);
                want = cpu.state();
            }
            try (CudaEngine gpu = new CudaEngine(gpuSettings(spec, alg, 0.2))) {
                gpu.setState(s);
                gpuNll = gpu.metaStep(batch);
                got = gpu.state();
            }
            assertEquals(5, want.adamStep());
            assertEquals(5, got.adamStep());
            assertNll(nll, gpuNll, alg + " Adam");
            // The step itself, not theta: theta is far larger than one step's change.
            assertClose(minus(want.theta(), theta), minus(got.theta(), theta), alg + " Adam's change of theta");
            assertClose(want.adamM(), got.adamM(), alg + " Adam's first moments");
            assertClose(want.adamV(), got.adamV(), alg + " Adam's second moments");
        }
    }

    private static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    /**
     * evaluate: the losses of the inner loops, theta untouched; the second batch runs in the workspace of
     * the first, which has room for more steps.
     */
    @Test
    void evaluateInAWorkspaceLeftByALongerBatch() {
        for (ModelSpec spec :
                new ModelSpec[] {CudaTestModels.TINY_MNIST, CudaTestModels.TINY_TEXT, CudaTestModels.TINY_GATED}) {
            double[] theta = CudaTestModels.params(spec, 61);
            TaskBatch longer = CudaTestModels.batch(spec, 3, 7, 63, false);
            TaskBatch batch = CudaTestModels.batch(spec, 3, 5, 62, true);
            double[] nll, gpuNll;
            try (CpuEngine cpu = new CpuEngine(cpuSettings(spec, Algorithm.REPTILE, 0.1))) {
                cpu.setState(TrainState.fresh(theta));
                nll = cpu.evaluate(batch);
            }
            try (CudaEngine gpu = new CudaEngine(gpuSettings(spec, Algorithm.REPTILE, 0.1))) {
                gpu.setState(TrainState.fresh(theta));
                gpu.evaluate(longer);
                gpuNll = gpu.evaluate(batch);
                assertArrayEquals(theta, gpu.state().theta(), 0.0, "evaluate leaves theta alone");
            }
            assertNll(nll, gpuNll, spec.task() + " evaluate");
        }
    }

    /** evaluate with per-element learned rates: the losses of the rated inner loops. */
    @Test
    void evaluateWithLearnedRates() {
        ModelSpec spec = CudaTestModels.TINY_TEXT;
        double[] theta = CudaTestModels.params(spec, 91);
        int n = theta.length;
        TaskBatch batch = CudaTestModels.batch(spec, 3, 5, 92, true);
        Rng r = Rng.of(93);
        double[] lr = new double[n];
        for (int i = 0; i < n; i++) lr[i] = (float) (0.05 + 0.3 * r.nextDouble());
        TrainState s = new TrainState(theta, new double[n], new double[n], 0, lr, new double[n], new double[n]);
        double[] nll, gpuNll;
        try (CpuEngine cpu =
                new CpuEngine(settings(spec, Algorithm.FOMAML, 0.1, 0, Precision.FLOAT64, InnerLr.Mode.PER_ELEMENT))) {
            cpu.setState(s);
            nll = cpu.evaluate(batch);
        }
        try (CudaEngine gpu =
                new CudaEngine(settings(spec, Algorithm.FOMAML, 0.1, 0, Precision.FLOAT32, InnerLr.Mode.PER_ELEMENT))) {
            gpu.setState(s);
            gpuNll = gpu.evaluate(batch);
            assertArrayEquals(theta, gpu.state().theta(), 0.0, "evaluate leaves theta alone");
        }
        assertNll(nll, gpuNll, "evaluate with learned rates");
    }

    static Stream<Arguments> rateCases() {
        return CudaTestModels.layerCases("embed", "layernorm", "gated_residual", "siren", "softmax cross-entropy");
    }

    /**
     * FOMAML and MAML (segment length 2) with learned rates, per tensor and per element, from rates drawn
     * in [0.05, 0.35): the meta-gradient and the gradient of the learned rates against the CPU engine's.
     * Two tasks of 4 and 3 steps. Measured relative errors: theta's gradient 4.5e-8 .. 4.2e-7, the rates'
     * gradient 3.2e-9 .. 6.0e-7, and 3.0e-6 for the per-element rates of the softmax case under FOMAML,
     * probably from cancellation in -((sum_t g_t)^2 - sum_t g_t^2) / 2 of float32 sums.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("rateCases")
    void learnedRates(String name, ModelSpec spec) {
        double[] theta = CudaTestModels.params(spec, 71);
        TaskBatch batch = CudaTestModels.batch(spec, 2, 4, 72, true);
        int n = theta.length;
        for (InnerLr.Mode mode : new InnerLr.Mode[] {InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT}) {
            int size = new InnerLrLayout(spec.layout(), mode).size();
            Rng r = Rng.of(73);
            double[] lr = new double[size];
            for (int i = 0; i < size; i++) lr[i] = (float) (0.05 + 0.3 * r.nextDouble());
            TrainState s =
                    new TrainState(theta, new double[n], new double[n], 0, lr, new double[size], new double[size]);
            for (Algorithm alg : new Algorithm[] {Algorithm.FOMAML, Algorithm.MAML}) {
                int segment = alg == Algorithm.MAML ? 2 : 0;
                String what = name + " " + alg + " " + mode;
                double[] g = new double[n], gLr = new double[size], got = new double[n], gotLr = new double[size];
                double[] nll, gpuNll;
                try (CpuEngine cpu = new CpuEngine(settings(spec, alg, 0.1, 0, Precision.FLOAT64, mode))) {
                    cpu.setState(s);
                    nll = cpu.metaGradient(batch, g, gLr);
                }
                try (CudaEngine gpu = new CudaEngine(settings(spec, alg, 0.1, segment, Precision.FLOAT32, mode))) {
                    gpu.setState(s);
                    gpuNll = gpu.metaGradient(batch, got, gotLr);
                }
                assertClose(g, got, what + " meta-gradient");
                assertClose(gLr, gotLr, what + " rates' gradient");
                assertNll(nll, gpuNll, what);
            }
        }
    }

    /**
     * MAML's meta-gradient for segment lengths 1, 2 and T against the CPU engine's (float64, its default
     * segment): within {@link #BOUND}, and the three segment lengths equal bit for bit, since recomputing
     * a segment runs the same kernels on the same values as the forward loop. With splits > 0, the
     * Hessian-vector kernels share each slab's rows among that many blocks.
     */
    static void compareMaml(ModelSpec spec, double alpha, TaskBatch batch, long seed, int splits, String what) {
        double[] theta = CudaTestModels.params(spec, seed);
        double[] want = new double[theta.length];
        double[] nll = cpuMetaGradient(cpuSettings(spec, Algorithm.MAML, alpha), TrainState.fresh(theta), batch, want);
        int steps = batch.maxSteps();
        double[] first = null;
        for (int k : IntStream.of(1, 2, steps)
                .map(k -> Math.min(k, steps))
                .distinct()
                .toArray()) {
            double[] got = new double[theta.length];
            double[] gpuNll;
            try (CudaEngine gpu =
                    new CudaEngine(settings(spec, Algorithm.MAML, alpha, k, Precision.FLOAT32, InnerLr.Mode.FIXED))) {
                if (splits > 0) gpu.useRowSplits(splits);
                gpu.setState(TrainState.fresh(theta));
                gpuNll = gpu.metaGradient(batch, got);
            }
            assertClose(want, got, what + " K=" + k + " maml meta-gradient");
            assertNll(nll, gpuNll, what + " K=" + k);
            if (first == null) first = got;
            else assertArrayEquals(first, got, 0.0, what + ": K=" + k + " differs from K=1");
        }
    }

    /**
     * Two tasks of 4 and 3 steps (the shorter one's last step is a no-op on both sweeps): every layer's
     * tangent kernels, the checkpoints, the recomputed segments and the adjoint recursion.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayerMaml(String name, ModelSpec spec) {
        compareMaml(spec, 0.2, CudaTestModels.batch(spec, 2, 4, 23, true), 33, 0, name + " maml");
    }

    /** Hessian terms matter: with the gradient of the last step alone (T = 1), MAML is that gradient. */
    @Test
    void mamlOfOneStepIsTheGradient() {
        ModelSpec m = CudaTestModels.TINY_TEXT;
        compareMaml(m, 0.3, CudaTestModels.batch(m, 2, 1, 47, false), 48, 0, "text T1");
    }

    static int[][] positions(boolean text, int steps) {
        int[][] p = new int[steps][];
        for (int t = 0; t < steps; t++) p[t] = text ? new int[] {t} : new int[] {t % 5, t % 6};
        return p;
    }

    /**
     * sample draws the CPU's numbers: the same uniforms, so a draw could differ only when one lands within
     * float rounding of a class boundary. On the simulated driver (host float arithmetic, as the CPU
     * engine's float32 path) every sample is equal; a GPU's fused multiply-adds may move one draw.
     */
    @Test
    void samplingDrawsTheCpusNumbers() {
        boolean exact = SimulatedDriver.active();
        for (ModelSpec spec :
                new ModelSpec[] {CudaTestModels.TINY_MNIST, CudaTestModels.TINY_TEXT, CudaTestModels.TINY_GATED}) {
            boolean text = spec == CudaTestModels.TINY_TEXT;
            int steps = text ? 9 : 30, count = 6;
            double[] theta = CudaTestModels.params(spec, 39);
            int[][] positions = positions(text, steps);
            int[][] cpu, gpu;
            try (CpuEngine c = new CpuEngine(cpuSettings(spec, Algorithm.REPTILE, 0.1))) {
                c.setState(TrainState.fresh(theta));
                cpu = c.sample(positions, count, 0.9, 11, text);
            }
            try (CudaEngine g = new CudaEngine(gpuSettings(spec, Algorithm.REPTILE, 0.1))) {
                g.setState(TrainState.fresh(theta));
                gpu = g.sample(positions, count, 0.9, 11, text);
            }
            int same = 0;
            for (int b = 0; b < count; b++) if (Arrays.equals(cpu[b], gpu[b])) same++;
            assertTrue(
                    same >= (exact ? count : count - 1),
                    spec.task() + ": " + same + " of " + count + " samples equal the CPU's");
        }
    }

    static Stream<Arguments> splitCases() {
        return CudaTestModels.layerCases(
                "linear",
                "lstm_block",
                "gated",
                "relu",
                "siren",
                "gated_residual",
                "softmax cross-entropy",
                "layernorms around lstm_block");
    }

    /**
     * FOMAML's meta-gradient and NLL with the engine set up by setup, against want and nll, twice on one
     * engine with the same bits (the arrival counts of the last-block patterns must be back at zero after
     * the first); returns it.
     */
    static double[] fomamlTwice(
            ModelSpec spec,
            TaskBatch batch,
            double[] theta,
            double[] want,
            double[] nll,
            java.util.function.Consumer<CudaEngine> setup,
            String what) {
        try (CudaEngine gpu = new CudaEngine(gpuSettings(spec, Algorithm.FOMAML, 0.5))) {
            setup.accept(gpu);
            gpu.setState(TrainState.fresh(theta));
            double[] g = new double[theta.length], again = new double[theta.length];
            double[] gpuNll = gpu.metaGradient(batch, g);
            double[] nllAgain = gpu.metaGradient(batch, again);
            assertClose(want, g, what + " meta-gradient");
            assertNll(nll, gpuNll, what);
            assertArrayEquals(g, again, 0.0, what + ": a second meta-batch");
            assertArrayEquals(gpuNll, nllAgain, 0.0, what + ": NLL of a second meta-batch");
            return g;
        }
    }

    /**
     * Row splits: each backward slab's rows shared by 2, 3 or 7 blocks (7 leaves some splits of the narrow
     * layers without rows), whose column sums the last block to arrive adds in split order. FOMAML against
     * the CPU, twice with the same bits whichever block came last; then MAML with 3 splits.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("splitCases")
    void rowSplitsGiveTheCpusResultsWhateverBlockComesLast(String name, ModelSpec spec) {
        double[] theta = CudaTestModels.params(spec, 81);
        TaskBatch batch = CudaTestModels.batch(spec, 3, 3, 82, true);
        double[] want = new double[theta.length];
        double[] nll = cpuMetaGradient(cpuSettings(spec, Algorithm.FOMAML, 0.5), TrainState.fresh(theta), batch, want);
        for (int splits : new int[] {2, 3, 7})
            fomamlTwice(
                    spec, batch, theta, want, nll, gpu -> gpu.useRowSplits(splits), name + ", " + splits + " splits");
        compareMaml(spec, 0.2, CudaTestModels.batch(spec, 2, 4, 23, true), 33, 3, name + ", 3 splits");
    }

    static Stream<Arguments> foldCases() {
        return CudaTestModels.layerCases("embed", "layernorm", "layernorms around lstm_block", "gated after layernorm");
    }

    /**
     * Layernorms and embeddings folded into their neighbours' kernels (the default) and run by their own
     * kernels give the same bits: a layernorm tail's block adds the features' terms in the same order as
     * layernorm.cu's kernels do, and the folded embedding reads and updates the same elements.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("foldCases")
    void foldedSmallLayersAndTheirOwnKernelsAgree(String name, ModelSpec spec) {
        double[] theta = CudaTestModels.params(spec, 91);
        TaskBatch batch = CudaTestModels.batch(spec, 3, 3, 92, true);
        double[] want = new double[theta.length];
        double[] nll = cpuMetaGradient(cpuSettings(spec, Algorithm.FOMAML, 0.5), TrainState.fresh(theta), batch, want);
        double[] folded =
                fomamlTwice(spec, batch, theta, want, nll, gpu -> gpu.foldSmallLayers(true), name + ", folded");
        double[] own =
                fomamlTwice(spec, batch, theta, want, nll, gpu -> gpu.foldSmallLayers(false), name + ", own kernels");
        assertArrayEquals(own, folded, 0.0, name + ": folding changed the bits");
    }
}
