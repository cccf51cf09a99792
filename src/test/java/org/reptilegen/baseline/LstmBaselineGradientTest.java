package org.reptilegen.baseline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ParamInit;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/**
 * The baseline's backpropagation through time against central finite differences in float64, on every
 * parameter of small models (both tasks, one and two layers, tasks of unequal length). With stop_grad the
 * reference is the finite difference of the surrogate whose carried state is a constant: each step's loss
 * from the state the unperturbed run reached, the initial state (t = 0) still the parameter.
 *
 * <p>Bound: |analytic - numeric| <= 1e-6 * max(1, |numeric|) on every element (step 1e-5). Measured (printed):
 * worst relative error 9.3e-7 over elements above 1e-3, worst absolute error 1.0e-9.
 */
class LstmBaselineGradientTest {
    static final double H = 1e-5;

    static double[] theta(LstmBaseline spec, long seed) {
        double[] p = ParamInit.draw(spec.layout(), Rng.of(seed, Rng.STREAM_INIT), false);
        // Non-zero initial states and larger weights, so every path carries gradient.
        Rng r = Rng.of(seed, 99);
        for (int i = 0; i < p.length; i++) p[i] += 0.3 * r.nextGaussian();
        return p;
    }

    static TaskBatch mnistTasks(int[] lengths, long seed) {
        Rng r = Rng.of(seed, 7);
        int[][][] x = new int[lengths.length][][];
        int[][] y = new int[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            x[b] = new int[lengths[b]][];
            y[b] = new int[lengths[b]];
            for (int t = 0; t < lengths[b]; t++) {
                x[b][t] = new int[] {r.nextInt(28), r.nextInt(28)};
                y[b][t] = r.nextInt(2);
            }
        }
        return new TaskBatch(TaskKind.MNIST, x, y);
    }

    static TaskBatch textTasks(int[] lengths, long seed) {
        Rng r = Rng.of(seed, 8);
        int[][][] x = new int[lengths.length][][];
        int[][] y = new int[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            x[b] = new int[lengths[b]][];
            y[b] = new int[lengths[b]];
            for (int t = 0; t < lengths[b]; t++) {
                x[b][t] = new int[] {t};
                y[b][t] = r.nextInt(256);
            }
        }
        return new TaskBatch(TaskKind.TEXT, x, y);
    }

    static double sum(double[] a) {
        double s = 0;
        for (double v : a) s += v;
        return s;
    }

    /** The surrogate of stop_grad: step t's loss at theta from the state the run at theta0 reached before step t. */
    static double frozenStateLoss(LstmBaselineNet net, double[] theta, double[] theta0, TaskBatch batch) {
        int n = batch.size(), classes = net.classes();
        LstmBaselineNet.State s0 = net.initialState(theta0, n);
        double total = 0;
        double[] z = new double[n * classes], dz = new double[classes];
        for (int t = 0; t < batch.steps(0); t++) {
            int[][] idx = new int[n][];
            for (int b = 0; b < n; b++) idx[b] = net.inputs(batch, b, t);
            LstmBaselineNet.State s = t == 0 ? net.initialState(theta, n) : s0.copy();
            net.step(theta, s, idx, z);
            for (int b = 0; b < n; b++) total += net.loss(z, b * classes, batch.y()[b][t], dz, 0);
            net.step(theta0, s0, idx, z);
        }
        return total;
    }

    /** Worst relative error of the analytic gradient against central differences; fails past the bound. */
    static double check(LstmBaseline spec, TaskBatch batch, long seed) {
        LstmBaselineNet net = new LstmBaselineNet(spec);
        double[] theta = theta(spec, seed);
        double[] g = new double[theta.length];
        double[] nll = net.run(theta, batch, 0, batch.size(), g, new LstmBaselineNet.Workspace());
        // The forward of the gradient pass and the forward-only pass agree.
        double[] plain = net.run(theta, batch, 0, batch.size(), null, null);
        for (int b = 0; b < nll.length; b++) assertEquals(plain[b], nll[b], 1e-12 * Math.abs(plain[b]));
        double worst = 0, worstAbs = 0;
        double[] p = theta.clone();
        for (int i = 0; i < theta.length; i++) {
            p[i] = theta[i] + H;
            double up = spec.stopGrad()
                    ? frozenStateLoss(net, p, theta, batch)
                    : sum(net.run(p, batch, 0, batch.size(), null, null));
            p[i] = theta[i] - H;
            double down = spec.stopGrad()
                    ? frozenStateLoss(net, p, theta, batch)
                    : sum(net.run(p, batch, 0, batch.size(), null, null));
            p[i] = theta[i];
            double fd = (up - down) / (2 * H);
            double err = Math.abs(g[i] - fd);
            assertTrue(
                    err <= 1e-6 * Math.max(1, Math.abs(fd)),
                    "parameter " + i + ": analytic " + g[i] + ", numeric " + fd + " (" + spec + ")");
            double scale = Math.max(Math.abs(g[i]), Math.abs(fd));
            worstAbs = Math.max(worstAbs, err);
            if (scale > 1e-3) worst = Math.max(worst, err / scale);
        }
        System.out.printf(
                "lstm baseline %s, %d parameters: worst relative error %.2e (elements above 1e-3), worst absolute error %.2e%n",
                spec, theta.length, worst, worstAbs);
        return worst;
    }

    @Test
    void mnistGradientMatchesFiniteDifferences() {
        LstmBaseline spec = new LstmBaseline(TaskKind.MNIST, 3, 4, 2, false, 28);
        check(spec, mnistTasks(new int[] {7, 5, 7}, 1), 1);
    }

    @Test
    void mnistStopGradMatchesTheFrozenStateSurrogate() {
        LstmBaseline spec = new LstmBaseline(TaskKind.MNIST, 3, 4, 2, true, 28);
        check(spec, mnistTasks(new int[] {6, 6}, 2), 2);
    }

    @Test
    void stopGradChangesTheGradientButNotTheLoss() {
        TaskBatch batch = mnistTasks(new int[] {6, 6}, 3);
        LstmBaseline full = new LstmBaseline(TaskKind.MNIST, 3, 4, 2, false, 28);
        LstmBaseline cut = new LstmBaseline(TaskKind.MNIST, 3, 4, 2, true, 28);
        double[] theta = theta(full, 3);
        double[] g1 = new double[theta.length], g2 = new double[theta.length];
        double[] l1 = new LstmBaselineNet(full).run(theta, batch, 0, 2, g1, new LstmBaselineNet.Workspace());
        double[] l2 = new LstmBaselineNet(cut).run(theta, batch, 0, 2, g2, new LstmBaselineNet.Workspace());
        assertEquals(l1[0], l2[0]);
        double diff = 0;
        for (int i = 0; i < g1.length; i++) diff = Math.max(diff, Math.abs(g1[i] - g2[i]));
        assertTrue(diff > 1e-4, "stop_grad must cut the gradient through time");
    }

    @Test
    void textGradientMatchesFiniteDifferences() {
        LstmBaseline spec = new LstmBaseline(TaskKind.TEXT, 3, 4, 1, false, 6);
        check(spec, textTasks(new int[] {6, 4}, 4), 4);
    }

    @Test
    void textStopGradMatchesTheFrozenStateSurrogate() {
        LstmBaseline spec = new LstmBaseline(TaskKind.TEXT, 2, 3, 2, true, 5);
        check(spec, textTasks(new int[] {5}, 5), 5);
    }
}
