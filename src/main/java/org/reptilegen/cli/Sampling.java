package org.reptilegen.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.reptilegen.config.Config;
import org.reptilegen.engine.Engine;
import org.reptilegen.model.TaskKind;
import org.reptilegen.task.Samples;

/** Draws samples with an engine and writes them: text lines, or a PNG grid of images. */
final class Sampling {
    private Sampling() {}

    record Result(int[][] sequences, List<String> lines) {}

    /**
     * Refuses, before anything is computed, count samples that the heap cannot hold or (images) one PNG
     * cannot show: option names the count in the message.
     */
    static void requireFits(Engine engine, Config cfg, int count, String option) {
        Heap.requireFits(engine, count, cfg.taskLength(), option);
        if (cfg.task() == TaskKind.MNIST) Samples.requireOnePicture(count, option);
    }

    static Result draw(Engine engine, Config cfg, int count, double temperature, long seed) {
        boolean text = cfg.task() == TaskKind.TEXT;
        int[][] positions = Samples.positions(cfg.task(), cfg.maxLen());
        int[][] seqs = engine.sample(positions, count, temperature, seed, text);
        return new Result(seqs, text ? Samples.lines(seqs) : null);
    }

    static void write(Result r, Path file) throws IOException {
        if (r.lines() != null) TrainCommand.writeAtomically(file, String.join("\n", r.lines()) + "\n");
        else Samples.writeImages(file, r.sequences());
    }
}
