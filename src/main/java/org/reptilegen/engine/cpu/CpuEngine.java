package org.reptilegen.engine.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.InnerLoops.InnerLrValue;
import org.reptilegen.util.Futures;
import org.reptilegen.util.Rng;

/**
 * The CPU engine: tasks run in parallel, one task per worker at a time, each task's parameters
 * one flat vector laid out by the model's ParamLayout (rows of the [B x P] task copies).
 * Per-task results are reduced in task order, so results do not depend on the thread count.
 */
public final class CpuEngine implements Engine {
    private final EngineSettings settings;
    private final int threads;
    private final ExecutorService pool;
    private final boolean float32;
    private final InnerLoops.MamlWorkspace[] workspaces;
    /** Three parameter-sized scratch vectors per worker, made on first use (FOMAML with learned rates needs all three). */
    private final double[][][] scratch;

    private final InnerLrLayout rates;
    private TrainState state;
    /** Per-task rows of the last batch: each task's contribution to the meta-gradient (theta - theta_T for Reptile). */
    private double[][] rows = new double[0][];
    /** Per-task gradients of the per-element inner learning rates (learned rates only). */
    private double[][] rateRows = new double[0][];

    public CpuEngine(EngineSettings settings) {
        this.settings = settings;
        this.threads = settings.workerThreads();
        this.float32 = settings.precision() == Precision.FLOAT32;
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cpu-engine");
            t.setDaemon(true);
            return t;
        });
        this.workspaces = new InnerLoops.MamlWorkspace[threads];
        for (int i = 0; i < threads; i++) workspaces[i] = new InnerLoops.MamlWorkspace();
        this.scratch = new double[threads][3][];
        this.rates = settings.rates();
        settings.checkRates();
        int n = settings.model().layout().size();
        this.state = TrainState.fresh(new double[n], rates.initial(settings.innerLr()));
    }

    @Override
    public String description() {
        return "cpu (" + threads + " thread" + (threads == 1 ? "" : "s") + ", "
                + settings.precision().configName() + ")";
    }

    @Override
    public EngineSettings settings() {
        return settings;
    }

    @Override
    public void setState(TrainState s) {
        int n = settings.model().layout().size();
        if (s.theta().length != n)
            throw new IllegalArgumentException("theta has " + s.theta().length + " values, the model " + n);
        double[] lr = s.innerLr(), lrM = s.innerLrM(), lrV = s.innerLrV();
        if (rates.learned() && lr == null) {
            lr = rates.initial(settings.innerLr());
            lrM = new double[lr.length];
            lrV = new double[lr.length];
        }
        if (!rates.learned()) lr = lrM = lrV = null;
        else if (lr.length != rates.size())
            throw new IllegalArgumentException(
                    "the state has " + lr.length + " inner learning rates, the model " + rates.size());
        state = new TrainState(
                stored(s.theta()),
                stored(s.adamM()),
                stored(s.adamV()),
                s.adamStep(),
                stored(lr),
                stored(lrM),
                stored(lrV));
    }

    /** A copy at the storage precision. */
    private double[] stored(double[] a) {
        if (a == null) return null;
        double[] c = a.clone();
        if (float32) for (int i = 0; i < c.length; i++) c[i] = (float) c[i];
        return c;
    }

    @Override
    public TrainState state() {
        return state.copy();
    }

    /** The inner learning rate of every parameter element, or the fixed rate. */
    private InnerLrValue alpha() {
        if (!rates.learned()) return InnerLrValue.of(settings.innerLr());
        double[] a = new double[state.theta().length];
        rates.expand(state.innerLr(), a);
        return InnerLrValue.perElement(a);
    }

    private interface PerTask {
        /** Runs task b on the worker's net; returns a number (the task's NLL). */
        double run(int b, Net net, int worker);
    }

    /** Runs f for b = 0..count-1 on the workers, each with a net of its own; returns f's values in task order. */
    private double[] parallel(int count, PerTask f) {
        return onWorkers(count, true, f);
    }

    /** Runs f for i = 0..count-1 on the workers, without nets (work on the parameter vectors alone). */
    private void parallelChunks(int count, java.util.function.IntConsumer f) {
        onWorkers(count, false, (i, net, w) -> {
            f.accept(i);
            return 0;
        });
    }

    private double[] onWorkers(int count, boolean nets, PerTask f) {
        double[] out = new double[count];
        AtomicInteger next = new AtomicInteger();
        List<Future<?>> futures = new ArrayList<>();
        int workers = Math.min(threads, Math.max(1, count));
        for (int w = 0; w < workers; w++) {
            int worker = w;
            futures.add(pool.submit(() -> {
                Net net = nets ? new Net(settings.model(), float32) : null;
                for (int b; (b = next.getAndIncrement()) < count; ) out[b] = f.run(b, net, worker);
                return null;
            }));
        }
        Futures.awaitAll(futures);
        return out;
    }

    /**
     * The batch, a row of P doubles per task (and one of the rates' gradient with learned rates), each
     * worker's three work vectors and, for MAML, its checkpoints and segment states.
     */
    @Override
    public long heapBytes(long tasks, int steps) {
        long p = settings.model().layout().size();
        long perTask = 8 * p + (rates.learned() ? 8L * rates.size() : 0);
        long perThread = 3 * 8 * p;
        if (settings.algorithm() == org.reptilegen.core.Algorithm.MAML)
            perThread += InnerLoops.mamlBytesPerTask(p, steps, settings.segment(), Double.BYTES);
        long workers = Math.min(threads, Math.max(1, tasks)); // as onWorkers starts them
        return org.reptilegen.core.TaskBatch.heapBytes(settings.model().task(), tasks, steps)
                + tasks * perTask
                + workers * perThread;
    }

    private static double[][] ensureRows(double[][] rows, int count, int n) {
        if (rows.length >= count && (count == 0 || rows[0].length == n)) return rows;
        double[][] r = new double[count][];
        for (int b = 0; b < count; b++) r[b] = b < rows.length && rows[b].length == n ? rows[b] : new double[n];
        return r;
    }

    @Override
    public double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr) {
        double[] theta = state.theta();
        int n = theta.length, count = batch.size();
        boolean learned = rates.learned();
        if (learned && gInnerLr == null)
            throw new IllegalArgumentException("learned inner learning rates need a gradient buffer");
        rows = ensureRows(rows, count, n);
        if (learned) rateRows = ensureRows(rateRows, count, n);
        InnerLrValue alpha = alpha();
        double[] nll = parallel(count, (b, net, w) -> {
            int[][] x = batch.x()[b];
            int[] y = batch.y()[b];
            double[] ag = learned ? rateRows[b] : null;
            return switch (settings.algorithm()) {
                case REPTILE -> InnerLoops.reptile(net, theta, x, y, alpha, rows[b], scratch(w, 0, n));
                case FOMAML ->
                    InnerLoops.fomaml(
                            net,
                            theta,
                            x,
                            y,
                            alpha,
                            rows[b],
                            scratch(w, 0, n),
                            scratch(w, 1, n),
                            ag,
                            learned ? scratch(w, 2, n) : null);
                case MAML -> InnerLoops.maml(net, theta, x, y, alpha, settings.segment(), workspaces[w], rows[b], ag);
            };
        });
        meanOfRows(rows, count, g);
        if (learned) {
            double[] perElement = new double[n];
            meanOfRows(rateRows, count, perElement);
            rates.reduce(perElement, gInnerLr);
        }
        return nll;
    }

    /** Worker's k-th scratch vector, of n values. */
    private double[] scratch(int worker, int k, int n) {
        double[][] s = scratch[worker];
        if (s[k] == null || s[k].length != n) s[k] = new double[n];
        return s[k];
    }

    /** g := (1/B) sum_b rows[b], summed in task order; the parameter range is split across workers. */
    private void meanOfRows(double[][] rows, int count, double[] g) {
        int n = g.length;
        // Slices of at least 1024 parameters: more threads than that would only cost their start (the sums are the
        // same).
        int chunks = Math.max(1, Math.min(threads, (n + 1023) / 1024));
        int per = (n + chunks - 1) / chunks;
        parallelChunks(chunks, c -> {
            int from = c * per, to = Math.min(n, from + per);
            for (int i = from; i < to; i++) {
                double s = 0;
                for (int b = 0; b < count; b++) s += rows[b][i];
                g[i] = s / count;
            }
        });
    }

    @Override
    public double[] metaStep(TaskBatch batch) {
        double[] g = new double[state.theta().length];
        double[] gLr = rates.learned() ? new double[rates.size()] : null;
        double[] nll = metaGradient(batch, g, gLr);
        adamStep(g, gLr);
        return nll;
    }

    @Override
    public void adamStep(double[] g, double[] gInnerLr) {
        state = state.afterAdam(settings.adam(), g, gInnerLr, float32);
    }

    @Override
    public double[] evaluate(TaskBatch batch) {
        double[] theta = state.theta();
        int n = theta.length;
        InnerLrValue alpha = alpha();
        return parallel(
                batch.size(),
                (b, net, w) -> InnerLoops.run(
                        net, theta, batch.x()[b], batch.y()[b], alpha, scratch(w, 0, n), scratch(w, 1, n)));
    }

    @Override
    public int[][] sample(int[][] positions, int count, double temperature, long seed, boolean stopAtZero) {
        return sample(positions, 0, count, temperature, seed, stopAtZero);
    }

    @Override
    public int[][] sample(int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        double[] theta = state.theta();
        int n = theta.length, steps = positions.length;
        int[][] out = new int[count][steps];
        int classes = settings.model().task().classes();
        InnerLrValue alpha = alpha();
        parallel(count, (i, net, w) -> {
            double[] p = scratch(w, 0, n);
            System.arraycopy(theta, 0, p, 0, n);
            double[] probs = new double[classes];
            Rng rng = Rng.of(seed, Rng.STREAM_SAMPLE, first + i);
            for (int t = 0; t < steps; t++) {
                net.probabilities(p, positions[t], temperature, probs);
                int y = draw(probs, rng.nextDouble());
                out[i][t] = y;
                if (stopAtZero && y == 0) break;
                if (alpha.perElement() == null) net.stepAfterForward(p, y, alpha.scalar());
                else net.stepAfterForward(p, y, alpha.perElement(), scratch(w, 1, n));
            }
            return 0;
        });
        return out;
    }

    /** The class whose cumulative probability first exceeds u. */
    static int draw(double[] probs, double u) {
        double c = 0;
        for (int k = 0; k < probs.length; k++) {
            c += probs[k];
            if (u < c) return k;
        }
        return probs.length - 1;
    }

    @Override
    public String deviceName() {
        return "cpu: " + System.getProperty("os.arch") + ", "
                + Runtime.getRuntime().availableProcessors() + " cores";
    }

    /** Copies of a 256 MiB array, which is well past the caches; the best of five. */
    @Override
    public double measureCopyBandwidth() {
        // 2 x 256 MiB, or what a smaller heap leaves room for: the measurement must not be what runs out of memory.
        Runtime rt = Runtime.getRuntime();
        long free = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        int n = (int) Math.max(1 << 16, Math.min(1 << 25, free / 4 / Double.BYTES));
        double[] a = new double[n], b = new double[n];
        java.util.Arrays.fill(a, 1.5);
        long best = Long.MAX_VALUE;
        for (int r = 0; r < 5; r++) {
            long t0 = System.nanoTime();
            System.arraycopy(a, 0, b, 0, n);
            best = Math.min(best, System.nanoTime() - t0);
        }
        return 2.0 * n * Double.BYTES / (best / 1e9);
    }

    @Override
    public long peakMemoryBytes() {
        long peak = 0;
        for (var pool : java.lang.management.ManagementFactory.getMemoryPoolMXBeans())
            if (pool.getType() == java.lang.management.MemoryType.HEAP && pool.getPeakUsage() != null)
                peak += pool.getPeakUsage().getUsed();
        return peak;
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }
}
