package org.reptilegen.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import org.reptilegen.config.Config;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.dist.World;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineException;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.Tuning;
import org.reptilegen.model.ParamInit;
import org.reptilegen.model.TaskKind;
import org.reptilegen.task.Samples;
import org.reptilegen.util.Rng;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(
        mixinStandardHelpOptions = true,
        name = "bench",
        sortOptions = false,
        description = {
            "Times the inner loop: one JSON line per case with the device's name, ms per inner step, task-steps/s, the bytes a step must move at least (each task's parameters read twice and written once in float32; FOMAML also reads and writes its gradient accumulator; MAML adds the five passes of its Hessian-vector product), the achieved GB/s on that count and its ratio to a large copy measured in the same run, and peak memory.",
            "Warm-up excluded; the median of --repeats timings of the inner loops of a meta-gradient over random tasks (device events on a GPU, wall time on the CPU)."
        })
final class BenchCommand implements Callable<Integer> {
    @Option(names = "--config", required = true, paramLabel = "FILE|NAME", description = "The model to time.")
    String config;

    @Option(
            names = "--batch",
            split = ",",
            paramLabel = "B",
            description =
                    "Tasks per meta-batch; several (comma-separated) give one case each. Default: the config's meta_batch.")
    List<Integer> batch;

    @Option(
            names = "--inner-steps",
            paramLabel = "T",
            description =
                    "Inner steps per task (the config's steps are meta-steps). Default: the task's length (784 for images, max_len for text).")
    Integer steps;

    @Option(
            names = {"--algorithm", "--algo"},
            split = ",",
            paramLabel = "reptile|fomaml|maml",
            converter = Converters.AlgorithmValue.class,
            description = "Meta-gradient(s) to time. Default: the config's algorithm.")
    List<Algorithm> algo;

    @Option(
            names = "--graphs",
            split = ",",
            arity = "1",
            paramLabel = "on|off",
            converter = Converters.OnOff.class,
            description =
                    "cuda backend: replay the inner step as recorded CUDA graphs (on) or launch kernel by kernel (off); both give one case each. Default: on.")
    List<Boolean> graphs;

    @Option(
            names = "--row-splits",
            split = ",",
            paramLabel = "auto|N",
            converter = Converters.RowSplitsValue.class,
            description =
                    "cuda backend: how many blocks share each column slab's rows in the fused backward kernels, chosen per launch for the GPU (auto) or fixed (1 to 16); several give one case each. Default: auto.")
    List<Integer> rowSplits;

    @Option(
            names = "--fold-small-layers",
            split = ",",
            arity = "1",
            paramLabel = "on|off",
            converter = Converters.OnOff.class,
            description =
                    "cuda backend: run the layernorms, the embedding and the loss next to a linear or lstm_block inside that layer's kernels (on) or in launches of their own (off); both give one case each. Default: on.")
    List<Boolean> smallLayersFolded;

    @Option(
            names = "--repeats",
            paramLabel = "N",
            defaultValue = "3",
            description = "Timed runs per case (after one warm-up). Default: ${DEFAULT-VALUE}.")
    int repeats;

    @Mixin
    EngineOptions engineOptions;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Config cfg = Config.resolve(config);
        int t = steps != null ? steps : cfg.taskLength();
        List<Integer> batches = batch != null ? batch : List.of(cfg.metaBatch());
        List<Algorithm> algos = algo != null ? algo : List.of(cfg.algorithm());
        List<Variant> variants = new java.util.ArrayList<>();
        for (boolean g : graphs != null ? graphs : List.of(true))
            for (int splits : rowSplits != null ? rowSplits : List.of(0))
                for (boolean fold : smallLayersFolded != null ? smallLayersFolded : List.of(true))
                    variants.add(new Variant(g, splits, fold));
        if (t < 1) throw new ParameterException(spec.commandLine(), "--inner-steps must be positive, got " + t);
        if (repeats < 1) throw new ParameterException(spec.commandLine(), "--repeats must be positive, got " + repeats);
        for (int b : batches)
            if (b < 1) throw new ParameterException(spec.commandLine(), "--batch must be positive, got " + b);
        if (cfg.model().isBaseline()) return baselineCases(cfg, batches, t);
        // A backend that cannot run here fails every case the same way: one error, not one per case.
        engineOptions.checkAvailable();
        int failed = 0;
        for (Algorithm algorithm : algos)
            for (int b : batches)
                for (Variant v : variants) {
                    ObjectNode line;
                    try {
                        line = runCase(cfg, algorithm, b, t, v, variants.size() > 1);
                    } catch (EngineException | Heap.DoesNotFit | OutOfMemoryError e) {
                        // One case that does not fit or fails on the device must not cost the others their numbers.
                        // Under MPI the ranks run the cases in step: one rank's failed case ends the job instead.
                        if (World.current() != null) throw e;
                        failed++;
                        line = JSON.createObjectNode();
                        line.put("config", cfg.source());
                        line.put("algorithm", algorithm.configName());
                        line.put("batch", b);
                        line.put("inner_steps", t);
                        line.put("cuda_graphs", v.graphs());
                        line.put("row_splits", v.splits() == 0 ? "auto" : Integer.toString(v.splits()));
                        line.put("small_layers_folded", v.smallLayersFolded());
                        line.put("error", Main.describe(e));
                    }
                    if (line != null) System.out.println(JSON.writeValueAsString(line));
                }
        if (failed > 0) {
            System.err.println("error: " + failed + " of the cases failed (their lines carry \"error\")");
            return 1;
        }
        return 0;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The lstm baseline: one case per batch size, a whole training step (forward over the sequences,
     * backpropagation through time, the Adam step) timed by wall clock: ms per training step and images
     * (or lines) per second.
     */
    private int baselineCases(Config cfg, List<Integer> batches, int t) throws Exception {
        int failed = 0;
        for (int b : batches) {
            ObjectNode line = JSON.createObjectNode();
            line.put("config", cfg.source());
            line.put("model", "lstm_baseline");
            line.put("batch", b);
            line.put("steps", t);
            try (Engine engine = engineOptions.create(cfg)) {
                engine.setState(TrainState.fresh(ParamInit.draw(
                        cfg.model().layout(),
                        Rng.of(cfg.seed(), Rng.STREAM_INIT),
                        cfg.precision() == Precision.FLOAT32)));
                TaskBatch tasks = randomTasks(cfg.task(), b, t, cfg);
                engine.metaStep(tasks); // warm-up: allocation, JIT
                double[] ms = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    long t0 = System.nanoTime();
                    engine.metaStep(tasks);
                    ms[r] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(ms);
                double median = ms[repeats / 2];
                line.put("device", engine.deviceName());
                line.put("engine", engine.description());
                line.put("params", cfg.model().layout().size());
                line.put("ms_per_training_step", round(median, 3));
                line.put("ms_min", round(ms[0], 3));
                line.put("ms_max", round(ms[repeats - 1], 3));
                line.put("images_per_s", round(b / (median / 1e3), 2));
                line.put("peak_memory_bytes", engine.peakMemoryBytes());
            } catch (OutOfMemoryError e) {
                failed++;
                line.put("error", Main.describe(e));
            }
            System.out.println(JSON.writeValueAsString(line));
        }
        if (failed > 0) {
            System.err.println("error: " + failed + " of the cases failed (their lines carry \"error\")");
            return 1;
        }
        return 0;
    }

    /** How the cuda backend lays out a case's launches: graphs or not, the row splits (0: auto), the small layers folded or not. */
    private record Variant(boolean graphs, int splits, boolean smallLayersFolded) {
        /** The cuda backend's defaults, the one variant the cpu backend runs. */
        boolean isDefault() {
            return graphs && splits == 0 && smallLayersFolded;
        }
    }

    /**
     * One case; null when it would repeat another (the cuda variants on an engine without them: only the
     * default one is run).
     */
    private ObjectNode runCase(Config cfg, Algorithm algorithm, int b, int t, Variant v, boolean variants) {
        EngineSettings base = EngineOptions.settings(cfg, engineOptions.threads);
        EngineSettings s = new EngineSettings(
                base.model(),
                algorithm,
                base.innerLr(),
                base.segment(),
                Precision.FLOAT32,
                base.adam(),
                base.threads(),
                base.innerLrMode());
        int p = cfg.model().layout().size();
        try (Engine engine = engineOptions.create(s)) {
            Tuning c = engine.tuning().orElse(null);
            boolean cuda = c != null;
            if (cuda) {
                c.useGraphs(v.graphs());
                c.useRowSplits(v.splits());
                c.foldSmallLayers(v.smallLayersFolded());
            } else if (variants && !v.isDefault()) {
                return null;
            }
            // A batch beyond the heap is this case's line, with the numbers, before it is allocated.
            Heap.requireFits(engine, b, t, "--batch");
            engine.setState(TrainState.fresh(
                    ParamInit.draw(cfg.model().layout(), Rng.of(cfg.seed(), Rng.STREAM_INIT), true),
                    s.rates().initial(s.innerLr())));
            TaskBatch tasks = randomTasks(cfg.task(), b, t, cfg);
            engine.timeInnerLoops(tasks); // warm-up: module load, allocation, JIT
            double[] ms = new double[repeats];
            // A profiler started with capture off records exactly the timed runs, without the warm-up's module load and
            // allocation.
            if (cuda) c.profilerCapture(true);
            for (int r = 0; r < repeats; r++) ms[r] = engine.timeInnerLoops(tasks) / t;
            if (cuda) c.profilerCapture(false);
            Arrays.sort(ms);
            double median = ms[repeats / 2];
            double copy = engine.measureCopyBandwidth();
            long bytes = (long) passes(algorithm) * b * p * Float.BYTES;
            double gbs = bytes / (median / 1e3) / 1e9;
            ObjectNode line = JSON.createObjectNode();
            line.put("device", engine.deviceName());
            line.put("engine", engine.description());
            line.put("config", cfg.source());
            line.put("algorithm", algorithm.configName());
            if (cuda) {
                line.put("cuda_graphs", v.graphs());
                line.put("row_splits", c.rowSplits());
                line.put("small_layers_folded", v.smallLayersFolded());
            }
            line.put("batch", b);
            line.put("inner_steps", t);
            line.put("params", p);
            line.put("ms_per_inner_step", round(median, 4));
            line.put("ms_min", round(ms[0], 4));
            line.put("ms_max", round(ms[repeats - 1], 4));
            line.put("task_steps_per_s", round(b / (median / 1e3), 1));
            line.put("min_bytes_per_step", bytes);
            line.put("achieved_gb_per_s", round(gbs, 2));
            line.put("copy_gb_per_s", round(copy / 1e9, 2));
            line.put("ratio_to_copy", round(gbs / (copy / 1e9), 4));
            line.put("peak_memory_bytes", engine.peakMemoryBytes());
            World world = World.current();
            if (world != null) {
                // The inner loops above are the slowest rank's share of the batch; then every meta-step reduces its
                // meta-gradient.
                line.put("ranks", world.size());
                line.put("inner_loops_ms_per_meta_step", round(median * t, 3));
                line.put(
                        "reduction_ms_per_meta_step",
                        round(
                                world.timeReduction(
                                        p, (s.rates().learned() ? s.rates().size() : 0) + b, repeats),
                                4));
                line.put("reduced_bytes", (long) p * Float.BYTES);
            }
            if (algorithm == Algorithm.MAML) {
                int k = MamlSegment.of(s.segment(), t);
                line.put("maml_segment", k);
            }
            return line;
        }
    }

    /**
     * Passes over a task's parameters an inner step needs at least. Reptile: read for the forward, read
     * for the backward, write the update. FOMAML also reads and writes its accumulator of the task's
     * gradients in the backward. MAML adds to the recomputation of the step (Reptile's three) the reverse
     * sweep's Hessian-vector product: theta_t read twice (forward and backward of the tangent pass) and
     * the adjoint lambda read twice and written once.
     */
    static int passes(Algorithm a) {
        return switch (a) {
            case REPTILE -> 3;
            case FOMAML -> 5;
            case MAML -> 8;
        };
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    /** Random tasks of the right shape: positions in order, random targets. Timing does not depend on the data. */
    static TaskBatch randomTasks(TaskKind kind, int b, int t, Config cfg) {
        Rng r = Rng.of(cfg.seed(), Rng.STREAM_BATCH, -1);
        int[][] positions = Samples.positions(kind, cfg.taskLength());
        int[][][] x = new int[b][t][];
        int[][] y = new int[b][t];
        for (int i = 0; i < b; i++)
            for (int s = 0; s < t; s++) {
                x[i][s] = positions[s % positions.length];
                y[i][s] = r.nextInt(kind.classes());
            }
        return new TaskBatch(kind, x, y);
    }
}
