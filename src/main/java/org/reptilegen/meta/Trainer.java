package org.reptilegen.meta;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.engine.Engine;
import org.reptilegen.task.TaskSource;
import org.reptilegen.util.Rng;

/**
 * The meta-training loop: draw a meta-batch, take the engine's meta-step, log, checkpoint.
 * The batch of meta-step s comes from the random stream (seed, s), and the engine state is saved
 * exactly, so a run resumed from a checkpoint continues bit for bit as if never stopped.
 */
public final class Trainer {
    /** Files of a run directory. */
    public static final String CHECKPOINT = "checkpoint.safetensors", METRICS = "metrics.jsonl";

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
            public boolean writes() { return true; }

            @Override
            public boolean anyOf(boolean v) { return v; }
        };
    }

    /** How a run ended: at its last meta-step, interrupted, or at its time limit (timedOut). */
    public record Result(long step, double loss, boolean interrupted, boolean timedOut, Path checkpoint) {}

    private static final ObjectMapper JSON = new ObjectMapper();

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

    public Path checkpointPath() { return out.resolve(CHECKPOINT); }

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
            keepMetricsUpTo(metrics, start);
        }
        int batchSize = cfg.metaBatch();
        long total = cfg.steps();
        double loss = Double.NaN;
        long saved = start;
        long end = total;
        try (MetricsLog log = group.writes() ? new MetricsLog(metrics, listener::message) : null) {
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
                    throw new NonFiniteLossException("meta-step " + step + ": the loss is " + loss + "; training stopped"
                            + (saved > 0 ? ", the last checkpoint written is " + checkpointPath() + " (meta-step " + saved + ")" : " before any checkpoint"));
                long taskSteps = 0;
                for (int b = 0; b < batch.size(); b++) taskSteps += batch.steps(b);
                double rate = taskSteps / seconds;
                // The time limit ends the run at this step as its last step would have.
                boolean last = step == total || (limitNanos > 0 && group.anyOf(System.nanoTime() - began >= limitNanos));
                if ((step % cfg.logEvery() == 0 || last) && log != null) {
                    ObjectNode line = JSON.createObjectNode();
                    line.put("step", step);
                    line.put("loss", loss);
                    line.put("bits_per_dim", Evaluation.bitsPerDim(loss, batch.maxSteps()));
                    line.put("task_steps_per_s", rate);
                    line.put("seconds", (System.nanoTime() - began) / 1e9);
                    log.append(JSON.writeValueAsString(line));
                }
                listener.step(step, total, loss, rate);
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || last) {
                    save(step);
                    saved = step;
                }
                if (last) {
                    end = step;
                    break;
                }
                if (test != null && cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) {
                    String line = JSON.writeValueAsString(evaluate(step));
                    if (log != null) log.append(line);
                }
            }
            if (test != null) {
                String line = JSON.writeValueAsString(evaluate(end));
                if (log != null) log.append(line);
            }
        }
        return new Result(end, loss, false, end < total, checkpointPath());
    }

    /**
     * metrics.jsonl, appended a line at a time: a write that fails (a full disk) names the file, and a
     * file deleted during the run is noticed, said once, and started again.
     */
    private static final class MetricsLog implements java.io.Closeable {
        private final Path file;
        private final java.util.function.Consumer<String> note;
        private BufferedWriter writer;

        MetricsLog(Path file, java.util.function.Consumer<String> note) throws IOException {
            this.file = file;
            this.note = note;
            writer = open();
        }

        private BufferedWriter open() throws IOException {
            return Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }

        void append(String line) throws IOException {
            try {
                if (!Files.exists(file)) {
                    writer.close();
                    writer = open();
                    note.accept("note: " + file + " was deleted during the run; it goes on from here");
                }
                writer.write(line);
                writer.newLine();
                writer.flush();
            } catch (IOException e) {
                throw new IOException("cannot append to " + file + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() throws IOException {
            writer.close();
        }
    }

    /** Mean prequential NLL and bits per dimension of the first eval_tasks held-out tasks. */
    public ObjectNode evaluate(long step) {
        int n = Math.min(cfg.evalTasks(), test.size());
        double[] nll = Evaluation.run(engine, test, n, cfg.metaBatch());
        double mean = mean(nll);
        ObjectNode line = JSON.createObjectNode();
        line.put("step", step);
        line.put("eval_tasks", n);
        line.put("eval_nll", mean);
        line.put("eval_bits_per_dim", Evaluation.bitsPerDim(mean, test.steps()));
        listener.message(String.format("eval at meta-step %d: %.3f nats per task, %.4f bits per dim over %d held-out tasks",
                step, mean, Evaluation.bitsPerDim(mean, test.steps()), n));
        return line;
    }

    private void save(long step) {
        if (group.writes()) new TrainingCheckpoint(cfg, engine.state(), step).write(checkpointPath());
    }

    static double mean(double[] a) {
        double s = 0;
        for (double v : a) s += v;
        return s / a.length;
    }

    /** A resumed run rewrites the metrics past its checkpoint, so the file reads as one run. */
    private static void keepMetricsUpTo(Path metrics, long step) throws IOException {
        if (!Files.exists(metrics)) return;
        if (step == 0) {
            Files.delete(metrics);
            return;
        }
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(metrics, StandardCharsets.UTF_8)) {
            try {
                JsonNode n = JSON.readTree(line);
                long at = n == null ? Long.MAX_VALUE : n.path("step").asLong(Long.MAX_VALUE);
                // An evaluation at the checkpoint's step ended the earlier run; the resumed run evaluates again.
                if (at < step || (at == step && n.has("loss"))) kept.add(line);
            } catch (IOException e) {
                // A line cut off by a crash: drop it.
            }
        }
        Path tmp = metrics.resolveSibling(METRICS + ".tmp");
        Files.write(tmp, kept, StandardCharsets.UTF_8);
        Files.move(tmp, metrics, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

}
