package org.reptilegen.engine;

import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;

/**
 * Runs the inner loops of a batch of tasks and everything built on them. An engine owns the
 * training state (theta and the outer Adam's moments), so a device engine can keep it resident
 * and move only batches in and losses out.
 */
public interface Engine extends AutoCloseable {

    /** One line naming the engine and how it runs (threads, device). */
    String description();

    EngineSettings settings();

    void setState(TrainState state);

    /** A copy of the current state. */
    TrainState state();

    /**
     * The meta-gradient (README, The math, 4) of the batch at the current theta, mean over tasks, into g;
     * returns each task's prequential NLL in nats.
     */
    default double[] metaGradient(TaskBatch batch, double[] g) {
        return metaGradient(batch, g, null);
    }

    /**
     * As {@link #metaGradient(TaskBatch, double[])}; with learned inner learning rates also their
     * gradient (one value per learned rate) into gInnerLr, which is null for a fixed rate.
     */
    double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr);

    /** metaGradient, then one Adam step on theta. Returns each task's prequential NLL. */
    double[] metaStep(TaskBatch batch);

    /**
     * The Adam step metaStep takes after its metaGradient, with a meta-gradient g (and gInnerLr, null for a
     * fixed rate) given: the ranks of an MPI job sum theirs, and each applies the sum where its engine keeps
     * the parameters (TrainState.afterAdam on the host, adam_update on the device).
     */
    void adamStep(double[] g, double[] gInnerLr);

    /** Each task's prequential NLL (README, The math, 6) at the current theta; theta is unchanged. */
    double[] evaluate(TaskBatch batch);

    /**
     * Draws {@code count} sequences (README, The math, 5) at the given positions: y_t from the model's
     * distribution at temperature T, then an SGD step on it. With {@code stopAtZero} (text) a sample
     * ends at its first 0, which is kept, and the rest is 0. Sample i uses the random stream
     * (seed, i), so samples do not depend on how many are drawn together.
     */
    int[][] sample(int[][] positions, int count, double temperature, long seed, boolean stopAtZero);

    /**
     * Samples first..first+count-1 of the numbering above (sample i from the stream (seed, i)), so that
     * the ranks of a job can each draw a share of one set of samples. By default the first first+count are
     * drawn and the first ones dropped.
     */
    default int[][] sample(int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        int[][] all = sample(positions, first + count, temperature, seed, stopAtZero);
        return java.util.Arrays.copyOfRange(all, first, first + count);
    }

    /**
     * Milliseconds the inner loops of one meta-gradient of this batch take (T steps of every task),
     * by the engine's own clock: device events around the inner loop on a GPU, so uploading the batch
     * and reading results back are not counted; wall time of the whole meta-gradient on the CPU.
     */
    default double timeInnerLoops(TaskBatch batch) {
        int p = settings().model().layout().size();
        var rates = settings().rates();
        long t0 = System.nanoTime();
        metaGradient(batch, new double[p], rates.learned() ? new double[rates.size()] : null);
        return (System.nanoTime() - t0) / 1e6;
    }

    /** The processor or card the engine runs on, by name. */
    default String deviceName() {
        return description();
    }

    /**
     * Java heap a meta-gradient, evaluation or sampling of tasks tasks of steps steps takes, about: the
     * batch itself, and what the engine keeps per task on the host.
     */
    default long heapBytes(long tasks, int steps) {
        return TaskBatch.heapBytes(settings().model().task(), tasks, steps);
    }

    /** The engine's launch knobs, where it has any (the cuda engine). */
    default java.util.Optional<Tuning> tuning() {
        return java.util.Optional.empty();
    }

    /**
     * Bytes per second of a large device-to-device copy (bytes read plus bytes written) on this engine's
     * memory, measured now: the ceiling a memory-bound inner step is compared with.
     */
    double measureCopyBandwidth();

    /** The most memory the engine has held for its buffers so far, in bytes. */
    long peakMemoryBytes();

    @Override
    void close();
}
