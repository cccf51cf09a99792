package org.reptilegen.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.config.ConfigException;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.InnerLoops.InnerLrValue;
import org.reptilegen.util.Rng;

/**
 * Learned inner learning rates (Meta-SGD) on the CPU, in float64: the rates' MAML gradient against
 * finite differences of the meta-objective (relative error <= 1e-6), per tensor as the sum of per element,
 * and FOMAML's first-order rate gradient against its definition.
 */
class LearnedRatesTest {
    static final int STEPS = 4;

    static double[] rates(int n, long seed) {
        double[] a = new double[n];
        Rng r = Rng.of(seed);
        for (int i = 0; i < n; i++) a[i] = 0.05 + 0.25 * r.nextDouble();
        return a;
    }

    static double objective(Net net, double[] theta, int[][] x, int[] y, double[] a) {
        return InnerLoops.run(
                net, theta, x, y, InnerLrValue.perElement(a), new double[theta.length], new double[theta.length]);
    }

    @Test
    void mamlGradientsOfThetaAndOfTheRatesMatchFiniteDifferences() {
        Net net = new Net(MetaGradientTest.STACK, false);
        double[] theta = GradientCheckTest.randomParams(MetaGradientTest.STACK, 21);
        int n = theta.length;
        Rng r = Rng.of(22);
        int[][] x = MetaGradientTest.xs(STEPS, r);
        int[] y = MetaGradientTest.ys(STEPS, r);
        double[] a = rates(n, 23);
        double[] g = new double[n], ga = new double[n];
        InnerLoops.maml(net, theta, x, y, InnerLrValue.perElement(a), 2, new InnerLoops.MamlWorkspace(), g, ga);

        double h = 1e-6;
        double[] fdTheta = new double[n], fdRates = new double[n];
        for (int i = 0; i < n; i++) {
            double keep = theta[i];
            theta[i] = keep + h;
            double fp = objective(net, theta, x, y, a);
            theta[i] = keep - h;
            double fm = objective(net, theta, x, y, a);
            theta[i] = keep;
            fdTheta[i] = (fp - fm) / (2 * h);
            keep = a[i];
            a[i] = keep + h;
            fp = objective(net, theta, x, y, a);
            a[i] = keep - h;
            fm = objective(net, theta, x, y, a);
            a[i] = keep;
            fdRates[i] = (fp - fm) / (2 * h);
        }
        double et = GradientCheckTest.relErr(g, fdTheta), ea = GradientCheckTest.relErr(ga, fdRates);
        assertTrue(et < 1e-6, "theta gradient relative error " + et);
        assertTrue(ea < 1e-6, "rate gradient relative error " + ea);
    }

    @Test
    void perTensorRatesGetTheSumOfTheirElementsGradients() {
        var layout = MetaGradientTest.STACK.layout();
        InnerLrLayout perTensor = new InnerLrLayout(layout, InnerLr.Mode.PER_TENSOR);
        double[] tensorRates = rates(perTensor.size(), 31);
        double[] expanded = new double[layout.size()];
        perTensor.expand(tensorRates, expanded);
        Net net = new Net(MetaGradientTest.STACK, false);
        double[] theta = GradientCheckTest.randomParams(MetaGradientTest.STACK, 32);
        Rng r = Rng.of(33);
        int[][] x = MetaGradientTest.xs(STEPS, r);
        int[] y = MetaGradientTest.ys(STEPS, r);
        double[] g = new double[theta.length], ga = new double[theta.length];
        InnerLoops.maml(net, theta, x, y, InnerLrValue.perElement(expanded), 4, new InnerLoops.MamlWorkspace(), g, ga);
        double[] reduced = new double[perTensor.size()];
        perTensor.reduce(ga, reduced);
        // Finite differences in one tensor's rate move every element of that tensor together.
        double h = 1e-6;
        for (int k = 0; k < perTensor.size(); k++) {
            double keep = tensorRates[k];
            tensorRates[k] = keep + h;
            perTensor.expand(tensorRates, expanded);
            double fp = objective(net, theta, x, y, expanded);
            tensorRates[k] = keep - h;
            perTensor.expand(tensorRates, expanded);
            double fm = objective(net, theta, x, y, expanded);
            tensorRates[k] = keep;
            double fd = (fp - fm) / (2 * h);
            assertEquals(
                    fd,
                    reduced[k],
                    1e-6 * Math.max(1, Math.abs(fd)),
                    "tensor " + layout.tensors().get(k).name());
        }
    }

    @Test
    void fomamlRateGradientIsTheFirstOrderTerm() {
        Net net = new Net(MetaGradientTest.STACK, false);
        double[] theta = GradientCheckTest.randomParams(MetaGradientTest.STACK, 41);
        int n = theta.length;
        Rng r = Rng.of(42);
        int[][] x = MetaGradientTest.xs(STEPS, r);
        int[] y = MetaGradientTest.ys(STEPS, r);
        double[] a = rates(n, 43);
        double[] g = new double[n], ga = new double[n];
        InnerLoops.fomaml(
                net, theta, x, y, InnerLrValue.perElement(a), g, new double[n], new double[n], ga, new double[n]);
        // By definition: -sum_t g_t * sum_{s>t} g_s along the trajectory.
        double[] p = theta.clone();
        double[][] grads = new double[STEPS][n];
        for (int t = 0; t < STEPS; t++) {
            net.gradient(p, x[t], y[t], grads[t]);
            for (int i = 0; i < n; i++) p[i] -= a[i] * grads[t][i];
        }
        double[] expected = new double[n];
        for (int t = 0; t < STEPS; t++)
            for (int s = t + 1; s < STEPS; s++) for (int i = 0; i < n; i++) expected[i] -= grads[t][i] * grads[s][i];
        assertTrue(GradientCheckTest.relErr(ga, expected) < 1e-12);
    }

    @Test
    void learnedRatesTrainAndRoundTripThroughACheckpoint(@TempDir Path dir) {
        Config cfg = Config.parse(
                String.join(
                        "\n",
                        "task: mnist",
                        "model: [{embed: {tables: [[28, 3], [28, 3]]}}, {linear: {in: 6, out: 4}}, tanh, {linear: {in: 4, out: 1}}]",
                        "algorithm: maml",
                        "inner_lr: {learned: per_tensor, init: 0.05}",
                        "meta_batch: 2",
                        ""),
                "learned.yaml");
        EngineSettings s = new EngineSettings(
                cfg.model(),
                Algorithm.MAML,
                0.05,
                0,
                Precision.FLOAT32,
                new Adam(0.01, 0.9, 0.99, 1e-8),
                1,
                cfg.innerLr().mode());
        try (CpuEngine e = new CpuEngine(s)) {
            e.setState(TrainState.fresh(
                    GradientCheckTest.randomParams(cfg.model(), 5), s.rates().initial(0.05)));
            e.metaStep(batch());
            TrainState st = e.state();
            assertEquals(6, st.innerLr().length, "two tables, two weights, two biases");
            for (double v : st.innerLr())
                assertNotEquals(0.05f, (float) v, "every rate moved: " + java.util.Arrays.toString(st.innerLr()));
            Path ck = dir.resolve("c.safetensors");
            new TrainingCheckpoint(cfg, st, 1).write(ck);
            TrainState back = TrainingCheckpoint.read(ck, true).state();
            assertArrayEquals(st.innerLr(), back.innerLr(), 0);
            assertArrayEquals(st.innerLrM(), back.innerLrM(), 0);
            assertArrayEquals(st.innerLrV(), back.innerLrV(), 0);
            assertArrayEquals(st.theta(), back.theta(), 0);
        }
    }

    static org.reptilegen.core.TaskBatch batch() {
        Rng r = Rng.of(9);
        int[][][] x = new int[2][6][];
        int[][] y = new int[2][6];
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 6; t++) {
                x[b][t] = new int[] {r.nextInt(3), r.nextInt(3)}; // rows repeat, so the tables' rates get a gradient
                y[b][t] = r.nextInt(2);
            }
        return new org.reptilegen.core.TaskBatch(org.reptilegen.model.TaskKind.MNIST, x, y);
    }

    @Test
    void reptileCannotLearnRates() {
        ConfigException e = assertThrows(
                ConfigException.class,
                () -> Config.parse(
                        "task: mnist\nmodel: [{embed: {tables: [[28, 2], [28, 2]]}}, {linear: {in: 4, out: 1}}]\ninner_lr: {learned: per_element}\n",
                        "r.yaml"));
        assertTrue(e.getMessage().contains("inner_lr"), e.getMessage());
    }
}
