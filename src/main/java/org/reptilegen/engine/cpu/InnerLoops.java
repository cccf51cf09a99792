package org.reptilegen.engine.cpu;

import java.util.Arrays;
import org.reptilegen.core.MamlSegment;

/**
 * The inner loop (README, The math, 3) and the per-task meta-gradients (4), for one task.
 * An engine runs these for each task of a batch and averages; task b's x[t], y[t] is pair t.
 */
public final class InnerLoops {
    private InnerLoops() {}

    /** The inner learning rate: one number, or one per parameter (learned rates, expanded). */
    public record InnerLrValue(double scalar, double[] perElement) {
        public static InnerLrValue of(double alpha) {
            return new InnerLrValue(alpha, null);
        }

        public static InnerLrValue perElement(double[] alpha) {
            return new InnerLrValue(Double.NaN, alpha);
        }

        /** One SGD step on p; {@code scratch} (size P) is needed only for per-element rates. */
        double step(TaskModel m, double[] p, int[] x, int y, double[] scratch) {
            if (perElement == null) return m.sgdStep(p, x, y, scalar);
            Arrays.fill(scratch, 0);
            double l = m.gradient(p, x, y, scratch);
            for (int i = 0; i < p.length; i++) p[i] -= perElement[i] * scratch[i];
            m.round(p);
            return l;
        }
    }

    /** p := theta after T SGD steps; returns the task's prequential NLL (sum of the l_t). */
    public static double run(
            TaskModel m, double[] theta, int[][] x, int[] y, InnerLrValue alpha, double[] p, double[] scratch) {
        System.arraycopy(theta, 0, p, 0, theta.length);
        double nll = 0;
        for (int t = 0; t < x.length; t++) nll += alpha.step(m, p, x[t], y[t], scratch);
        return nll;
    }

    public static double run(TaskModel m, double[] theta, int[][] x, int[] y, double alpha, double[] p) {
        return run(m, theta, x, y, InnerLrValue.of(alpha), p, null);
    }

    /** Reptile: out := theta - theta_T. */
    public static double reptile(
            TaskModel m, double[] theta, int[][] x, int[] y, InnerLrValue alpha, double[] out, double[] scratch) {
        double nll = run(m, theta, x, y, alpha, out, scratch);
        for (int i = 0; i < out.length; i++) out[i] = theta[i] - out[i];
        return nll;
    }

    public static double reptile(TaskModel m, double[] theta, int[][] x, int[] y, double alpha, double[] out) {
        return reptile(m, theta, x, y, InnerLrValue.of(alpha), out, null);
    }

    /**
     * FOMAML: out := sum_t grad l_t(theta_t), with scratch vectors p and g of size P. With learned
     * rates, alphaGrad := -sum_t grad l_t * sum_{s>t} grad l_s, the rates' gradient without the
     * Hessian terms, which is -((sum_t g_t)^2 - sum_t g_t^2) / 2 elementwise; q (size P) holds the
     * sum of squares. alphaGrad and q are null for a fixed rate.
     */
    public static double fomaml(
            TaskModel m,
            double[] theta,
            int[][] x,
            int[] y,
            InnerLrValue alpha,
            double[] out,
            double[] p,
            double[] g,
            double[] alphaGrad,
            double[] q) {
        System.arraycopy(theta, 0, p, 0, theta.length);
        Arrays.fill(out, 0);
        if (alphaGrad != null) Arrays.fill(q, 0);
        double nll = 0;
        for (int t = 0; t < x.length; t++) {
            Arrays.fill(g, 0);
            nll += m.gradient(p, x[t], y[t], g);
            for (int i = 0; i < p.length; i++) {
                out[i] += g[i];
                p[i] -= alpha.perElement() == null ? alpha.scalar() * g[i] : alpha.perElement()[i] * g[i];
            }
            if (alphaGrad != null) for (int i = 0; i < p.length; i++) q[i] += g[i] * g[i];
            m.round(p);
        }
        if (alphaGrad != null) for (int i = 0; i < p.length; i++) alphaGrad[i] = -0.5 * (out[i] * out[i] - q[i]);
        return nll;
    }

    public static double fomaml(
            TaskModel m, double[] theta, int[][] x, int[] y, double alpha, double[] out, double[] p, double[] g) {
        return fomaml(m, theta, x, y, InnerLrValue.of(alpha), out, p, g, null, null);
    }

    /**
     * Second-order MAML: out := lambda_0 with lambda_T = 0 and
     * lambda_t = grad l_t(theta_t) + lambda_{t+1} - H_t (alpha * lambda_{t+1}).
     * With learned rates, alphaGrad := -sum_t grad l_t(theta_t) * lambda_{t+1} (else null).
     * theta_t is kept every K steps in the forward pass; the reverse sweep recomputes each segment
     * from its checkpoint, so memory is (ceil(T/K) + K + 4) vectors of size P. segment is the setting
     * (maml_segment) that {@link MamlSegment#of} turns into K.
     */
    public static double maml(
            TaskModel m,
            double[] theta,
            int[][] x,
            int[] y,
            InnerLrValue alpha,
            int segment,
            MamlWorkspace w,
            double[] out,
            double[] alphaGrad) {
        int steps = x.length, n = theta.length;
        int k = MamlSegment.of(segment, steps);
        int segs = (steps + k - 1) / k;
        w.ensure(n, segs, k);
        double[] p = w.states[0];
        System.arraycopy(theta, 0, p, 0, n);
        double nll = 0;
        for (int t = 0; t < steps; t++) {
            if (t % k == 0) System.arraycopy(p, 0, w.checkpoints[t / k], 0, n);
            nll += alpha.step(m, p, x[t], y[t], w.g);
        }
        double[] lambda = out, g = w.g, hv = w.hv, v = w.v;
        double[] a = alpha.perElement();
        Arrays.fill(lambda, 0);
        if (alphaGrad != null) Arrays.fill(alphaGrad, 0);
        for (int seg = segs - 1; seg >= 0; seg--) {
            int s = seg * k, e = Math.min(s + k, steps);
            System.arraycopy(w.checkpoints[seg], 0, w.states[0], 0, n);
            for (int t = s; t < e - 1; t++) {
                System.arraycopy(w.states[t - s], 0, w.states[t - s + 1], 0, n);
                alpha.step(m, w.states[t - s + 1], x[t], y[t], w.g);
            }
            for (int t = e - 1; t >= s; t--) {
                Arrays.fill(g, 0);
                Arrays.fill(hv, 0);
                if (a == null) {
                    m.hessianVector(w.states[t - s], x[t], y[t], lambda, g, hv);
                    double al = alpha.scalar();
                    for (int i = 0; i < n; i++) lambda[i] = g[i] + lambda[i] - al * hv[i];
                } else {
                    for (int i = 0; i < n; i++) v[i] = a[i] * lambda[i];
                    m.hessianVector(w.states[t - s], x[t], y[t], v, g, hv);
                    for (int i = 0; i < n; i++) {
                        if (alphaGrad != null) alphaGrad[i] -= g[i] * lambda[i];
                        lambda[i] = g[i] + lambda[i] - hv[i];
                    }
                }
            }
        }
        return nll;
    }

    public static double maml(
            TaskModel m, double[] theta, int[][] x, int[] y, double alpha, int segment, MamlWorkspace w, double[] out) {
        return maml(m, theta, x, y, InnerLrValue.of(alpha), segment, w, out, null);
    }

    /** Bytes MAML holds per task: theta_t every K steps, a segment of K states, and four work vectors. */
    public static long mamlBytesPerTask(long params, int steps, int segment, int bytesPerValue) {
        int k = MamlSegment.of(segment, steps);
        long vectors = (steps + k - 1) / k + k + 4L;
        return vectors * params * bytesPerValue;
    }

    /** Buffers of one MAML task, reused across tasks by one worker. */
    public static final class MamlWorkspace {
        double[][] checkpoints = new double[0][];
        double[][] states = new double[0][];
        double[] g = new double[0], hv = new double[0], v = new double[0];

        void ensure(int n, int segs, int k) {
            checkpoints = grow(checkpoints, segs, n);
            states = grow(states, k, n);
            if (g.length != n) {
                g = new double[n];
                hv = new double[n];
                v = new double[n];
            }
        }

        private static double[][] grow(double[][] a, int rows, int n) {
            if (a.length >= rows && (rows == 0 || a[0].length == n)) return a;
            double[][] b = new double[rows][];
            for (int i = 0; i < rows; i++) b[i] = i < a.length && a[i].length == n ? a[i] : new double[n];
            return b;
        }
    }
}
