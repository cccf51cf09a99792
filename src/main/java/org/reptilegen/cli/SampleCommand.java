package org.reptilegen.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.dist.World;
import org.reptilegen.engine.Engine;
import org.reptilegen.model.TaskKind;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "sample",
        sortOptions = false,
        description = {
            "Draws samples from a trained model: y_t from the model's prediction, then an SGD step on it.",
            "Text models print lines (a line ends at byte 0); image models write a PNG grid."
        })
final class SampleCommand implements Callable<Integer> {
    @Option(
            names = "--checkpoint",
            required = true,
            paramLabel = "FILE",
            description = "A training checkpoint (.safetensors).")
    Path checkpoint;

    @Option(
            names = "--count",
            paramLabel = "N",
            defaultValue = "16",
            converter = Converters.PositiveCount.class,
            description = "How many samples. Default: ${DEFAULT-VALUE}.")
    int count;

    @Option(
            names = "--temperature",
            paramLabel = "T",
            defaultValue = "1.0",
            converter = Converters.PositiveNumber.class,
            description = "Divides the logits before drawing; below 1 is more conservative. Default: ${DEFAULT-VALUE}.")
    double temperature;

    @Option(
            names = "--seed",
            paramLabel = "S",
            defaultValue = "0",
            description = "Random seed; the same seed gives the same samples. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(
            names = "--out",
            paramLabel = "FILE",
            description =
                    "Where to write: text lines (default: standard output) or the PNG grid (default: samples.png).")
    Path out;

    @Mixin
    EngineOptions engineOptions;

    @Override
    public Integer call() throws Exception {
        Outputs.notAnInput("--out", out, "--checkpoint", checkpoint);
        TrainingCheckpoint c = TrainingCheckpoint.read(checkpoint, false);
        try (Engine engine = engineOptions.create(c.config())) {
            engine.setState(c.state());
            Sampling.requireFits(engine, c.config(), count, "--count");
            Sampling.Result r = Sampling.draw(engine, c.config(), count, temperature, seed);
            if (c.config().task() == TaskKind.TEXT && out == null) {
                for (String line : r.lines()) System.out.println(line);
            } else {
                Path file = out != null ? out : Path.of("samples.png");
                if (World.writes()) Sampling.write(r, file);
                System.err.println("wrote " + count + " samples to " + file);
            }
        }
        return 0;
    }
}
