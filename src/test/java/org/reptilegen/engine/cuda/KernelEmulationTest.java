package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.reptilegen.engine.cuda.CudaTestModels.relErr;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.Precision;
import org.reptilegen.engine.TrainState;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.engine.cuda.KernelEmulator.At;
import org.reptilegen.engine.cuda.KernelEmulator.Memory;
import org.reptilegen.engine.cuda.KernelEmulator.Plan;
import org.reptilegen.meta.Adam;
import org.reptilegen.config.InnerLr;
import org.reptilegen.meta.Algorithm;
import org.reptilegen.meta.InnerRates;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.task.TaskBatch;
import org.reptilegen.util.Rng;

/**
 * Every kernel against the CPU engine without a GPU: the launches the engine's own StepPlan and
 * Workspace build are recorded (kernel, grid, block, arguments, pointers as offsets into one arena)
 * and run by a host emulator compiled from the real kernels/*.cu (src/test/cuda-emulator), in the
 * order CudaEngine issues them. The kernels compute in float32, the CPU engine in float64: meta-
 * gradients, parameters and Adam moments must agree to a relative error (norm of the difference over
 * norm of the reference) of {@link #BOUND}, each task's NLL to {@link #BOUND} of itself, samples exactly;
 * MAML's meta-gradients for segment lengths 1, 2 and T also equal each other bit for bit.
 * Skipped when no C++ compiler is on PATH.
 */
class KernelEmulationTest {
    /**
     * float32 kernels against the float64 CPU engine; the cases here agree to about 2e-6, MAML's to 1e-7
     * .. 2.4e-6 and its lstm_block case to 1.6e-5 (see {@link #compareMaml}).
     */
    static final double BOUND = 1e-4;

    @TempDir
    Path dir;

    @BeforeAll
    static void buildEmulator() throws Exception {
        assumeTrue(KernelEmulator.compiler() != null, "no C++ compiler (g++ or c++) on PATH to build the kernel emulator");
        KernelEmulator.binary();
    }

    static EngineSettings settings(ModelSpec m, Algorithm a, double alpha, Adam adam) {
        return new EngineSettings(m, a, alpha, 0, Precision.FLOAT64, adam, 1);
    }

    static final Adam ADAM = new Adam(1e-2, 0.9, 0.99, 1e-8);

    private static long align(long bytes) {
        return (bytes + 255) / 256 * 256;
    }

    /**
     * The device memory of one engine call in one arena: the workspace first, then what CudaEngine
     * allocates on its own (theta, Adam's moments, the float64 meta-gradient).
     */
    private static final class Layout {
        final Workspace w;
        final int n;
        final CUdeviceptr theta, m, v, g;
        final Plan plan;

        Layout(ModelSpec spec, int tasks, int steps, boolean accumulate) {
            this(spec, tasks, steps, accumulate, 0);
        }

        Layout(ModelSpec spec, int tasks, int steps, boolean accumulate, int segment) {
            this(spec, tasks, steps, accumulate, segment, false);
        }

        Layout(ModelSpec spec, int tasks, int steps, boolean accumulate, int segment, boolean rated) {
            this(spec, tasks, steps, accumulate, segment, rated, PlanOptions.DEFAULT);
        }

        Layout(ModelSpec spec, int tasks, int steps, boolean accumulate, int segment, boolean rated, PlanOptions options) {
            w = Workspace.at(new At(0), spec, tasks, Math.max(steps, 1), accumulate, segment, rated, options);
            n = spec.layout().size();
            long o = align(w.bytes());
            theta = new At(o);
            o += align(4L * n);
            m = new At(o);
            o += align(4L * n);
            v = new At(o);
            o += align(4L * n);
            g = new At(o);
            o += 8L * n;
            plan = new Plan(o).constants(w.arena);
        }

        /** As CudaEngine.uploadInputs: xs [T x B x inDim], ys [T x B], -1 past a task's end. */
        void inputs(TaskBatch batch, int inDim) {
            int tasks = batch.size(), steps = batch.maxSteps();
            int[] xs = new int[steps * tasks * inDim];
            int[] ys = new int[steps * tasks];
            Arrays.fill(ys, -1);
            for (int b = 0; b < tasks; b++)
                for (int t = 0; t < batch.steps(b); t++) {
                    System.arraycopy(batch.x()[b][t], 0, xs, (t * tasks + b) * inDim, inDim);
                    ys[t * tasks + b] = batch.y()[b][t];
                }
            plan.ints(w.xs, xs).ints(w.ys, ys);
        }

        /** As CudaEngine.startTasks. */
        void startTasks(boolean accumulate) {
            plan.launches(w.start(theta, accumulate)).zero(w.nll, 8L * w.tasks);
        }

        /** As CudaEngine's inner loops: the same step, replayed once per step of the longest task. */
        void innerLoops(TaskBatch batch, float alpha, boolean accumulate) {
            inputs(batch, batch.kind().inputDim);
            startTasks(accumulate);
            List<Launch> step = w.trainStep(alpha, accumulate);
            for (int t = 0; t < batch.maxSteps(); t++) plan.launches(step);
        }
    }

    /** What the emulated engine left: meta-gradient, losses, theta and Adam's moments after the call. */
    private record Result(double[] g, double[] nll, double[] theta, double[] m, double[] v) {
        static Result of(Layout l, Memory mem) {
            return new Result(mem.doubles(l.g, l.n), mem.doubles(l.w.nll, l.w.tasks), mem.floats(l.theta, l.n),
                    mem.floats(l.m, l.n), mem.floats(l.v, l.n));
        }
    }

    /** The plan of CudaEngine.metaGradient (adam: metaStep with the Adam step t) from the given state. */
    private static Layout metaGradientPlan(ModelSpec spec, Algorithm alg, double alpha, TaskBatch batch, TrainState s, boolean adam) {
        return metaGradientPlan(spec, alg, alpha, batch, s, adam, PlanOptions.DEFAULT);
    }

    private static Layout metaGradientPlan(ModelSpec spec, Algorithm alg, double alpha, TaskBatch batch, TrainState s, boolean adam,
                                           PlanOptions options) {
        boolean fomaml = alg == Algorithm.FOMAML;
        Layout l = new Layout(spec, batch.size(), batch.maxSteps(), fomaml, 0, false, options);
        l.plan.floats(l.theta, s.theta()).floats(l.m, s.adamM()).floats(l.v, s.adamV());
        l.innerLoops(batch, (float) alpha, fomaml);
        l.plan.launch(l.w.metaGradientMean(l.theta, l.g, fomaml));
        if (adam) l.plan.launch(Workspace.adamStep(sig -> null, l.n, l.theta, l.g, l.m, l.v, ADAM, s.adamStep() + 1));
        return l;
    }

    private Result metaGradient(ModelSpec spec, Algorithm alg, double alpha, TaskBatch batch, double[] theta) throws Exception {
        Layout l = metaGradientPlan(spec, alg, alpha, batch, TrainState.fresh(theta), false);
        return Result.of(l, l.plan.run(dir, false));
    }

    /** The CPU engine's FOMAML meta-gradient (alpha 0.5) into g; returns the tasks' losses. */
    private static double[] cpuFomaml(ModelSpec spec, TaskBatch batch, double[] theta, double[] g) {
        try (CpuEngine cpu = new CpuEngine(settings(spec, Algorithm.FOMAML, 0.5, ADAM))) {
            cpu.setState(TrainState.fresh(theta));
            return cpu.metaGradient(batch, g);
        }
    }

    /**
     * The emulated FOMAML meta-gradient (alpha 0.5) laid out with options, over two meta-batches in one plan
     * (so every arrival count must be back at zero after the first), checked against the CPU's g and nll.
     */
    private Emulated fomamlTwice(ModelSpec spec, TaskBatch batch, double[] theta, PlanOptions options, double[] g, double[] nll,
                                 String what) throws Exception {
        Layout l = metaGradientPlan(spec, Algorithm.FOMAML, 0.5, batch, TrainState.fresh(theta), false, options);
        l.innerLoops(batch, 0.5f, true);
        l.plan.launch(l.w.metaGradientMean(l.theta, l.g, true));
        Result emu = Result.of(l, l.plan.run(dir, false));
        assertClose(g, emu.g(), what + ", meta-gradient");
        assertNll(nll, emu.nll(), what);
        return new Emulated(l, emu);
    }

    private record Emulated(Layout layout, Result result) {}

    private static void assertClose(double[] want, double[] got, String what) {
        double e = relErr(got, want);
        assertTrue(e <= BOUND, what + ": relative error " + e + " (bound " + BOUND + ")");
    }

    private static void assertNll(double[] want, double[] got, String what) {
        assertEquals(want.length, got.length);
        for (int b = 0; b < want.length; b++)
            assertEquals(want[b], got[b], BOUND * Math.abs(want[b]) + 1e-6, what + ": NLL of task " + b);
    }

    /** Meta-gradient and losses of both engines from the same theta. */
    private void compareMetaGradient(ModelSpec spec, Algorithm alg, double alpha, TaskBatch batch, long seed, String what) throws Exception {
        double[] theta = CudaTestModels.params(spec, seed);
        Result emu = metaGradient(spec, alg, alpha, batch, theta);
        double[] g = new double[theta.length];
        double[] nll;
        try (CpuEngine cpu = new CpuEngine(settings(spec, alg, alpha, ADAM))) {
            cpu.setState(TrainState.fresh(theta));
            nll = cpu.metaGradient(batch, g);
        }
        assertClose(g, emu.g(), what + " meta-gradient");
        assertNll(nll, emu.nll(), what);
        assertTrue(Arrays.stream(emu.g()).allMatch(Double::isFinite), what + ": a meta-gradient that is not finite");
    }

    /** Three tasks of lengths 3, 2, 3: every layer's forward, backward and fused update, FOMAML's sums. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayerFomaml(String name, ModelSpec spec) throws Exception {
        compareMetaGradient(spec, Algorithm.FOMAML, 0.5, CudaTestModels.batch(spec, 3, 3, 22, true), 32, name + " fomaml");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayerReptile(String name, ModelSpec spec) throws Exception {
        compareMetaGradient(spec, Algorithm.REPTILE, 0.5, CudaTestModels.batch(spec, 3, 3, 22, true), 32, name + " reptile");
    }

    /** One task of one step: the batch edge where every grid has a single row of blocks. */
    @Test
    void oneTaskOneStep() throws Exception {
        ModelSpec m = CudaTestModels.TINY_TEXT;
        compareMetaGradient(m, Algorithm.FOMAML, 0.3, CudaTestModels.batch(m, 1, 1, 43, false), 44, "text B1 T1");
    }

    /** CudaEngine.metaStep: the meta-gradient, then Adam's step t from nonzero moments. */
    @Test
    void adamStep() throws Exception {
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
        for (Algorithm alg : new Algorithm[]{Algorithm.REPTILE, Algorithm.FOMAML}) {
            Layout l = metaGradientPlan(spec, alg, 0.2, batch, s, true);
            Result emu = Result.of(l, l.plan.run(dir, false));
            TrainState cpuState;
            double[] nll;
            try (CpuEngine cpu = new CpuEngine(settings(spec, alg, 0.2, ADAM))) {
                cpu.setState(s);
                nll = cpu.metaStep(batch);
                cpuState = cpu.state();
            }
            assertEquals(5, cpuState.adamStep());
            assertNll(nll, emu.nll(), alg + " Adam");
            // The step itself, not theta: theta is far larger than one step's change.
            assertClose(minus(cpuState.theta(), theta), minus(emu.theta(), theta), alg + " Adam's change of theta");
            assertClose(cpuState.adamM(), emu.m(), alg + " Adam's first moments");
            assertClose(cpuState.adamV(), emu.v(), alg + " Adam's second moments");
        }
    }

    private static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    /**
     * CudaEngine.evaluate: the losses of the inner loops, theta untouched; in a workspace with room for
     * more steps than the batch has, as when the engine reuses the one of a longer batch.
     */
    @Test
    void evaluate() throws Exception {
        for (ModelSpec spec : new ModelSpec[]{CudaTestModels.TINY_MNIST, CudaTestModels.TINY_TEXT, CudaTestModels.TINY_GATED}) {
            double[] theta = CudaTestModels.params(spec, 61);
            TaskBatch batch = CudaTestModels.batch(spec, 3, 5, 62, true);
            Layout l = new Layout(spec, batch.size(), batch.maxSteps() + 2, false);
            l.plan.floats(l.theta, theta);
            l.innerLoops(batch, 0.1f, false);
            Result emu = Result.of(l, l.plan.run(dir, false));
            double[] nll;
            try (CpuEngine cpu = new CpuEngine(settings(spec, Algorithm.REPTILE, 0.1, ADAM))) {
                cpu.setState(TrainState.fresh(theta));
                nll = cpu.evaluate(batch);
            }
            assertNll(nll, emu.nll(), spec.task() + " evaluate");
            assertArrayEquals(theta, emu.theta(), 0.0, "evaluate leaves theta alone");
        }
    }

    // ---- second-order MAML ----

    /**
     * The plan of CudaEngine's MAML meta-gradient with segment length k: the forward inner loop with a
     * checkpoint every k steps, the reverse sweep segment by segment, the mean of the tasks' lambda_0.
     */
    private static Layout mamlPlan(ModelSpec spec, double alpha, TaskBatch batch, double[] theta, int k) {
        return mamlPlan(spec, alpha, batch, theta, k, null);
    }

    /** As above; with perElement (learned rates, expanded) they are uploaded and their gradient's mean taken too. */
    private static Layout mamlPlan(ModelSpec spec, double alpha, TaskBatch batch, double[] theta, int k, double[] perElement) {
        return mamlPlan(spec, alpha, batch, theta, k, perElement, PlanOptions.DEFAULT);
    }

    private static Layout mamlPlan(ModelSpec spec, double alpha, TaskBatch batch, double[] theta, int k, double[] perElement,
                                   PlanOptions options) {
        int steps = batch.maxSteps();
        Layout l = new Layout(spec, batch.size(), steps, false, k, perElement != null, options);
        l.plan.floats(l.theta, theta);
        if (perElement != null) l.plan.floats(l.w.rates, perElement);
        l.inputs(batch, spec.task().inputDim);
        l.startTasks(false);
        List<Launch> step = l.w.trainStep((float) alpha, false);
        int segs = (steps + k - 1) / k;
        for (int seg = 0; seg < segs; seg++) {
            l.plan.launch(l.w.checkpoint(seg));
            for (int t = seg * k; t < Math.min(steps, seg * k + k); t++) l.plan.launches(step);
        }
        l.plan.launches(l.w.mamlStart());
        for (int seg = segs - 1; seg >= 0; seg--) l.plan.launches(l.w.mamlSegmentReverse(seg, steps, (float) alpha));
        l.plan.launch(l.w.mamlMean(l.theta, l.g));
        if (perElement != null) l.plan.launch(l.w.ratesMamlMean(l.theta));
        return l;
    }

    // ---- learned inner learning rates ----

    /** CudaEngine.evaluate with per-element learned rates: the losses of the rated inner loops, theta untouched. */
    @Test
    void evaluateWithLearnedRates() throws Exception {
        ModelSpec spec = CudaTestModels.TINY_TEXT;
        double[] theta = CudaTestModels.params(spec, 91);
        int n = theta.length;
        TaskBatch batch = CudaTestModels.batch(spec, 3, 5, 92, true);
        Rng r = Rng.of(93);
        double[] lr = new double[n];
        for (int i = 0; i < n; i++) lr[i] = (float) (0.05 + 0.3 * r.nextDouble());
        Layout l = new Layout(spec, batch.size(), batch.maxSteps(), false, 0, true);
        l.plan.floats(l.theta, theta).floats(l.w.rates, lr);
        l.innerLoops(batch, 0.1f, false);
        Result emu = Result.of(l, l.plan.run(dir, false));
        double[] nll;
        try (CpuEngine cpu = new CpuEngine(new EngineSettings(spec, Algorithm.FOMAML, 0.1, 0, Precision.FLOAT64, ADAM, 1,
                InnerLr.Mode.PER_ELEMENT))) {
            cpu.setState(new TrainState(theta, new double[n], new double[n], 0, lr, new double[n], new double[n]));
            nll = cpu.evaluate(batch);
        }
        assertNll(nll, emu.nll(), "evaluate with learned rates");
        assertArrayEquals(theta, emu.theta(), 0.0, "evaluate leaves theta alone");
    }

    /** Bound on the meta-gradient and on the rates' gradient with learned rates; measured: see {@link #learnedRates}. */
    static final double RATES_BOUND = 1e-4;

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> rateCases() {
        java.util.Set<String> names = java.util.Set.of("embed", "layernorm", "gated_residual", "siren", "softmax cross-entropy");
        return CudaTestModels.layerCases().filter(a -> names.contains((String) a.get()[0]));
    }

    /**
     * FOMAML and MAML (segment length 2) with learned rates, per tensor and per element, from rates
     * drawn in [0.05, 0.35): the meta-gradient and the gradient of the learned rates against the CPU
     * engine's. Two tasks of 4 and 3 steps. Measured relative errors: theta's gradient 4.5e-8 .. 4.2e-7,
     * the rates' gradient 3.2e-9 .. 6.0e-7, and 3.0e-6 for the per-element rates of the softmax case
     * under FOMAML, probably from cancellation in -((sum_t g_t)^2 - sum_t g_t^2) / 2 of float32 sums.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("rateCases")
    void learnedRates(String name, ModelSpec spec) throws Exception {
        double[] theta = CudaTestModels.params(spec, 71);
        TaskBatch batch = CudaTestModels.batch(spec, 2, 4, 72, true);
        int n = theta.length;
        for (InnerLr.Mode mode : new InnerLr.Mode[]{InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT}) {
            InnerRates rates = new InnerRates(spec.layout(), mode);
            Rng r = Rng.of(73);
            double[] lr = new double[rates.size()];
            for (int i = 0; i < lr.length; i++) lr[i] = (float) (0.05 + 0.3 * r.nextDouble());
            double[] perElement = new double[n];
            rates.expand(lr, perElement);
            for (Algorithm alg : new Algorithm[]{Algorithm.FOMAML, Algorithm.MAML}) {
                double[] g = new double[n], gLr = new double[lr.length];
                double[] nll;
                try (CpuEngine cpu = new CpuEngine(new EngineSettings(spec, alg, 0.1, 0, Precision.FLOAT64, ADAM, 1, mode))) {
                    cpu.setState(new TrainState(theta, new double[n], new double[n], 0, lr, new double[lr.length], new double[lr.length]));
                    nll = cpu.metaGradient(batch, g, gLr);
                }
                Layout l;
                if (alg == Algorithm.MAML) {
                    l = mamlPlan(spec, 0.1, batch, theta, 2, perElement);
                } else {
                    l = new Layout(spec, batch.size(), batch.maxSteps(), true, 0, true);
                    l.plan.floats(l.theta, theta).floats(l.w.rates, perElement);
                    l.innerLoops(batch, 0.1f, true);
                    l.plan.launch(l.w.metaGradientMean(l.theta, l.g, true)).launch(l.w.ratesFomamlMean());
                }
                Memory mem = l.plan.run(dir, false);
                String what = name + " " + alg + " " + mode;
                double[] emuG = mem.doubles(l.g, n);
                double[] emuLr = new double[lr.length];
                rates.reduce(mem.doubles(l.w.rateMean, n), emuLr);
                assertTrue(Arrays.stream(emuG).allMatch(Double::isFinite) && Arrays.stream(emuLr).allMatch(Double::isFinite),
                        what + ": a gradient that is not finite");
                double eg = relErr(emuG, g), elr = relErr(emuLr, gLr);
                assertTrue(eg <= RATES_BOUND, what + " meta-gradient: relative error " + eg);
                assertTrue(elr <= RATES_BOUND, what + " rates' gradient: relative error " + elr);
                assertNll(nll, mem.doubles(l.w.nll, l.w.tasks), what);
            }
        }
    }

    /**
     * MAML's meta-gradient for segment lengths 1, 2 and T against the CPU engine's (float64, its default
     * segment): within {@link #BOUND}, and the three segment lengths equal bit for bit, since recomputing
     * a segment runs the same kernels on the same values as the forward loop. Measured: 1e-7 to 2.4e-6,
     * and 1.6e-5 for lstm_block, whose four steps at alpha 0.2 amplify float32 rounding (at alpha 0.5
     * its FOMAML is 3e-5 off and its MAML 9e-5; at 0.05 both are 2e-6).
     */
    private void compareMaml(ModelSpec spec, double alpha, TaskBatch batch, long seed, String what) throws Exception {
        compareMaml(spec, alpha, batch, seed, PlanOptions.DEFAULT, what);
    }

    private void compareMaml(ModelSpec spec, double alpha, TaskBatch batch, long seed, PlanOptions options, String what) throws Exception {
        double[] theta = CudaTestModels.params(spec, seed);
        double[] g = new double[theta.length];
        double[] nll;
        try (CpuEngine cpu = new CpuEngine(settings(spec, Algorithm.MAML, alpha, ADAM))) {
            cpu.setState(TrainState.fresh(theta));
            nll = cpu.metaGradient(batch, g);
        }
        int steps = batch.maxSteps();
        double[] first = null;
        for (int k : java.util.stream.IntStream.of(1, 2, steps).map(k -> Math.min(k, steps)).distinct().toArray()) {
            Layout l = mamlPlan(spec, alpha, batch, theta, k, null, options);
            Memory mem = l.plan.run(dir, false);
            double[] emu = mem.doubles(l.g, l.n);
            assertTrue(Arrays.stream(emu).allMatch(Double::isFinite), what + " K=" + k + ": a meta-gradient that is not finite");
            assertClose(g, emu, what + " K=" + k + " maml meta-gradient");
            assertNll(nll, mem.doubles(l.w.nll, l.w.tasks), what + " K=" + k);
            if (first == null) first = emu;
            else assertArrayEquals(first, emu, 0.0, what + ": K=" + k + " differs from K=1");
        }
    }

    /**
     * Two tasks of 4 and 3 steps (the shorter one's last step is a no-op on both sweeps): every layer's
     * tangent kernels, the checkpoints, the recomputed segments and the adjoint recursion.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayerMaml(String name, ModelSpec spec) throws Exception {
        compareMaml(spec, 0.2, CudaTestModels.batch(spec, 2, 4, 23, true), 33, name + " maml");
    }

    /** Hessian terms matter: with the gradient of the last step alone (T = 1), MAML is that gradient. */
    @Test
    void mamlOfOneStepIsTheGradient() throws Exception {
        ModelSpec m = CudaTestModels.TINY_TEXT;
        compareMaml(m, 0.3, CudaTestModels.batch(m, 2, 1, 47, false), 48, "text T1");
    }

    /** The plan of CudaEngine.sample for one chunk of count samples. */
    private static Layout samplePlan(ModelSpec spec, double[] theta, int[][] positions, int count, double temperature,
                                     long seed, boolean stopAtZero) {
        int steps = positions.length, inDim = spec.task().inputDim;
        Layout l = new Layout(spec, count, steps, false);
        l.plan.floats(l.theta, theta);
        int[] xs = new int[steps * count * inDim];
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < count; b++) System.arraycopy(positions[t], 0, xs, (t * count + b) * inDim, inDim);
        l.plan.ints(l.w.xs, xs);
        long[] streams = new long[count];
        for (int b = 0; b < count; b++) streams[b] = SampleStreams.start(seed, b);
        l.plan.longs(l.w.streams, streams).zero(l.w.done, 4L * count);
        l.startTasks(false);
        List<Launch> step = l.w.plan.sampleStep(l.w.sgd(0.1f, false), temperature, stopAtZero);
        for (int t = 0; t < steps; t++) l.plan.launches(step);
        return l;
    }

    private static int[][] samples(Layout l, Memory mem, int count, int steps) {
        int[] drawn = mem.ints(l.w.out, count * l.w.steps);
        int[][] out = new int[count][];
        for (int b = 0; b < count; b++) out[b] = Arrays.copyOfRange(drawn, b * l.w.steps, b * l.w.steps + steps);
        return out;
    }

    private static int[][] positions(boolean text, int steps) {
        int[][] p = new int[steps][];
        for (int t = 0; t < steps; t++) p[t] = text ? new int[]{t} : new int[]{t % 5, t % 6};
        return p;
    }

    /**
     * CudaEngine.sample draws the CPU's numbers: the same uniforms, and a draw could differ only when
     * one lands within float rounding of a class boundary, which it does not for this seed.
     */
    @Test
    void samplingDrawsTheCpusNumbers() throws Exception {
        for (ModelSpec spec : new ModelSpec[]{CudaTestModels.TINY_MNIST, CudaTestModels.TINY_TEXT, CudaTestModels.TINY_GATED}) {
            boolean text = spec == CudaTestModels.TINY_TEXT;
            int steps = text ? 9 : 30, count = 6;
            double[] theta = CudaTestModels.params(spec, 39);
            int[][] positions = positions(text, steps);
            Layout l = samplePlan(spec, theta, positions, count, 0.9, 11, text);
            int[][] emu = samples(l, l.plan.run(dir, false), count, steps);
            int[][] cpu;
            try (CpuEngine c = new CpuEngine(settings(spec, Algorithm.REPTILE, 0.1, ADAM))) {
                c.setState(TrainState.fresh(theta));
                cpu = c.sample(positions, count, 0.9, 11, text);
            }
            for (int b = 0; b < count; b++) assertArrayEquals(cpu[b], emu[b], spec.task() + " sample " + b);
        }
    }

    /**
     * The kernels' results do not depend on the order of blocks or of threads between barriers: the
     * whole arena is the same, bit for bit, when both run in reverse (a race would change bits).
     */
    @Test
    void blockAndThreadOrderDoNotMatter() throws Exception {
        ModelSpec nested = layerCase("nested residuals");
        Layout meta = metaGradientPlan(nested, Algorithm.FOMAML, 0.3, CudaTestModels.batch(nested, 3, 3, 41, true),
                TrainState.fresh(CudaTestModels.params(nested, 42)), false);
        assertSameBits(meta.plan, "nested residuals fomaml");
        ModelSpec lstmSpec = layerCase("lstm_block");
        Layout lstm = metaGradientPlan(lstmSpec, Algorithm.REPTILE, 0.3, CudaTestModels.batch(lstmSpec, 2, 2, 45, true),
                TrainState.fresh(CudaTestModels.params(lstmSpec, 46)), false);
        assertSameBits(lstm.plan, "lstm_block reptile");
        Layout maml = mamlPlan(nested, 0.3, CudaTestModels.batch(nested, 2, 3, 43, true), CudaTestModels.params(nested, 44), 2);
        assertSameBits(maml.plan, "nested residuals maml");
        ModelSpec around = layerCase("layernorms around lstm_block");
        Layout folded = metaGradientPlan(around, Algorithm.FOMAML, 0.3, CudaTestModels.batch(around, 3, 2, 47, true),
                TrainState.fresh(CudaTestModels.params(around, 48)), false, PlanOptions.of(RowSplits.fixed(3)));
        assertSameBits(folded.plan, "small layers folded, 3 splits");
        ModelSpec text = CudaTestModels.TINY_TEXT;
        Layout sample = samplePlan(text, CudaTestModels.params(text, 39), positions(true, 9), 6, 0.9, 11, true);
        assertSameBits(sample.plan, "text sampling");
    }

    /**
     * Row splits: each backward slab's rows shared by 2, 3 or 7 blocks (7 leaves some splits of the
     * narrow layers without rows), whose column sums the last block to arrive adds in split order.
     * FOMAML (the update, its gradient sums and the input gradient) against the CPU, over two meta-
     * batches in one plan, so the arrival counts must have been set back to zero by the first; reversed
     * block and thread order give the same bits, whichever block comes last. Then MAML with 3 splits.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("splitCases")
    void rowSplitsGiveTheCpusResultsWhateverBlockComesLast(String name, ModelSpec spec) throws Exception {
        double[] theta = CudaTestModels.params(spec, 81);
        TaskBatch batch = CudaTestModels.batch(spec, 3, 3, 82, true);
        double[] g = new double[theta.length];
        double[] nll = cpuFomaml(spec, batch, theta, g);
        for (int splits : new int[]{2, 3, 7}) {
            Emulated e = fomamlTwice(spec, batch, theta, PlanOptions.of(RowSplits.fixed(splits)), g, nll, name + ", " + splits + " splits");
            assertSameBits(e.layout().plan, name + ", " + splits + " splits");
        }
        // The Hessian-vector kernels split the same way (two column sums each), in MAML with every segment length.
        compareMaml(spec, 0.2, CudaTestModels.batch(spec, 2, 4, 23, true), 33, PlanOptions.of(RowSplits.fixed(3)), name + ", 3 splits");
    }

    /**
     * Layernorms and embeddings folded into their neighbours' kernels (the default) and run by their own
     * kernels give the same bits: a layernorm tail's block adds the features' terms in the same order as
     * layernorm.cu's kernels do, and the folded embedding reads and updates the same elements. Both
     * against the CPU, over two meta-batches (the tails' arrival counts must be back at zero).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("foldCases")
    void foldedSmallLayersAndTheirOwnKernelsAgree(String name, ModelSpec spec) throws Exception {
        double[] theta = CudaTestModels.params(spec, 91);
        TaskBatch batch = CudaTestModels.batch(spec, 3, 3, 92, true);
        double[] g = new double[theta.length];
        double[] nll = cpuFomaml(spec, batch, theta, g);
        double[][] got = new double[2][];
        for (boolean fold : new boolean[]{true, false}) {
            got[fold ? 0 : 1] = fomamlTwice(spec, batch, theta, PlanOptions.DEFAULT.withSmallLayersFolded(fold), g, nll,
                    name + (fold ? ", folded" : ", own kernels")).result().g();
        }
        assertArrayEquals(got[1], got[0], name + ": folding changed the bits");
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> foldCases() {
        java.util.Set<String> names = java.util.Set.of("embed", "layernorm", "layernorms around lstm_block", "gated after layernorm");
        return CudaTestModels.layerCases().filter(a -> names.contains((String) a.get()[0]));
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> splitCases() {
        java.util.Set<String> names = java.util.Set.of("linear", "lstm_block", "gated", "relu", "siren", "gated_residual",
                "softmax cross-entropy", "layernorms around lstm_block");
        return CudaTestModels.layerCases().filter(a -> names.contains((String) a.get()[0]));
    }

    @Test
    void automaticRowSplitsFillTheLastWave() {
        // 132 multiprocessors hold 528 blocks. mnist-lstm's lstm_block at B = 50: 16 slabs x 50 tasks = 800
        // blocks, a last wave of 272; 3 splits of its 1,024 rows make 2,400, four full waves and one of 288.
        RowSplits h100 = RowSplits.auto(132);
        assertEquals(3, h100.splits(800, 1024));
        // At B = 8 its 128 blocks would leave most multiprocessors idle: 4 splits (of 256 rows) make 512.
        assertEquals(4, h100.splits(128, 1024));
        // linear(256, 256): 256 rows are one split's least.
        assertEquals(1, h100.splits(400, 256));
        assertEquals(1, RowSplits.NONE.splits(800, 1024));
        assertEquals(3, RowSplits.fixed(3).splits(800, 1024));
        assertEquals(2, RowSplits.fixed(3).splits(800, 2));
    }

    private static ModelSpec layerCase(String name) {
        return CudaTestModels.layerCases().filter(a -> a.get()[0].equals(name)).map(a -> (ModelSpec) a.get()[1]).findFirst().orElseThrow();
    }

    private void assertSameBits(Plan plan, String what) throws Exception {
        byte[] forward = plan.run(dir, false).bytes();
        byte[] reversed = plan.run(dir, true).bytes();
        assertTrue(Arrays.equals(forward, reversed), what + ": reversed block and thread order changed the results");
    }
}
