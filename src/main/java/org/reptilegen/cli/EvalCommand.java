package org.reptilegen.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.engine.Engine;
import org.reptilegen.meta.Evaluation;
import org.reptilegen.task.Split;
import org.reptilegen.task.TaskSource;
import org.reptilegen.task.TaskSources;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "eval",
        sortOptions = false,
        description =
                "Evaluates a checkpoint on held-out tasks: runs the inner loop from theta on each task and reports the mean prequential NLL (nats per task) and bits per dimension.")
final class EvalCommand implements Callable<Integer> {
    @Option(
            names = "--checkpoint",
            required = true,
            paramLabel = "FILE",
            description = "A training checkpoint (.safetensors).")
    Path checkpoint;

    @Option(
            names = "--data",
            paramLabel = "PATH",
            description = "Text file or MNIST-format directory. Default: the checkpoint config's data.")
    String data;

    @Option(
            names = "--tasks",
            paramLabel = "N",
            converter = Converters.PositiveCount.class,
            description = "Number of held-out tasks (the first N of the split). Default: the config's eval_tasks.")
    Integer tasks;

    @Option(
            names = "--split",
            paramLabel = "test|train",
            defaultValue = "test",
            description = "Which split to evaluate on. Default: ${DEFAULT-VALUE}.")
    String split;

    @Option(names = "--no-download", description = "Never download MNIST.")
    boolean noDownload;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Mixin
    EngineOptions engineOptions;

    @Override
    public Integer call() throws Exception {
        TrainingCheckpoint c = TrainingCheckpoint.read(checkpoint, false);
        Config cfg = c.config();
        TaskSource source = TaskSources.open(cfg, data, Split.parse(split), !noDownload);
        int n = Math.min(tasks != null ? tasks : cfg.evalTasks(), source.size());
        if (n < 1) throw new IllegalArgumentException("--tasks must be at least 1");
        try (Engine engine = engineOptions.create(cfg)) {
            engine.setState(c.state());
            // Evaluated in batches of the run's meta_batch.
            Heap.requireFits(engine, Math.min(n, cfg.metaBatch()), source.steps(), "meta_batch");
            double[] nll = Evaluation.run(engine, source, n, cfg.metaBatch());
            double mean = 0;
            for (double v : nll) mean += v;
            mean /= n;
            if (!Double.isFinite(mean))
                throw new IllegalArgumentException(checkpoint + ": the evaluation's mean NLL is " + mean
                        + ": the inner loop diverges on these tasks");
            double bpd = Evaluation.bitsPerDim(mean, source.steps());
            if (json) {
                System.out.printf(
                        "{\"checkpoint\": \"%s\", \"step\": %d, \"split\": \"%s\", \"tasks\": %d, \"nll\": %.6f, \"bits_per_dim\": %.6f}%n",
                        checkpoint.toString().replace("\\", "\\\\").replace("\"", "\\\""),
                        c.step(),
                        split,
                        n,
                        mean,
                        bpd);
            } else {
                System.out.printf("tasks: %d held-out (%s split), %d steps each%n", n, split, source.steps());
                System.out.printf("nll: %.4f nats per task%n", mean);
                System.out.printf("bits per dim: %.5f%n", bpd);
            }
        }
        return 0;
    }
}
