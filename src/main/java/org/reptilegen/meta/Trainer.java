package org.reptilegen.meta;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.engine.Engine;
import org.reptilegen.metrics.MetricsLog;
import org.reptilegen.task.TaskSource;
import org.reptilegen.util.Rng;

/**
 * The meta-training loop: draw a meta-batch, take the engine's meta-step, log, checkpoint.
 * The batch of meta-step s comes from the random stream (seed, s), and the engine state is saved
 * exactly, so a run resumed from a checkpoint continues bit for bit as if never stopped.
 */
public final class Trainer {
    /** Files of a run directory. */
    public static final String CHECKPOINT = "checkpoint.safetensors", METRICS = MetricsLog.FILE;

    /** Hears about progress. */
    public interface Listener {
        void step(long step, long total, double loss, double taskStepsPerSecond);

        void message(String line);
    }

    /**
     * The processes that train together: this one alone, or the ranks of an MPI job, which run the same
     * loop in step and must agree on when it ends.
     */
    public interface Group {
        /** Whether this process writes the run's files (the checkpoint and metrics). */
        boolean writes();

        /** True on every process when v is true on any; every process calls it at the same point of the loop. */
        boolean anyOf(boolean v);

        Group ALONE = new Group() {
            @Override
            public boolean writes() {
                return true;
            }

            @Override
            public boolean anyOf(boolean v) {
                return v;
            }
        };
    }

    /** How a run ended: at its last meta-step, interrupted, or at its time limit (timedOut). */
    public record Result(long step, double loss, boolean interrupted, boolean timedOut, Path checkpoint) {}

    private final Config cfg;
    private final Engine engine;
    private final TaskSource train, test;
    private final Path out;
    private final Listener listener;
    private Group group = Group.ALONE;

    /** @param test held-out tasks for evaluation during training, or null */
    public Trainer(Config cfg, Engine engine, TaskSource train, TaskSource test, Path out, Listener listener) {
        this.cfg = cfg;
        this.engine = engine;
        this.train = train;
        this.test = test;
        this.out = out;
        this.listener = listener;
    }

    /** Trains as one of group's processes. */
    public Trainer in(Group group) {
        this.group = group;
        return this;
    }

    public Path checkpointPath() {
        return out.resolve(CHECKPOINT);
    }

    /**
     * Runs meta-steps start+1..cfg.steps() from the engine's current state, then evaluates on the
     * held-out tasks (if any); stops early, with a checkpoint, when {@code stop} is set.
     */
    public Result run(long start, AtomicBoolean stop) throws IOException {
        return run(start, stop, 0);
    }

    /**
     * As {@link #run(long, AtomicBoolean)}, and with limitNanos > 0 it also ends like a finished run
     * (checkpoint, then the held-out evaluation) after the first meta-step that ends that long after
     * the call: runs compared at equal wall time.
     */
    public Result run(long start, AtomicBoolean stop, long limitNanos) throws IOException {
        Path metrics = out.resolve(METRICS);
        if (group.writes()) {
            Files.createDirectories(out);
            MetricsLog.keepUpTo(metrics, start);
        }
        int batchSize = cfg.metaBatch();
        long total = cfg.steps();
        double loss = Double.NaN;
        long saved = start;
        long end = total;
        try (MetricsLog log = group.writes() ? MetricsLog.append(metrics, listener::message) : null) {
            long began = System.nanoTime();
            for (long s = start; s < total; s++) {
                if (group.anyOf(stop.get())) {
                    save(s);
                    return new Result(s, loss, true, false, checkpointPath());
                }
                TaskBatch batch = train.draw(Rng.of(cfg.seed(), Rng.STREAM_BATCH, s), batchSize);
                long t0 = System.nanoTime();
                double[] nll = engine.metaStep(batch);
                double seconds = (System.nanoTime() - t0) / 1e9;
                loss = mean(nll);
                long step = s + 1;
                if (!Double.isFinite(loss))
                    throw new NonFiniteLossException(
                            "meta-step " + step + ": the loss is " + loss + "; training stopped"
                                    + (saved > 0
                                            ? ", the last checkpoint written is " + checkpointPath() + " (meta-step "
                                                    + saved + ")"
                                            : " before any checkpoint"));
                long taskSteps = 0;
                for (int b = 0; b < batch.size(); b++) taskSteps += batch.steps(b);
                double rate = taskSteps / seconds;
                // The time limit ends the run at this step as its last step would have.
                boolean last =
                        step == total || (limitNanos > 0 && group.anyOf(System.nanoTime() - began >= limitNanos));
                if ((step % cfg.logEvery() == 0 || last) && log != null)
                    log.step(
                            step,
                            loss,
                            Evaluation.bitsPerDim(loss, batch.maxSteps()),
                            rate,
                            (System.nanoTime() - began) / 1e9);
                listener.step(step, total, loss, rate);
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || last) {
                    save(step);
                    saved = step;
                }
                if (last) {
                    end = step;
                    break;
                }
                if (test != null && cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) evaluate(step, log);
            }
            if (test != null) evaluate(end, log);
        }
        return new Result(end, loss, false, end < total, checkpointPath());
    }

    /** Mean prequential NLL and bits per dimension of the first eval_tasks held-out tasks, logged where log is not null. */
    private void evaluate(long step, MetricsLog log) throws IOException {
        int n = Math.min(cfg.evalTasks(), test.size());
        double[] nll = Evaluation.run(engine, test, n, cfg.metaBatch());
        double mean = mean(nll), bits = Evaluation.bitsPerDim(mean, test.steps());
        if (log != null) log.evaluation(step, n, mean, bits);
        listener.message(String.format(
                "eval at meta-step %d: %.3f nats per task, %.4f bits per dim over %d held-out tasks",
                step, mean, bits, n));
    }

    private void save(long step) {
        if (group.writes()) new TrainingCheckpoint(cfg, engine.state(), step).write(checkpointPath());
    }

    static double mean(double[] a) {
        double s = 0;
        for (double v : a) s += v;
        return s / a.length;
    }
}
