package org.reptilegen.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TrainState;
import org.reptilegen.dist.World;
import org.reptilegen.engine.Engine;
import org.reptilegen.meta.Trainer;
import org.reptilegen.model.ParamInit;
import org.reptilegen.model.TaskKind;
import org.reptilegen.task.Split;
import org.reptilegen.task.TaskSource;
import org.reptilegen.task.TaskSources;
import org.reptilegen.util.AtomicFiles;
import org.reptilegen.util.Rng;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "train",
        sortOptions = false,
        description = {
            "Meta-trains a model: each meta-step draws a batch of tasks, runs every task's inner SGD loop from theta, forms the meta-gradient (reptile, fomaml or maml) and takes an Adam step on theta.",
            "Writes into --out: config.yaml, metrics.jsonl (one JSON line per meta-step), checkpoint.safetensors (every checkpoint_every meta-steps, at the end, and on Ctrl-C), and samples (samples.txt or samples.png). Without --config it trains the built-in default: tiny-text on the built-in text corpus, on the CPU, in minutes."
        })
final class TrainCommand implements Callable<Integer> {
    static final String DEFAULT_CONFIG = "tiny-text";

    @Option(
            names = "--config",
            paramLabel = "FILE|NAME",
            description = "A config file, or the name of a built-in config ("
                    + "tiny-text, tiny-mnist, mnist-lstm-reptile, ...). Default: " + DEFAULT_CONFIG
                    + ", or the checkpoint's with --resume.")
    String config;

    @Option(
            names = "--set",
            paramLabel = "KEY=VALUE",
            description = "Overrides a config value, e.g. --set meta_batch=8 --set outer.lr=3e-4. Repeatable.")
    List<String> sets = new ArrayList<>();

    @Option(
            names = "--data",
            paramLabel = "PATH",
            description =
                    "Text file (text tasks) or directory of MNIST-format IDX files (image tasks). Default: the config's data, else the built-in corpus / data/mnist.")
    String data;

    @Option(names = "--out", paramLabel = "DIR", description = "Run directory. Default: runs/<config name>.")
    Path out;

    @Option(
            names = "--resume",
            description = "Continue the run in --out from its checkpoint, bit for bit as if it had not stopped.")
    boolean resume;

    @Option(
            names = "--samples",
            paramLabel = "N",
            converter = Converters.Count.class,
            description = "Samples to draw at the end (default 16 images or 8 text lines; 0 = none).")
    Integer samples;

    @Option(
            names = "--time-limit",
            paramLabel = "DURATION",
            converter = Converters.DurationValue.class,
            description =
                    "Stop after the first meta-step that ends this long after the start (e.g. 90s, 10m, 1h30m), with a checkpoint, the held-out evaluation and samples, as at the last step: runs compared at equal wall time. A resumed run counts from its own start.")
    java.time.Duration timeLimit;

    @Option(
            names = "--no-download",
            description = "Never download MNIST; fail with a message saying which files to put where.")
    boolean noDownload;

    @Mixin
    EngineOptions engineOptions;

    @Override
    public Integer call() throws IOException {
        long limitNanos = timeLimit == null ? 0 : timeLimit.toNanos();
        Outputs.notEmpty("--out", out, "a directory for the run");
        Path dir = out != null ? out : Path.of("runs", configName(config == null ? DEFAULT_CONFIG : config));
        // Under MPI rank 0 holds the run directory and writes it; the others only read it.
        try (RunLock lock = World.writes() ? RunLock.take(dir) : null) {
            return train(dir, limitNanos);
        }
    }

    /** The run in dir, which this process holds. */
    private int train(Path dir, long limitNanos) throws IOException {
        Config cfg;
        TrainState state;
        long start;
        if (resume) {
            Path ck = dir.resolve(Trainer.CHECKPOINT);
            if (!Files.exists(ck)) throw new IllegalArgumentException("--resume: no checkpoint at " + ck);
            TrainingCheckpoint c = TrainingCheckpoint.read(ck, true);
            requireOwnCheckpoint(dir, ck, c.config());
            cfg = c.config().with(sets);
            if (config != null && !Config.resolve(config).with(sets).equals(cfg))
                System.err.println(
                        "note: --resume continues with the checkpoint's config; --config " + config + " is not used");
            state = c.state();
            start = c.step();
            if (start >= cfg.steps())
                throw new IllegalArgumentException(ck + " is at meta-step " + start + " of a run of " + cfg.steps()
                        + (start == cfg.steps() ? ": the run is finished" : "")
                        + "; to go on, resume with --set steps=N, N above " + start);
            System.err.println("resuming " + ck + " at meta-step " + start);
        } else {
            String name = config == null ? DEFAULT_CONFIG : config;
            cfg = Config.resolve(name).with(sets);
            Path ck = dir.resolve(Trainer.CHECKPOINT);
            if (Files.exists(ck))
                throw new IllegalArgumentException(
                        dir + " already holds a run: continue it with --resume, or choose another --out");
            boolean f32 = cfg.precision() == Precision.FLOAT32;
            state = TrainState.fresh(
                    ParamInit.draw(cfg.model().layout(), Rng.of(cfg.seed(), Rng.STREAM_INIT), f32),
                    EngineOptions.settings(cfg, 0).rates().initial(cfg.innerLr().init()));
            start = 0;
        }
        // The data path becomes part of the run's config, so eval and sample of its checkpoint find it.
        if (data != null) cfg = cfg.with(List.of("data=" + Path.of(data).toAbsolutePath()));
        TaskSource train = TaskSources.open(cfg, null, Split.TRAIN, !noDownload);
        TaskSource test = cfg.evalTasks() > 0 ? TaskSources.open(cfg, null, Split.TEST, !noDownload) : null;
        if (World.writes()) {
            Files.createDirectories(dir);
            removeStaleTemporaries(dir);
        }

        try (Engine engine = engineOptions.create(cfg)) {
            engine.setState(state);
            Heap.requireFits(engine, cfg.metaBatch(), train.steps(), "meta_batch");
            if (test != null)
                Heap.requireFits(engine, Math.min(cfg.evalTasks(), test.size()), test.steps(), "eval_tasks");
            int samplesAtEnd = samplesAtEnd(cfg);
            if (samplesAtEnd > 0) Sampling.requireFits(engine, cfg, samplesAtEnd, "--samples");
            // Written once the engine has started: a run that cannot start leaves no half-made directory.
            if (World.writes()) writeAtomically(dir.resolve("config.yaml"), cfg.toYaml());
            if (cfg.model().isBaseline())
                System.err.printf(
                        "training %s: %,d parameters, lstm baseline by backpropagation, batch %d, %d steps per sequence, on %s%n",
                        cfg.source(),
                        cfg.model().layout().size(),
                        cfg.metaBatch(),
                        train.steps(),
                        engine.description());
            else
                System.err.printf(
                        "training %s: %,d parameters, %s, meta-batch %d, %d steps per task, on %s%n",
                        cfg.source(),
                        cfg.model().layout().size(),
                        cfg.algorithm().configName(),
                        cfg.metaBatch(),
                        train.steps(),
                        engine.description());
            ProgressBar progress = new ProgressBar(System.err, System.console() != null, limitNanos);
            Trainer trainer = new Trainer(cfg, engine, train, test, dir, progress);
            World world = World.current();
            if (world != null)
                trainer.in(new Trainer.Group() {
                    @Override
                    public boolean writes() {
                        return World.writes();
                    }

                    @Override
                    public boolean anyOf(boolean v) {
                        return world.anyOf(v);
                    }
                });

            AtomicBoolean stop = new AtomicBoolean();
            CountDownLatch finished = new CountDownLatch(1);
            Thread hook = new Thread(
                    () -> {
                        stop.set(true);
                        try {
                            finished.await(10, TimeUnit.MINUTES);
                        } catch (InterruptedException ignored) {
                            Thread.currentThread().interrupt();
                        }
                    },
                    "checkpoint-on-interrupt");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                Trainer.Result r = trainer.run(start, stop, limitNanos);
                progress.finish();
                if (r.interrupted()) {
                    System.err.println("interrupted: checkpoint written at meta-step " + r.step() + " to "
                            + r.checkpoint() + "; continue with: train --out " + dir + " --resume");
                    return 130;
                }
                if (r.timedOut())
                    System.err.println("time limit " + show(timeLimit) + " reached at meta-step " + r.step() + " of "
                            + cfg.steps());
                Path samplesFile = writeSamples(engine, cfg, dir);
                System.err.printf(
                        "done: meta-step %d, loss %.3f nats per task (mean over the last meta-batch)%n",
                        r.step(), r.loss());
                System.err.println("checkpoint: " + r.checkpoint());
                System.err.println("metrics: " + dir.resolve(Trainer.METRICS) + " (plot with: plot --metrics "
                        + dir.resolve(Trainer.METRICS) + " --out loss.png)");
                if (samplesFile != null) System.err.println("samples: " + samplesFile);
                return 0;
            } finally {
                finished.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // The hook is running: it is waiting for the latch released above.
                }
            }
        }
    }

    /**
     * Refuses a checkpoint of another model than the run's config.yaml: one copied in from another run
     * would continue that run here, under this run's metrics.
     */
    private static void requireOwnCheckpoint(Path dir, Path ck, Config checkpoints) {
        Path own = dir.resolve("config.yaml");
        if (!Files.isRegularFile(own)) return;
        Config run;
        try {
            run = Config.load(own);
        } catch (org.reptilegen.config.ConfigException e) {
            return; // rewritten from the checkpoint's config below
        }
        if (!run.sameModel(checkpoints))
            throw new IllegalArgumentException(
                    ck + " holds another model (" + checkpoints.task().configName() + ", "
                            + String.format("%,d", checkpoints.model().layout().size()) + " parameters) than the run's "
                            + own + " ("
                            + run.task().configName() + ", "
                            + String.format("%,d", run.model().layout().size())
                            + " parameters): it is not this run's checkpoint; put the run's own back, or resume it in a directory of its own");
    }

    /** How many samples the run draws at its end. */
    private int samplesAtEnd(Config cfg) {
        return samples != null ? samples : (cfg.task() == TaskKind.TEXT ? 8 : 16);
    }

    private Path writeSamples(Engine engine, Config cfg, Path dir) throws IOException {
        int n = samplesAtEnd(cfg);
        if (n == 0) return null;
        Sampling.Result s = Sampling.draw(engine, cfg, n, 1.0, cfg.seed());
        Path file = dir.resolve(cfg.task() == TaskKind.TEXT ? "samples.txt" : "samples.png");
        if (World.writes()) Sampling.write(s, file);
        if (s.lines() != null) for (String line : s.lines()) System.out.println(line);
        return file;
    }

    /**
     * Temporary files of atomic writes that a killed process left (".NAME.HEX.tmp"): this process holds
     * the directory, so none of them is being written.
     */
    private static void removeStaleTemporaries(Path dir) throws IOException {
        try (var entries = Files.list(dir)) {
            for (Path p : entries.toList()) {
                String n = p.getFileName().toString();
                if (AtomicFiles.isTemporary(n)) Files.deleteIfExists(p);
            }
        }
    }

    /** A duration as 90s, 10m, 1h30m, 2h (or ISO-8601, PT10M), for --time-limit; a bare number is seconds. */
    static java.time.Duration parseDuration(String text) {
        String t = text.strip().toLowerCase(java.util.Locale.ROOT);
        java.time.Duration d = java.time.Duration.ZERO;
        try {
            if (t.startsWith("p")) {
                d = java.time.Duration.parse(t.toUpperCase(java.util.Locale.ROOT));
            } else if (t.matches("\\d+(\\.\\d+)?")) {
                d = java.time.Duration.ofMillis(Math.round(Double.parseDouble(t) * 1000));
            } else if (t.matches("(\\d+(\\.\\d+)?[hms])+")) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)([hms])")
                        .matcher(t);
                while (m.find()) {
                    double v = Double.parseDouble(m.group(1));
                    long unit = switch (m.group(2)) {
                        case "h" -> 3_600_000L;
                        case "m" -> 60_000L;
                        default -> 1_000L;
                    };
                    d = d.plusMillis(Math.round(v * unit));
                }
            } else {
                throw new IllegalArgumentException();
            }
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("'" + text + "' is not a duration (examples: 90s, 10m, 1h30m)");
        }
        if (d.isZero() || d.isNegative())
            throw new IllegalArgumentException("a duration must be positive, got " + text);
        if (d.compareTo(LONGEST) > 0) throw new IllegalArgumentException(text + " is longer than 100 years");
        return d;
    }

    /** The longest time limit taken: far beyond any run, and well within a long of nanoseconds. */
    static final java.time.Duration LONGEST = java.time.Duration.ofDays(36_525);

    /** A duration as --time-limit takes it: 1h30m, 90s, 1.5s. */
    static String show(java.time.Duration d) {
        long h = d.toHours(), m = d.toMinutesPart(), ms = d.toSecondsPart() * 1000L + d.toMillisPart();
        String s = (h > 0 ? h + "h" : "") + (m > 0 ? m + "m" : "");
        if (ms > 0 || s.isEmpty())
            s += (ms % 1000 == 0 ? Long.toString(ms / 1000) : Double.toString(ms / 1000.0)) + "s";
        return s;
    }

    static String configName(String nameOrPath) {
        String f = Path.of(nameOrPath).getFileName().toString();
        return f.endsWith(".yaml")
                ? f.substring(0, f.length() - 5)
                : f.endsWith(".yml") ? f.substring(0, f.length() - 4) : f;
    }

    static void writeAtomically(Path file, String text) throws IOException {
        AtomicFiles.write(file, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }
}
