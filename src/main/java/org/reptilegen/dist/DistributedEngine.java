package org.reptilegen.dist;

import java.util.Optional;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.Tuning;

/**
 * An engine spread over the ranks of an MPI job: every rank is given the same whole batch, runs the inner
 * loops of its contiguous share of the tasks on its own engine (its GPU, or its cores), and the shares'
 * results are combined in rank order, so every rank holds the same bits afterwards.
 *
 * <p>A meta-gradient is the sum over ranks of each share's sum of task contributions (its mean times its
 * task count), divided by B: P values per meta-step, sent as floats with float32 storage and as doubles
 * with float64, plus the learned rates' gradient and the tasks' losses as doubles. Every rank then takes
 * the same Adam step where its engine keeps the parameters ({@link Engine#adamStep}). The state given to
 * {@link #setState} is rank 0's on every rank.
 */
public final class DistributedEngine implements Engine {
    private final Engine local;
    private final World world;
    private final boolean float32;

    public DistributedEngine(Engine local, World world) {
        this.local = local;
        this.world = world;
        this.float32 = local.settings().precision() == Precision.FLOAT32;
    }

    @Override
    public String description() {
        return local.description() + " on each of " + world.size() + " MPI ranks";
    }

    @Override
    public EngineSettings settings() {
        return local.settings();
    }

    /** Rank 0's state (theta, Adam's moments and step, learned rates), on every rank. */
    @Override
    public void setState(TrainState s) {
        int p = s.theta().length, r = s.innerLr() == null ? 0 : s.innerLr().length;
        long[] head = {s.adamStep(), p, r};
        world.broadcast(head);
        if (head[1] != p || head[2] != r)
            throw new MpiException(
                    "rank " + world.rank() + " has " + p + " parameters and " + r + " inner learning rates, rank 0 "
                            + head[1] + " and " + head[2] + ": every rank must run the same config");
        double[] all = new double[3 * p + 3 * r];
        copy(s.theta(), all, 0);
        copy(s.adamM(), all, p);
        copy(s.adamV(), all, 2 * p);
        if (r > 0) {
            copy(s.innerLr(), all, 3 * p);
            copy(s.innerLrM(), all, 3 * p + r);
            copy(s.innerLrV(), all, 3 * p + 2 * r);
        }
        world.broadcast(all);
        local.setState(new TrainState(
                part(all, 0, p),
                part(all, p, p),
                part(all, 2 * p, p),
                head[0],
                r > 0 ? part(all, 3 * p, r) : null,
                r > 0 ? part(all, 3 * p + r, r) : null,
                r > 0 ? part(all, 3 * p + 2 * r, r) : null));
    }

    private static void copy(double[] from, double[] to, int at) {
        System.arraycopy(from, 0, to, at, from.length);
    }

    private static double[] part(double[] a, int from, int n) {
        return java.util.Arrays.copyOfRange(a, from, from + n);
    }

    @Override
    public TrainState state() {
        return local.state();
    }

    @Override
    public double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr) {
        int b = batch.size(), from = world.from(b), to = world.to(b), n = to - from;
        int p = g.length, r = gInnerLr == null ? 0 : gInnerLr.length;
        double[] mine = new double[p];
        double[] mineLr = r > 0 ? new double[r] : null;
        double[] nll = n > 0 ? local.metaGradient(batch.slice(from, to), mine, mineLr) : new double[0];
        // Sums, not means: the shares differ in size. Losses are placed at their tasks, zero elsewhere, so their sum is
        // exact.
        int head = float32 ? 0 : p;
        double[] doubles = new double[head + r + b];
        if (float32) {
            float[] f = new float[p];
            for (int i = 0; i < p; i++) f[i] = (float) (mine[i] * n);
            world.sumInRankOrder(f);
            for (int i = 0; i < p; i++) g[i] = f[i] / (double) b;
        } else {
            for (int i = 0; i < p; i++) doubles[i] = mine[i] * n;
        }
        for (int i = 0; i < r; i++) doubles[head + i] = mineLr[i] * n;
        System.arraycopy(nll, 0, doubles, head + r + from, n);
        world.sumInRankOrder(doubles);
        if (!float32) for (int i = 0; i < p; i++) g[i] = doubles[i] / b;
        for (int i = 0; i < r; i++) gInnerLr[i] = doubles[head + i] / b;
        return java.util.Arrays.copyOfRange(doubles, head + r, head + r + b);
    }

    /**
     * The meta-gradient over every rank's share, then the same Adam step on every rank, where its engine
     * keeps the parameters (on the device for cuda).
     */
    @Override
    public double[] metaStep(TaskBatch batch) {
        EngineSettings s = local.settings();
        int p = s.model().layout().size();
        var rates = s.rates();
        double[] g = new double[p];
        double[] gLr = rates.learned() ? new double[rates.size()] : null;
        double[] nll = metaGradient(batch, g, gLr);
        local.adamStep(g, gLr);
        return nll;
    }

    /** A meta-gradient already combined over the ranks: each rank applies it to its own engine. */
    @Override
    public void adamStep(double[] g, double[] gInnerLr) {
        local.adamStep(g, gInnerLr);
    }

    @Override
    public double[] evaluate(TaskBatch batch) {
        int b = batch.size(), from = world.from(b), to = world.to(b);
        double[] mine = to > from ? local.evaluate(batch.slice(from, to)) : new double[0];
        return world.gather(mine, world.shares(b));
    }

    @Override
    public int[][] sample(int[][] positions, int count, double temperature, long seed, boolean stopAtZero) {
        return sample(positions, 0, count, temperature, seed, stopAtZero);
    }

    /** Each rank draws its share of the samples; sample i is the same whichever rank draws it. */
    @Override
    public int[][] sample(int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        int from = world.from(count), to = world.to(count), steps = positions.length;
        int[][] mine = to > from
                ? local.sample(positions, first + from, to - from, temperature, seed, stopAtZero)
                : new int[0][];
        double[] flat = new double[(to - from) * steps];
        for (int i = 0; i < mine.length; i++) for (int t = 0; t < steps; t++) flat[i * steps + t] = mine[i][t];
        int[] shares = world.shares(count);
        for (int i = 0; i < shares.length; i++) shares[i] *= steps;
        double[] all = world.gather(flat, shares);
        int[][] out = new int[count][steps];
        for (int i = 0; i < count; i++) for (int t = 0; t < steps; t++) out[i][t] = (int) all[i * steps + t];
        return out;
    }

    /** The slowest rank's time for the inner loops of its share: what a meta-step waits for before its reduction. */
    @Override
    public double timeInnerLoops(TaskBatch batch) {
        int b = batch.size(), from = world.from(b), to = world.to(b);
        world.barrier();
        double ms = to > from ? local.timeInnerLoops(batch.slice(from, to)) : 0;
        return world.max(Math.round(ms * 1e6)) / 1e6;
    }

    @Override
    public String deviceName() {
        return local.deviceName();
    }

    /** The whole batch (every rank is given it), and what the engine keeps for the largest share. */
    @Override
    public long heapBytes(long tasks, int steps) {
        long share = (tasks + world.size() - 1) / world.size();
        return local.heapBytes(share, steps)
                + TaskBatch.heapBytes(local.settings().model().task(), tasks - share, steps);
    }

    @Override
    public Optional<Tuning> tuning() {
        return local.tuning();
    }

    @Override
    public double measureCopyBandwidth() {
        return local.measureCopyBandwidth();
    }

    @Override
    public long peakMemoryBytes() {
        return local.peakMemoryBytes();
    }

    @Override
    public void close() {
        local.close();
    }
}
