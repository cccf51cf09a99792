package org.reptilegen.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.reptilegen.checkpoint.Checkpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.dist.World;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.task.TaskFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "grad",
        sortOptions = false,
        description = {
            "Computes one meta-gradient (the mean over the tasks of a file) for given parameters and writes it under the parameters' names: the way to cross-check against another implementation.",
            "Tasks file: one JSON object per line, {\"x\": [[ints], ...], \"y\": [...]}, y class indices (text) or 0/1 (images)."
        })
final class GradCommand implements Callable<Integer> {
    @Option(
            names = "--config",
            required = true,
            paramLabel = "FILE|NAME",
            description = "The model (task and model are enough; other keys default).")
    String config;

    @Option(
            names = "--init",
            required = true,
            paramLabel = "P.safetensors",
            description = "Parameters theta, under the model's parameter names.")
    Path init;

    @Option(
            names = "--tasks",
            required = true,
            paramLabel = "T.jsonl",
            description = "The tasks, one JSON object per line.")
    Path tasks;

    @Option(
            names = {"--algorithm", "--algo"},
            paramLabel = "reptile|fomaml|maml",
            converter = Converters.AlgorithmValue.class,
            description = "Meta-gradient. Default: the config's algorithm.")
    Algorithm algo;

    @Option(
            names = "--inner-lr",
            paramLabel = "ALPHA",
            converter = Converters.PositiveNumber.class,
            description = "Inner learning rate. Default: the config's inner_lr.")
    Double innerLr;

    @Option(
            names = "--segment",
            paramLabel = "K",
            converter = Converters.Count.class,
            description = "MAML checkpoint interval (steps); 0 = ceil(sqrt(T)). Default: the config's maml_segment.")
    Integer segment;

    @Option(
            names = "--precision",
            paramLabel = "float32|float64",
            converter = Converters.PrecisionValue.class,
            description = "Parameter storage precision, and the dtype of the output. Default: the config's precision.")
    Precision precision;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "G.safetensors",
            description = "Where to write the gradient.")
    Path out;

    @Mixin
    EngineOptions engineOptions;

    @Override
    public Integer call() {
        Path configFile = config != null && Files.isRegularFile(Path.of(config)) ? Path.of(config) : null;
        Outputs.notAnInput("--out", out, "--init", init, "--tasks", tasks, "--config", configFile);
        Config cfg = Config.resolve(config);
        Algorithm a = algo != null ? algo : cfg.algorithm();
        Precision p = precision != null ? precision : cfg.precision();
        double alpha = innerLr != null ? innerLr : cfg.innerLr().init();
        if (!(alpha > 0)) throw new IllegalArgumentException("--inner-lr must be positive, got " + alpha);
        int k = segment != null ? segment : cfg.mamlSegment();
        var layout = cfg.model().layout();
        double[] theta = Checkpoint.read(init, false).params(layout);
        Checkpoint.requireFinite(init.toString(), layout, theta, "");
        if (p == Precision.FLOAT32) for (int i = 0; i < theta.length; i++) theta[i] = (float) theta[i];
        TaskBatch batch = TaskFile.read(tasks, cfg.model());
        EngineSettings base = EngineOptions.settings(cfg, engineOptions.threads);
        if (cfg.innerLr().learned())
            throw new IllegalArgumentException(
                    config + ": grad takes a fixed --inner-lr; the config's inner_lr is learned");
        EngineSettings s = new EngineSettings(base.model(), a, alpha, k, p, base.adam(), base.threads());
        double[] g = new double[theta.length];
        double[] nll;
        try (Engine engine = engineOptions.create(s)) {
            engine.setState(TrainState.fresh(theta));
            nll = engine.metaGradient(batch, g);
        }
        double mean = 0;
        for (double v : nll) mean += v;
        mean /= nll.length;
        if (!Double.isFinite(mean))
            throw new IllegalArgumentException("the inner loop diverges (mean NLL " + mean + ") at inner learning rate "
                    + alpha + ": no gradient is written; try a smaller --inner-lr");
        Checkpoint.requireFinite(
                cfg.model().isBaseline() ? "the gradient" : "the " + a.configName() + " meta-gradient", layout, g, "");
        Map<String, String> meta = new LinkedHashMap<>();
        // The lstm baseline's gradient is the plain one of the mean NLL: no inner loop, no algorithm.
        String what = cfg.model().isBaseline() ? "backprop" : a.configName();
        meta.put("algorithm", what);
        meta.put("inner_lr", Double.toString(alpha));
        meta.put("tasks", Integer.toString(batch.size()));
        meta.put("mean_nll", Double.toString(mean));
        meta.put("precision", p.configName());
        if (World.writes()) Checkpoint.writeParams(out, layout, g, p == Precision.FLOAT64, meta);
        System.err.printf(
                "%s gradient over %d tasks (mean NLL %.6f nats) written to %s%n", what, batch.size(), mean, out);
        return 0;
    }
}
