package org.reptilegen.baseline;

import java.util.List;
import java.util.Map;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.model.TaskKind;

/**
 * The LSTM baseline's math in float64 (README, The LSTM baseline): the forward pass over whole sequences,
 * backpropagation through time, and single steps for sampling. One call handles a group of n sequences
 * together, so each weight row read serves n sequences.
 *
 * <p>Layouts: parameters as in {@link LstmBaseline#layout()} (PyTorch's row-major shapes; the gate rows of
 * a weight_ih/weight_hh are [i; f; g; o], H each). Activations of a group are flat arrays indexed
 * [t][b][unit]: for layer k the gates after their nonlinearity (4H), the cell c (H) and the output h (H).
 * Steps past a sequence's end (tasks of unequal length) run on index 0 with no loss and a zero
 * gradient, so they add nothing.
 *
 * <p>Per step and layer: a = W_ih x + b_ih + W_hh h' + b_hh; i, f, o = sigmoid, g = tanh of their rows;
 * c = f c' + i g; h = o tanh(c). Logits z = W_out h_top + b_out; the loss is binary cross-entropy with
 * one logit (images) or softmax cross-entropy over 256 (text).
 */
final class LstmBaselineNet {
    private final LstmBaseline spec;
    private final TaskKind kind;
    private final int hidden, layers, embed, classes, gates;
    private final int[] tableOff, tableRows, wIh, wHh, bIh, bHh, inWidth;
    private final int h0Off, c0Off, outW, outB;

    LstmBaselineNet(LstmBaseline spec) {
        this.spec = spec;
        this.kind = spec.task();
        this.hidden = spec.hidden();
        this.layers = spec.layers();
        this.embed = spec.embed();
        this.classes = kind.logits;
        this.gates = 4 * hidden;
        ParamLayout layout = spec.layout();
        List<Map.Entry<String, Integer>> tables = spec.tables();
        tableOff = new int[tables.size()];
        tableRows = new int[tables.size()];
        for (int j = 0; j < tables.size(); j++) {
            tableOff[j] = layout.offset(tables.get(j).getKey());
            tableRows[j] = tables.get(j).getValue();
        }
        wIh = new int[layers];
        wHh = new int[layers];
        bIh = new int[layers];
        bHh = new int[layers];
        inWidth = new int[layers];
        for (int k = 0; k < layers; k++) {
            wIh[k] = layout.offset(LstmBaseline.weightIh(k));
            wHh[k] = layout.offset(LstmBaseline.weightHh(k));
            bIh[k] = layout.offset(LstmBaseline.biasIh(k));
            bHh[k] = layout.offset(LstmBaseline.biasHh(k));
            inWidth[k] = spec.layerInput(k);
        }
        h0Off = layout.offset(LstmBaseline.HIDDEN_H);
        c0Off = layout.offset(LstmBaseline.HIDDEN_C);
        outW = layout.offset(LstmBaseline.OUT_WEIGHT);
        outB = layout.offset(LstmBaseline.OUT_BIAS);
    }

    LstmBaseline spec() {
        return spec;
    }

    int classes() {
        return classes;
    }

    /** The embedding indices of step t of task b: its position x_t, then the previous target (0 at t = 0). */
    int[] inputs(TaskBatch batch, int b, int t) {
        int[] x = batch.x()[b][t];
        int prev = t == 0 ? 0 : batch.y()[b][t - 1];
        return inputs(x, prev);
    }

    int[] inputs(int[] x, int prev) {
        int[] idx = kind == TaskKind.MNIST ? new int[] {x[0], x[1], prev} : new int[] {x[0], prev};
        for (int j = 0; j < idx.length; j++)
            if (idx[j] < 0 || idx[j] >= tableRows[j])
                throw new IllegalArgumentException("input " + idx[j] + " is outside the lstm baseline's table "
                        + spec.tables().get(j).getKey() + " of " + tableRows[j] + " rows"
                        + (kind == TaskKind.TEXT && j == 0 ? " (positions up to max_len - 1)" : ""));
        return idx;
    }

    /** The concatenated embedding of one step into out[at .. at + inputWidth). */
    private void embed(double[] theta, int[] idx, double[] out, int at) {
        for (int j = 0; j < idx.length; j++)
            System.arraycopy(theta, tableOff[j] + idx[j] * embed, out, at + j * embed, embed);
    }

    // ---- the recurrent state, for sampling and single steps ----

    /** h and c of every layer for n sequences: [k][b * H + u]. */
    record State(double[][] h, double[][] c) {
        State copy() {
            double[][] h2 = new double[h.length][], c2 = new double[c.length][];
            for (int k = 0; k < h.length; k++) {
                h2[k] = h[k].clone();
                c2[k] = c[k].clone();
            }
            return new State(h2, c2);
        }
    }

    /** The trainable initial state, repeated for n sequences. */
    State initialState(double[] theta, int n) {
        double[][] h = new double[layers][n * hidden], c = new double[layers][n * hidden];
        for (int k = 0; k < layers; k++)
            for (int b = 0; b < n; b++) {
                System.arraycopy(theta, h0Off + k * hidden, h[k], b * hidden, hidden);
                System.arraycopy(theta, c0Off + k * hidden, c[k], b * hidden, hidden);
            }
        return new State(h, c);
    }

    /** One step of n sequences: idx[b] the embedding indices; writes the logits [b * C + j] and advances s. */
    void step(double[] theta, State s, int[][] idx, double[] logits) {
        int n = idx.length;
        double[] x = new double[n * spec.inputWidth()];
        for (int b = 0; b < n; b++) embed(theta, idx[b], x, b * spec.inputWidth());
        double[] a = new double[n * gates];
        for (int k = 0; k < layers; k++) {
            double[] hOut = new double[n * hidden], cOut = new double[n * hidden];
            cell(theta, k, n, x, 0, s.h()[k], 0, s.c()[k], 0, a, 0, cOut, 0, hOut, 0);
            s.h()[k] = hOut;
            s.c()[k] = cOut;
            x = hOut;
        }
        affine(theta, outW, outB, classes, hidden, n, x, 0, logits, 0);
    }

    // ---- the whole sequence ----

    /** Scratch for a group of sequences, kept by a worker and grown as needed. */
    static final class Workspace {
        double[][] act = new double[0][], c = new double[0][], h = new double[0][];
        double[] dz = new double[0];

        long bytes() {
            long s = dz.length;
            for (int k = 0; k < act.length; k++) s += act[k].length + c[k].length + h[k].length;
            return 8 * s;
        }
    }

    /** Bytes a workspace for n sequences of T steps holds: per step and layer 6H activations, and the logits' gradient. */
    long workspaceBytes(int n, int steps) {
        return 8L * n * steps * ((long) layers * 6 * hidden + classes);
    }

    /** Each sequence's NLL (nats) of tasks from..from+n-1; with g != null also adds the gradient of their sum into g. */
    double[] run(double[] theta, TaskBatch batch, int from, int n, double[] g, Workspace w) {
        int steps = 0;
        for (int b = 0; b < n; b++) steps = Math.max(steps, batch.steps(from + b));
        return g == null
                ? forwardOnly(theta, batch, from, n, steps)
                : forwardBackward(theta, batch, from, n, steps, g, w);
    }

    private double[] forwardOnly(double[] theta, TaskBatch batch, int from, int n, int steps) {
        State s = initialState(theta, n);
        double[] nll = new double[n];
        double[] z = new double[n * classes], dz = new double[classes];
        int[][] idx = new int[n][];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < n; b++)
                idx[b] = t < batch.steps(from + b)
                        ? inputs(batch, from + b, t)
                        : new int[kind == TaskKind.MNIST ? 3 : 2];
            step(theta, s, idx, z);
            for (int b = 0; b < n; b++)
                if (t < batch.steps(from + b)) nll[b] += loss(z, b * classes, batch.y()[from + b][t], dz, 0);
        }
        return nll;
    }

    private double[] forwardBackward(
            double[] theta, TaskBatch batch, int from, int n, int steps, double[] g, Workspace w) {
        int nh = n * hidden, ng = n * gates;
        if (w.act.length != layers) {
            w.act = new double[layers][0];
            w.c = new double[layers][0];
            w.h = new double[layers][0];
        }
        for (int k = 0; k < layers; k++) {
            if (w.act[k].length < (long) steps * ng) w.act[k] = new double[steps * ng];
            if (w.c[k].length < (long) steps * nh) w.c[k] = new double[steps * nh];
            if (w.h[k].length < (long) steps * nh) w.h[k] = new double[steps * nh];
        }
        if (w.dz.length < steps * n * classes) w.dz = new double[steps * n * classes];
        State init = initialState(theta, n);
        double[] nll = new double[n];
        double[] z = new double[n * classes];
        int[][][] idx = new int[steps][n][];
        double[][] proj = project(theta);

        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < n; b++) {
                boolean live = t < batch.steps(from + b);
                idx[t][b] = live ? inputs(batch, from + b, t) : new int[kind == TaskKind.MNIST ? 3 : 2];
                int at = t * ng + b * gates;
                java.util.Arrays.fill(w.act[0], at, at + gates, 0);
                for (int j = 0; j < idx[t][b].length; j++) {
                    int row = idx[t][b][j] * gates;
                    for (int u = 0; u < gates; u++) w.act[0][at + u] += proj[j][row + u];
                }
            }
            double[] x = null;
            int xAt = 0;
            for (int k = 0; k < layers; k++) {
                double[] hPrev = t == 0 ? init.h()[k] : w.h[k];
                double[] cPrev = t == 0 ? init.c()[k] : w.c[k];
                int prevAt = t == 0 ? 0 : (t - 1) * nh;
                cell(
                        theta, k, n, x, xAt, hPrev, prevAt, cPrev, prevAt, w.act[k], t * ng, w.c[k], t * nh, w.h[k],
                        t * nh);
                x = w.h[k];
                xAt = t * nh;
            }
            affine(theta, outW, outB, classes, hidden, n, x, xAt, z, 0);
            for (int b = 0; b < n; b++) {
                int at = (t * n + b) * classes;
                if (t < batch.steps(from + b)) {
                    nll[b] += loss(z, b * classes, batch.y()[from + b][t], w.dz, at);
                } else {
                    java.util.Arrays.fill(w.dz, at, at + classes, 0);
                }
            }
        }

        // Backward through time. dhNext/dcNext: the gradient reaching step t's state from step t+1;
        // dProj[j][row]: the sum of layer 0's gate gradients over the steps that looked up that row of table j.
        double[][] dProj = new double[proj.length][];
        for (int j = 0; j < proj.length; j++) dProj[j] = new double[proj[j].length];
        double[][] dhNext = new double[layers][nh], dcNext = new double[layers][nh];
        double[] dh = new double[nh], dc = new double[nh], da = new double[ng], dx = new double[nh];
        for (int t = steps - 1; t >= 0; t--) {
            int top = layers - 1;
            // Output layer: dW_out += dz h^T, db_out += dz, dh_top = W_out^T dz.
            java.util.Arrays.fill(dh, 0);
            weightGrad(g, outW, outB, classes, hidden, n, w.dz, t * n * classes, w.h[top], t * nh);
            inputGrad(theta, outW, classes, hidden, n, w.dz, t * n * classes, dh, 0);
            for (int k = top; k >= 0; k--) {
                double[] act = w.act[k], cs = w.c[k];
                double[] cPrev = t == 0 ? init.c()[k] : cs;
                int prevAt = t == 0 ? 0 : (t - 1) * nh;
                for (int b = 0; b < n; b++)
                    for (int u = 0; u < hidden; u++) {
                        int hu = b * hidden + u, gi = t * ng + b * gates;
                        double i = act[gi + u],
                                f = act[gi + hidden + u],
                                gg = act[gi + 2 * hidden + u],
                                o = act[gi + 3 * hidden + u];
                        double tc = Math.tanh(cs[t * nh + hu]);
                        double dhu = dh[hu] + dhNext[k][hu];
                        double dcu = dhu * o * (1 - tc * tc) + dcNext[k][hu];
                        int ga = b * gates;
                        da[ga + u] = dcu * gg * i * (1 - i);
                        da[ga + hidden + u] = dcu * cPrev[prevAt + hu] * f * (1 - f);
                        da[ga + 2 * hidden + u] = dcu * i * (1 - gg * gg);
                        da[ga + 3 * hidden + u] = dhu * tc * o * (1 - o);
                        dc[hu] = dcu * f;
                    }
                double[] hPrev = t == 0 ? init.h()[k] : w.h[k];
                weightGrad(g, wHh[k], bHh[k], gates, hidden, n, da, 0, hPrev, prevAt);
                if (k == 0) {
                    // The input's part waits in dProj until every step is done (see projectBack).
                    for (int b = 0; b < n; b++)
                        for (int j = 0; j < idx[t][b].length; j++) {
                            int row = idx[t][b][j] * gates, ga = b * gates;
                            for (int u = 0; u < gates; u++) dProj[j][row + u] += da[ga + u];
                        }
                    for (int b = 0; b < n; b++) for (int u = 0; u < gates; u++) g[bIh[0] + u] += da[b * gates + u];
                } else {
                    weightGrad(g, wIh[k], bIh[k], gates, hidden, n, da, 0, w.h[k - 1], t * nh);
                    java.util.Arrays.fill(dx, 0, nh, 0);
                    inputGrad(theta, wIh[k], gates, hidden, n, da, 0, dx, 0);
                    System.arraycopy(dx, 0, dh, 0, nh);
                }
                // The state's gradient into step t-1, or into the initial state at t = 0; stop_grad drops it for t > 0.
                if (t == 0) {
                    double[] dh0 = new double[nh];
                    inputGrad(theta, wHh[k], gates, hidden, n, da, 0, dh0, 0);
                    for (int b = 0; b < n; b++)
                        for (int u = 0; u < hidden; u++) {
                            g[h0Off + k * hidden + u] += dh0[b * hidden + u];
                            g[c0Off + k * hidden + u] += dc[b * hidden + u];
                        }
                } else if (spec.stopGrad()) {
                    java.util.Arrays.fill(dhNext[k], 0);
                    java.util.Arrays.fill(dcNext[k], 0);
                } else {
                    java.util.Arrays.fill(dhNext[k], 0);
                    inputGrad(theta, wHh[k], gates, hidden, n, da, 0, dhNext[k], 0);
                    System.arraycopy(dc, 0, dcNext[k], 0, nh);
                }
            }
        }
        projectBack(theta, dProj, g);
        return nll;
    }

    /**
     * Layer 0's input term W_ih x is a sum over the embedding tables of W_ih's column block j times the
     * looked-up row of table j. The tables are small (58 rows for images), so each block times each row is
     * computed once per call, [j][row * 4H + gate], and a step adds rows instead of multiplying by W_ih.
     */
    private double[][] project(double[] theta) {
        double[][] proj = new double[tableOff.length][];
        int width = inWidth[0];
        for (int j = 0; j < tableOff.length; j++) {
            proj[j] = new double[tableRows[j] * gates];
            for (int row = 0; row < tableRows[j]; row++)
                for (int u = 0; u < gates; u++)
                    proj[j][row * gates + u] =
                            dot(theta, wIh[0] + u * width + j * embed, theta, tableOff[j] + row * embed, embed);
        }
        return proj;
    }

    /**
     * The gradient of project: for each table row and gate, its summed gate gradient d gives W_ih's block
     * d times the row, and the row W_ih's block column times d.
     */
    private void projectBack(double[] theta, double[][] dProj, double[] g) {
        int width = inWidth[0];
        for (int j = 0; j < tableOff.length; j++)
            for (int row = 0; row < tableRows[j]; row++) {
                int e0 = tableOff[j] + row * embed;
                for (int u = 0; u < gates; u++) {
                    double d = dProj[j][row * gates + u];
                    if (d == 0) continue;
                    int w0 = wIh[0] + u * width + j * embed;
                    for (int e = 0; e < embed; e++) {
                        g[w0 + e] += d * theta[e0 + e];
                        g[e0 + e] += d * theta[w0 + e];
                    }
                }
            }
    }

    /**
     * One LSTM cell for n sequences: x [b][inWidth(k)] at xAt, h' and c' [b][H] at their offsets; writes the
     * gates after their nonlinearity into act (at actAt, [b][4H]) and the new c and h.
     */
    private void cell(
            double[] theta,
            int k,
            int n,
            double[] x,
            int xAt,
            double[] hPrev,
            int hAt,
            double[] cPrev,
            int cAt,
            double[] act,
            int actAt,
            double[] cOut,
            int cOutAt,
            double[] hOut,
            int hOutAt) {
        int width = inWidth[k];
        for (int j = 0; j < gates; j++) {
            int wi = wIh[k] + j * width, wh = wHh[k] + j * hidden;
            double bias = theta[bIh[k] + j] + theta[bHh[k] + j];
            for (int b = 0; b < n; b++) {
                int xb = xAt + b * width, hb = hAt + b * hidden;
                // x == null: the input term W_ih x is already in act (layer 0 from the projected tables).
                double in = x == null ? act[actAt + b * gates + j] : dot(theta, wi, x, xb, width);
                act[actAt + b * gates + j] = bias + in + dot(theta, wh, hPrev, hb, hidden);
            }
        }
        for (int b = 0; b < n; b++) {
            int ga = actAt + b * gates;
            for (int u = 0; u < hidden; u++) {
                double i = sigmoid(act[ga + u]), f = sigmoid(act[ga + hidden + u]);
                double gg = Math.tanh(act[ga + 2 * hidden + u]), o = sigmoid(act[ga + 3 * hidden + u]);
                act[ga + u] = i;
                act[ga + hidden + u] = f;
                act[ga + 2 * hidden + u] = gg;
                act[ga + 3 * hidden + u] = o;
                double c = f * cPrev[cAt + b * hidden + u] + i * gg;
                cOut[cOutAt + b * hidden + u] = c;
                hOut[hOutAt + b * hidden + u] = o * Math.tanh(c);
            }
        }
    }

    /** out[b][j] = W[j] . x[b] + bias[j] for a [rows x cols] weight. */
    private static void affine(
            double[] theta, int w, int bias, int rows, int cols, int n, double[] x, int xAt, double[] out, int outAt) {
        for (int j = 0; j < rows; j++) {
            int wr = w + j * cols;
            for (int b = 0; b < n; b++) {
                out[outAt + b * rows + j] = theta[bias + j] + dot(theta, wr, x, xAt + b * cols, cols);
            }
        }
    }

    /** a[ao..ao+len) . b[bo..bo+len) with four partial sums (a fixed order: the same bits every run). */
    static double dot(double[] a, int ao, double[] b, int bo, int len) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < len; i += 4) {
            s0 += a[ao + i] * b[bo + i];
            s1 += a[ao + i + 1] * b[bo + i + 1];
            s2 += a[ao + i + 2] * b[bo + i + 2];
            s3 += a[ao + i + 3] * b[bo + i + 3];
        }
        for (; i < len; i++) s0 += a[ao + i] * b[bo + i];
        return (s0 + s1) + (s2 + s3);
    }

    /** dW[j] += sum_b d[b][j] x[b], dbias[j] += sum_b d[b][j]. */
    private static void weightGrad(
            double[] g, int w, int bias, int rows, int cols, int n, double[] d, int dAt, double[] x, int xAt) {
        for (int j = 0; j < rows; j++) {
            int wr = w + j * cols;
            double sb = 0;
            for (int b = 0; b < n; b++) {
                double dj = d[dAt + b * rows + j];
                if (dj == 0) continue;
                sb += dj;
                int xb = xAt + b * cols;
                for (int i = 0; i < cols; i++) g[wr + i] += dj * x[xb + i];
            }
            g[bias + j] += sb;
        }
    }

    /** dx[b] += W^T d[b] for a [rows x cols] weight. */
    private static void inputGrad(
            double[] theta, int w, int rows, int cols, int n, double[] d, int dAt, double[] dx, int dxAt) {
        for (int b = 0; b < n; b++) {
            int xb = dxAt + b * cols;
            for (int j = 0; j < rows; j++) {
                double dj = d[dAt + b * rows + j];
                if (dj == 0) continue;
                int wr = w + j * cols;
                for (int i = 0; i < cols; i++) dx[xb + i] += dj * theta[wr + i];
            }
        }
    }

    /** The loss of target y from the logits at z[at..], its gradient in the logits into dz[dzAt..]. */
    double loss(double[] z, int at, int y, double[] dz, int dzAt) {
        if (kind == TaskKind.MNIST) {
            double v = z[at], s = sigmoid(v);
            dz[dzAt] = s - y;
            return Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))) - y * v;
        }
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < classes; i++) m = Math.max(m, z[at + i]);
        double sum = 0;
        for (int i = 0; i < classes; i++) {
            dz[dzAt + i] = Math.exp(z[at + i] - m);
            sum += dz[dzAt + i];
        }
        for (int i = 0; i < classes; i++) dz[dzAt + i] /= sum;
        dz[dzAt + y] -= 1;
        return m + Math.log(sum) - z[at + y];
    }

    /** The distribution over y from the logits at z[at..] at a temperature: [1 - s, s] or a softmax. */
    void probabilities(double[] z, int at, double temperature, double[] out) {
        if (kind == TaskKind.MNIST) {
            double s = sigmoid(z[at] / temperature);
            out[0] = 1 - s;
            out[1] = s;
            return;
        }
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < classes; i++) m = Math.max(m, z[at + i] / temperature);
        double sum = 0;
        for (int i = 0; i < classes; i++) {
            out[i] = Math.exp(z[at + i] / temperature - m);
            sum += out[i];
        }
        for (int i = 0; i < classes; i++) out[i] /= sum;
    }

    static double sigmoid(double v) {
        return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
    }
}
