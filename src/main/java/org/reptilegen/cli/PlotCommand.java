package org.reptilegen.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.reptilegen.plot.LossPlot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "plot",
        description = "Draws the loss curve of a run's metrics.jsonl as a PNG.")
final class PlotCommand implements Callable<Integer> {
    @Option(
            names = "--metrics",
            required = true,
            paramLabel = "FILE",
            description = "A metrics.jsonl written by train.")
    Path metrics;

    @Option(names = "--out", required = true, paramLabel = "FILE.png", description = "The picture to write.")
    Path out;

    @Option(names = "--title", paramLabel = "TEXT", description = "Title. Default: the run directory's name.")
    String title;

    @Override
    public Integer call() {
        Outputs.notAnInput("--out", out, "--metrics", metrics);
        Path dir = metrics.toAbsolutePath().getParent();
        String t = title != null
                ? title
                : (dir != null && dir.getFileName() != null ? dir.getFileName().toString() : "loss");
        LossPlot.plot(metrics, out, t);
        System.err.println("wrote " + out);
        return 0;
    }
}
