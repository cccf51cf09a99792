package org.reptilegen.meta;

/**
 * The inner loop (README, The math, 3) and the per-task meta-gradients (4), for one task.
 * An engine runs these for each task of a batch and averages; task b's x[t], y[t] is pair t.
 */
public final class InnerLoops {
    private InnerLoops() {}

    /** p := theta after T SGD steps; returns the task's prequential NLL (sum of the l_t). */
    public static double run(TaskModel m, double[] theta, int[][] x, int[] y, double alpha, double[] p) {
        System.arraycopy(theta, 0, p, 0, theta.length);
        double nll = 0;
        for (int t = 0; t < x.length; t++) nll += m.sgdStep(p, x[t], y[t], alpha);
        return nll;
    }

    /** Reptile: out := theta - theta_T. */
    public static double reptile(TaskModel m, double[] theta, int[][] x, int[] y, double alpha, double[] out) {
        double nll = run(m, theta, x, y, alpha, out);
        for (int i = 0; i < out.length; i++) out[i] = theta[i] - out[i];
        return nll;
    }

    /** FOMAML: out := sum_t grad l_t(theta_t). Needs scratch vectors p and g of size P. */
    public static double fomaml(TaskModel m, double[] theta, int[][] x, int[] y, double alpha,
                                double[] out, double[] p, double[] g) {
        System.arraycopy(theta, 0, p, 0, theta.length);
        java.util.Arrays.fill(out, 0);
        double nll = 0;
        for (int t = 0; t < x.length; t++) {
            java.util.Arrays.fill(g, 0);
            nll += m.gradient(p, x[t], y[t], g);
            for (int i = 0; i < p.length; i++) {
                out[i] += g[i];
                p[i] -= alpha * g[i];
            }
            m.round(p);
        }
        return nll;
    }

    /** The default segment length for MAML's checkpointing: ceil(sqrt(T)). */
    public static int defaultSegment(int steps) {
        return Math.max(1, (int) Math.ceil(Math.sqrt(steps)));
    }

    /**
     * Second-order MAML: out := lambda_0 with lambda_T = 0 and
     * lambda_t = grad l_t(theta_t) + lambda_{t+1} - alpha * H_t lambda_{t+1}.
     * theta_t is kept every K steps in the forward pass; the reverse sweep recomputes each segment
     * from its checkpoint, so memory is (ceil(T/K) + K + 3) vectors of size P.
     */
    public static double maml(TaskModel m, double[] theta, int[][] x, int[] y, double alpha, int segment,
                              MamlWorkspace w, double[] out) {
        int steps = x.length, n = theta.length;
        int k = Math.max(1, Math.min(segment, Math.max(1, steps)));
        int segs = (steps + k - 1) / k;
        w.ensure(n, segs, k);
        double[] p = w.states[0];
        System.arraycopy(theta, 0, p, 0, n);
        double nll = 0;
        for (int t = 0; t < steps; t++) {
            if (t % k == 0) System.arraycopy(p, 0, w.checkpoints[t / k], 0, n);
            nll += m.sgdStep(p, x[t], y[t], alpha);
        }
        double[] lambda = out, g = w.g, hv = w.hv;
        java.util.Arrays.fill(lambda, 0);
        for (int seg = segs - 1; seg >= 0; seg--) {
            int s = seg * k, e = Math.min(s + k, steps);
            System.arraycopy(w.checkpoints[seg], 0, w.states[0], 0, n);
            for (int t = s; t < e - 1; t++) {
                System.arraycopy(w.states[t - s], 0, w.states[t - s + 1], 0, n);
                m.sgdStep(w.states[t - s + 1], x[t], y[t], alpha);
            }
            for (int t = e - 1; t >= s; t--) {
                java.util.Arrays.fill(g, 0);
                java.util.Arrays.fill(hv, 0);
                m.hessianVector(w.states[t - s], x[t], y[t], lambda, g, hv);
                for (int i = 0; i < n; i++) lambda[i] = g[i] + lambda[i] - alpha * hv[i];
            }
        }
        return nll;
    }

    /** Buffers of one MAML task, reused across tasks by one worker. */
    public static final class MamlWorkspace {
        double[][] checkpoints = new double[0][];
        double[][] states = new double[0][];
        double[] g = new double[0], hv = new double[0];

        void ensure(int n, int segs, int k) {
            checkpoints = grow(checkpoints, segs, n);
            states = grow(states, k, n);
            if (g.length != n) { g = new double[n]; hv = new double[n]; }
        }

        private static double[][] grow(double[][] a, int rows, int n) {
            if (a.length >= rows && (rows == 0 || a[0].length == n)) return a;
            double[][] b = new double[rows][];
            for (int i = 0; i < rows; i++) b[i] = i < a.length && a[i].length == n ? a[i] : new double[n];
            return b;
        }

        /** Bytes this workspace holds. */
        public long bytes() {
            long vectors = checkpoints.length + states.length + 2L;
            return vectors * g.length * Double.BYTES;
        }
    }
}
