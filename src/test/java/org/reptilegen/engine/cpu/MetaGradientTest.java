package org.reptilegen.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/** The meta-gradients (README, The math, 4) on the CPU, in float64. */
class MetaGradientTest {
    /** embed, linear, layernorm, lstm_block, gated, linear: every kind of parameterised layer MAML must see through. */
    static final ModelSpec STACK = new ModelSpec(
            TaskKind.MNIST,
            List.of(
                    new LayerSpec.Embed(List.of(new int[] {5, 3}, new int[] {6, 3})),
                    new LayerSpec.Linear(6, 6),
                    new LayerSpec.LayerNorm(6),
                    new LayerSpec.LstmBlock(6),
                    new LayerSpec.Linear(6, 8),
                    new LayerSpec.Gated(),
                    new LayerSpec.Linear(4, 1)));

    static int[][] xs(int steps, Rng r) {
        int[][] x = new int[steps][];
        for (int t = 0; t < steps; t++) x[t] = new int[] {r.nextInt(5), r.nextInt(6)};
        return x;
    }

    static int[] ys(int steps, Rng r) {
        int[] y = new int[steps];
        for (int t = 0; t < steps; t++) y[t] = r.nextInt(2);
        return y;
    }

    /** The meta-objective: sum_t l_t(theta_t) of the inner loop started at theta. */
    static double objective(Net net, double[] theta, int[][] x, int[] y, double alpha) {
        return InnerLoops.run(net, theta, x, y, alpha, new double[theta.length]);
    }

    @Test
    void mamlGradientMatchesFiniteDifferencesOfTheMetaObjective() {
        Net net = new Net(STACK, false);
        double[] theta = GradientCheckTest.randomParams(STACK, 11);
        Rng r = Rng.of(3);
        int steps = 5;
        int[][] x = xs(steps, r);
        int[] y = ys(steps, r);
        double alpha = 0.3; // large, so the second-order terms matter
        double[] g = new double[theta.length];
        InnerLoops.maml(net, theta, x, y, alpha, 2, new InnerLoops.MamlWorkspace(), g);

        double h = 1e-5;
        double[] fd = new double[theta.length];
        for (int i = 0; i < theta.length; i++) {
            double keep = theta[i];
            theta[i] = keep + h;
            double fp = objective(net, theta, x, y, alpha);
            theta[i] = keep - h;
            double fm = objective(net, theta, x, y, alpha);
            theta[i] = keep;
            fd[i] = (fp - fm) / (2 * h);
        }
        double err = GradientCheckTest.relErr(g, fd);
        assertTrue(err < 1e-6, "MAML meta-gradient relative error " + err);

        // The first-order gradient misses the Hessian terms, so it must be measurably different here.
        double[] fo = new double[theta.length];
        InnerLoops.fomaml(net, theta, x, y, alpha, fo, new double[theta.length], new double[theta.length]);
        assertTrue(GradientCheckTest.relErr(fo, fd) > 1e-3, "FOMAML should differ from MAML at a large alpha");
    }

    @Test
    void mamlWithOneStepIsThePlainGradient() {
        Net net = new Net(STACK, false);
        double[] theta = GradientCheckTest.randomParams(STACK, 12);
        Rng r = Rng.of(4);
        int[][] x = xs(1, r);
        int[] y = ys(1, r);
        double[] g = new double[theta.length], plain = new double[theta.length];
        InnerLoops.maml(net, theta, x, y, 0.1, 1, new InnerLoops.MamlWorkspace(), g);
        net.gradient(theta, x[0], y[0], plain);
        assertArrayEquals(plain, g, 0);
    }

    @Test
    void checkpointingDoesNotChangeTheMamlGradient() {
        Net net = new Net(STACK, false);
        double[] theta = GradientCheckTest.randomParams(STACK, 13);
        Rng r = Rng.of(5);
        int steps = 9;
        int[][] x = xs(steps, r);
        int[] y = ys(steps, r);
        double[] ref = new double[theta.length];
        double nll = InnerLoops.maml(net, theta, x, y, 0.1, steps, new InnerLoops.MamlWorkspace(), ref);
        for (int k : new int[] {1, 2, 3, 4}) {
            double[] g = new double[theta.length];
            double n2 = InnerLoops.maml(net, theta, x, y, 0.1, k, new InnerLoops.MamlWorkspace(), g);
            assertArrayEquals(ref, g, 0, "K = " + k);
            assertEquals(nll, n2, 0);
        }
        assertEquals(3, MamlSegment.of(0, 9));
        assertEquals(28, MamlSegment.of(0, 784));
    }

    @Test
    void fomamlIsTheSumOfTheInnerGradients() {
        Net net = new Net(STACK, false);
        double[] theta = GradientCheckTest.randomParams(STACK, 14);
        Rng r = Rng.of(6);
        int[][] x = xs(4, r);
        int[] y = ys(4, r);
        double alpha = 0.05;
        double[] g = new double[theta.length];
        InnerLoops.fomaml(net, theta, x, y, alpha, g, new double[theta.length], new double[theta.length]);
        // theta_T = theta - alpha * sum_t grad l_t, so the sum is (theta - theta_T) / alpha.
        double[] rep = new double[theta.length];
        InnerLoops.reptile(net, theta, x, y, alpha, rep);
        for (int i = 0; i < rep.length; i++) rep[i] /= alpha;
        assertTrue(GradientCheckTest.relErr(g, rep) < 1e-10);
    }

    static TaskBatch batch(int tasks, int steps, long seed) {
        Rng r = Rng.of(seed);
        int[][][] x = new int[tasks][][];
        int[][] y = new int[tasks][];
        for (int b = 0; b < tasks; b++) {
            x[b] = xs(steps, r);
            y[b] = ys(steps, r);
        }
        return new TaskBatch(TaskKind.MNIST, x, y);
    }

    static CpuEngine engine(Algorithm algo, int threads, Precision precision) {
        return new CpuEngine(
                new EngineSettings(STACK, algo, 0.1, 0, precision, new Adam(1e-3, 0.9, 0.999, 1e-8), threads));
    }

    @Test
    void aBatchGivesExactlyWhatSeparateSingleTaskRunsGive() {
        double[] theta = GradientCheckTest.randomParams(STACK, 15);
        TaskBatch batch = batch(5, 6, 21);
        for (Algorithm algo : Algorithm.values()) {
            try (CpuEngine together = engine(algo, 2, Precision.FLOAT64);
                    CpuEngine alone = engine(algo, 1, Precision.FLOAT64)) {
                together.setState(TrainState.fresh(theta));
                alone.setState(TrainState.fresh(theta));
                double[] g = new double[theta.length];
                double[] nll = together.metaGradient(batch, g);
                double[] sum = new double[theta.length];
                for (int b = 0; b < batch.size(); b++) {
                    double[] gb = new double[theta.length];
                    double[] nb = alone.metaGradient(batch.slice(b, b + 1), gb);
                    assertEquals(nll[b], nb[0], 0, algo + " task " + b);
                    for (int i = 0; i < sum.length; i++) sum[i] += gb[i];
                }
                for (int i = 0; i < sum.length; i++) sum[i] /= batch.size();
                assertArrayEquals(sum, g, 0, algo.toString());
            }
        }
    }

    @Test
    void reptileOnAHandComputableCase() {
        // d2c(2) then linear(2, 1): logit z = w . (x - 1) + b, BCE. One task of two steps.
        ModelSpec spec = new ModelSpec(TaskKind.MNIST, List.of(new LayerSpec.D2c(2), new LayerSpec.Linear(2, 1)));
        double[] theta = {0.5, -0.25, 0.1}; // w0, w1, b
        int[][] x = {{2, 0}, {1, 2}};
        int[] y = {1, 0};
        double alpha = 0.5;
        double[] th = theta.clone();
        for (int t = 0; t < 2; t++) {
            double u0 = x[t][0] - 1.0, u1 = x[t][1] - 1.0; // d2c with n = 2: x / 1 - 1
            double z = th[0] * u0 + th[1] * u1 + th[2];
            double d = 1 / (1 + Math.exp(-z)) - y[t];
            th[0] -= alpha * d * u0;
            th[1] -= alpha * d * u1;
            th[2] -= alpha * d;
        }
        double[] expected = {theta[0] - th[0], theta[1] - th[1], theta[2] - th[2]};
        try (CpuEngine e = new CpuEngine(new EngineSettings(
                spec, Algorithm.REPTILE, alpha, 0, Precision.FLOAT64, new Adam(1e-3, 0.9, 0.999, 1e-8), 1))) {
            e.setState(TrainState.fresh(theta));
            double[] g = new double[3];
            e.metaGradient(new TaskBatch(TaskKind.MNIST, new int[][][] {x}, new int[][] {y}), g);
            assertArrayEquals(expected, g, 1e-15);
        }
    }

    @Test
    void float32StorageKeepsEveryParameterAFloat() {
        double[] theta = GradientCheckTest.randomParams(STACK, 16);
        for (int i = 0; i < theta.length; i++) theta[i] = (float) theta[i];
        try (CpuEngine e = engine(Algorithm.REPTILE, 2, Precision.FLOAT32)) {
            e.setState(TrainState.fresh(theta));
            e.metaStep(batch(3, 4, 8));
            TrainState s = e.state();
            for (double[] a : new double[][] {s.theta(), s.adamM(), s.adamV()})
                for (double v : a) assertEquals((float) v, v, 0);
        }
    }
}
