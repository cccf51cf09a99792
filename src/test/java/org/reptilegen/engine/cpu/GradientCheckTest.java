package org.reptilegen.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.LayerSpec.Activation.Kind;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/**
 * Every layer's gradient and Hessian-vector product against central finite differences, in float64.
 * Each case is a small network around the layer under test, with random parameters (N(0, 0.5^2)
 * around its init) and a random input; the bound is on the relative error of the whole vector,
 * ||analytic - fd|| / ||fd|| <= 1e-6 (central differences with h = 1e-5 are accurate to ~1e-9 here).
 */
class GradientCheckTest {
    static final double TOL = 1e-6, H = 1e-5;

    static LayerSpec lin(int in, int out) {
        return new LayerSpec.Linear(in, out);
    }

    static final LayerSpec EMB = new LayerSpec.Embed(List.of(new int[] {5, 3}, new int[] {6, 3}));

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("embed", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(6, 1)))),
                Arguments.of(
                        "d2c",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        new LayerSpec.D2c(6),
                                        lin(2, 4),
                                        new LayerSpec.Activation(Kind.TANH),
                                        lin(4, 1)))),
                Arguments.of("linear", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(6, 5), lin(5, 1)))),
                Arguments.of(
                        "relu",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, lin(6, 5), new LayerSpec.Activation(Kind.RELU), lin(5, 1)))),
                Arguments.of(
                        "tanh",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, lin(6, 5), new LayerSpec.Activation(Kind.TANH), lin(5, 1)))),
                Arguments.of(
                        "sigmoid",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, lin(6, 5), new LayerSpec.Activation(Kind.SIGMOID), lin(5, 1)))),
                Arguments.of(
                        "gated",
                        new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(6, 8), new LayerSpec.Gated(), lin(4, 1)))),
                Arguments.of(
                        "layernorm",
                        new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(6, 5), new LayerSpec.LayerNorm(5), lin(5, 1)))),
                Arguments.of(
                        "lstm_block",
                        new ModelSpec(TaskKind.MNIST, List.of(EMB, new LayerSpec.LstmBlock(6), lin(6, 1)))),
                Arguments.of(
                        "siren",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        new LayerSpec.D2c(6),
                                        new LayerSpec.Siren(2, 5),
                                        new LayerSpec.Siren(5, 4),
                                        lin(4, 1)))),
                Arguments.of(
                        "residual",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        new LayerSpec.Residual(List.of(lin(6, 6), new LayerSpec.Activation(Kind.TANH))),
                                        lin(6, 1)))),
                Arguments.of(
                        "gated_residual",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        new LayerSpec.GatedResidual(
                                                6, List.of(lin(6, 6), new LayerSpec.Activation(Kind.TANH))),
                                        lin(6, 1)))),
                Arguments.of(
                        "softmax cross-entropy",
                        new ModelSpec(
                                TaskKind.TEXT, List.of(new LayerSpec.Embed(List.of(new int[] {7, 4})), lin(4, 256)))));
    }

    static double[] randomParams(ModelSpec spec, long seed) {
        double[] p = org.reptilegen.model.ParamInit.draw(spec.layout(), Rng.of(seed), false);
        Rng r = Rng.of(seed, 99);
        for (int i = 0; i < p.length; i++) p[i] += 0.5 * r.nextGaussian();
        return p;
    }

    static int[] randomX(TaskKind kind, Rng r) {
        return kind == TaskKind.TEXT ? new int[] {r.nextInt(7)} : new int[] {r.nextInt(5), r.nextInt(6)};
    }

    static double relErr(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void gradientAndHessianVectorProductMatchFiniteDifferences(String name, ModelSpec spec) {
        Net net = new Net(spec, false);
        for (int trial = 0; trial < 3; trial++) {
            Rng r = Rng.of(1234 + trial, name.hashCode());
            double[] p = randomParams(spec, 7 + trial);
            int[] x = randomX(spec.task(), r);
            int y = r.nextInt(spec.task().classes());
            int n = p.length;
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = r.nextGaussian();

            double[] g = new double[n];
            double l = net.gradient(p, x, y, g);
            double[] g2 = new double[n], hv = new double[n];
            double l2 = net.hessianVector(p, x, y, v, g2, hv);
            assertTrue(l == l2, "the tangent pass changes the loss");
            assertTrue(relErr(g2, g) < 1e-12, "the tangent pass changes the gradient");

            double[] fd = new double[n];
            for (int i = 0; i < n; i++) {
                double keep = p[i];
                p[i] = keep + H;
                double lp = net.loss(p, x, y);
                p[i] = keep - H;
                double lm = net.loss(p, x, y);
                p[i] = keep;
                fd[i] = (lp - lm) / (2 * H);
            }
            double eg = relErr(g, fd);
            assertTrue(eg < TOL, name + ": gradient relative error " + eg);

            double[] pp = p.clone(), pm = p.clone(), gp = new double[n], gm = new double[n];
            for (int i = 0; i < n; i++) {
                pp[i] += H * v[i];
                pm[i] -= H * v[i];
            }
            net.gradient(pp, x, y, gp);
            net.gradient(pm, x, y, gm);
            double[] fdh = new double[n];
            for (int i = 0; i < n; i++) fdh[i] = (gp[i] - gm[i]) / (2 * H);
            double eh = relErr(hv, fdh);
            assertTrue(eh < TOL, name + ": Hessian-vector product relative error " + eh);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void inPlaceSgdStepEqualsGradientStep(String name, ModelSpec spec) {
        Net net = new Net(spec, false);
        double[] p = randomParams(spec, 3);
        Rng r = Rng.of(5);
        int[] x = randomX(spec.task(), r);
        int y = r.nextInt(spec.task().classes());
        double[] g = new double[p.length];
        net.gradient(p, x, y, g);
        double[] q = p.clone();
        net.sgdStep(q, x, y, 0.1);
        for (int i = 0; i < p.length; i++) p[i] -= 0.1 * g[i];
        assertTrue(relErr(q, p) < 1e-14, name + ": the fused in-place step differs from theta - alpha * grad");
    }
}
