package org.reptilegen.baseline;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.util.Futures;
import org.reptilegen.util.Rng;

/**
 * The LSTM baseline on the CPU, behind the engine interface the training loop, evaluation, sampling and
 * the commands already use: its "meta-gradient" is the plain gradient of the batch's mean NLL by
 * backpropagation through time, a training step is that gradient and one Adam step, and evaluation and
 * sampling run the model without any update.
 *
 * <p>A batch is cut into groups of {@link #GROUP} sequences, each computed by one worker (the batch's
 * weight rows read once per step for the whole group); the groups' gradients are added in group order, so
 * the result does not depend on the number of threads and a resumed run continues bit for bit.
 */
public final class BaselineEngine implements Engine {
    /** Sequences computed together by one worker. */
    static final int GROUP = 5;

    private final EngineSettings settings;
    private final LstmBaselineNet net;
    private final int threads;
    private final ExecutorService pool;
    private final ThreadLocal<LstmBaselineNet.Workspace> workspace =
            ThreadLocal.withInitial(LstmBaselineNet.Workspace::new);
    private TrainState state;
    private double[][] groupGrads = new double[0][];
    private final java.util.concurrent.atomic.AtomicLong peak = new java.util.concurrent.atomic.AtomicLong();

    public BaselineEngine(EngineSettings settings) {
        LstmBaseline spec = settings.model().baseline();
        if (spec == null) throw new IllegalArgumentException("the baseline engine runs the lstm baseline only");
        this.settings = settings;
        this.net = new LstmBaselineNet(spec);
        this.threads = settings.workerThreads();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "baseline-worker");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public String description() {
        return "cpu lstm baseline (" + threads + " thread" + (threads == 1 ? "" : "s") + ", "
                + settings.precision().configName() + ")";
    }

    @Override
    public String deviceName() {
        return "cpu: " + System.getProperty("os.arch") + ", "
                + Runtime.getRuntime().availableProcessors() + " cores";
    }

    @Override
    public EngineSettings settings() {
        return settings;
    }

    @Override
    public void setState(TrainState s) {
        int p = settings.model().layout().size();
        if (s.theta().length != p)
            throw new IllegalArgumentException("state has " + s.theta().length + " parameters, the model " + p);
        if (s.learnedInnerLr()) throw new IllegalArgumentException("the lstm baseline has no inner learning rates");
        state = s.copy();
    }

    @Override
    public TrainState state() {
        return state.copy();
    }

    /** The gradient of the batch's mean NLL (nats per sequence) at the current parameters into g; returns each NLL. */
    @Override
    public double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr) {
        if (gInnerLr != null) throw new IllegalArgumentException("the lstm baseline has no inner learning rates");
        int n = batch.size(), p = g.length, groups = (n + GROUP - 1) / GROUP;
        if (groupGrads.length < groups || (groups > 0 && groupGrads[0].length != p)) {
            groupGrads = new double[groups][p];
        }
        double[] theta = state.theta();
        double[] nll = new double[n];
        forEachGroup(n, (from, count, c) -> {
            double[] gc = groupGrads[c];
            java.util.Arrays.fill(gc, 0);
            System.arraycopy(net.run(theta, batch, from, count, gc, workspace.get()), 0, nll, from, count);
            peak.accumulateAndGet(workspace.get().bytes(), Math::max);
        });
        java.util.Arrays.fill(g, 0);
        for (int c = 0; c < groups; c++) {
            double[] gc = groupGrads[c];
            for (int i = 0; i < p; i++) g[i] += gc[i];
        }
        for (int i = 0; i < p; i++) g[i] /= n;
        return nll;
    }

    /** The gradient, then one Adam step (float32 storage rounds theta and the moments, as a checkpoint holds them). */
    @Override
    public double[] metaStep(TaskBatch batch) {
        double[] g = new double[state.theta().length];
        double[] nll = metaGradient(batch, g, null);
        adamStep(g, null);
        return nll;
    }

    @Override
    public void adamStep(double[] g, double[] gInnerLr) {
        state = state.afterAdam(settings.adam(), g, null, settings.precision() == Precision.FLOAT32);
    }

    @Override
    public double[] evaluate(TaskBatch batch) {
        double[] theta = state.theta();
        double[] nll = new double[batch.size()];
        forEachGroup(
                batch.size(),
                (from, count, c) ->
                        System.arraycopy(net.run(theta, batch, from, count, null, null), 0, nll, from, count));
        return nll;
    }

    @Override
    public int[][] sample(int[][] positions, int count, double temperature, long seed, boolean stopAtZero) {
        return sample(positions, 0, count, temperature, seed, stopAtZero);
    }

    /** Sample i draws from the stream (seed, i), so a sample does not depend on its group or on count. */
    @Override
    public int[][] sample(int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        double[] theta = state.theta();
        int steps = positions.length, classes = net.classes(); // logits per step
        int[][] out = new int[count][steps];
        forEachGroup(count, (from, n, c) -> {
            LstmBaselineNet.State s = net.initialState(theta, n);
            Rng[] rng = new Rng[n];
            for (int b = 0; b < n; b++) rng[b] = Rng.of(seed, Rng.STREAM_SAMPLE, first + from + b);
            boolean[] done = new boolean[n];
            double[] z = new double[n * classes],
                    probs = new double[settings.model().task().classes()];
            int[][] idx = new int[n][];
            for (int t = 0; t < steps; t++) {
                for (int b = 0; b < n; b++) idx[b] = net.inputs(positions[t], t == 0 ? 0 : out[from + b][t - 1]);
                net.step(theta, s, idx, z);
                boolean all = true;
                for (int b = 0; b < n; b++) {
                    if (done[b]) continue;
                    net.probabilities(z, b * classes, temperature, probs);
                    int y = draw(probs, rng[b].nextDouble());
                    out[from + b][t] = y;
                    if (stopAtZero && y == 0) done[b] = true;
                    all &= done[b];
                }
                if (all) break;
            }
        });
        return out;
    }

    /** The class whose cumulative probability first exceeds u. */
    private static int draw(double[] probs, double u) {
        double c = 0;
        for (int k = 0; k < probs.length; k++) {
            c += probs[k];
            if (u < c) return k;
        }
        return probs.length - 1;
    }

    /** Heap for tasks sequences of steps steps: the batch, a worker's activations per running group, a gradient per group. */
    @Override
    public long heapBytes(long tasks, int steps) {
        long groups = (tasks + GROUP - 1) / GROUP;
        long p = settings.model().layout().size();
        return TaskBatch.heapBytes(settings.model().task(), tasks, steps)
                + Math.min(threads, groups) * net.workspaceBytes(GROUP, steps)
                + groups * p * 8;
    }

    @Override
    public double measureCopyBandwidth() {
        int n = 1 << 24;
        double[] a = new double[n], b = new double[n];
        java.util.Arrays.fill(a, 1.5);
        long best = Long.MAX_VALUE;
        for (int r = 0; r < 3; r++) {
            long t0 = System.nanoTime();
            System.arraycopy(a, 0, b, 0, n);
            best = Math.min(best, System.nanoTime() - t0);
        }
        return 2.0 * 8 * n / (best / 1e9);
    }

    @Override
    public long peakMemoryBytes() {
        return peak.get();
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }

    private interface GroupTask {
        void run(int from, int count, int group) throws Exception;
    }

    /** Runs f on groups of GROUP items of 0..n-1 on the workers; the first failure is rethrown as it was. */
    private void forEachGroup(int n, GroupTask f) {
        int groups = (n + GROUP - 1) / GROUP;
        List<Future<?>> futures = new ArrayList<>();
        for (int c = 0; c < groups; c++) {
            int group = c, from = c * GROUP, count = Math.min(GROUP, n - from);
            if (threads == 1) {
                try {
                    f.run(from, count, group);
                } catch (RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                continue;
            }
            futures.add(pool.submit(() -> {
                f.run(from, count, group);
                return null;
            }));
        }
        Futures.awaitAll(futures);
    }
}
