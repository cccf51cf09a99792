package org.reptilegen.task;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.reptilegen.model.TaskKind;
import org.reptilegen.plot.ImageGrid;

/** Where samples are drawn (the x_t of README, The math, 5) and how they are shown. */
public final class Samples {
    /** Sampled images are 28 x 28, the size the reference models embed. */
    public static final int SIDE = TaskKind.IMAGE_SIDE;

    private Samples() {}

    /** x_t for t = 0..T-1: [t] for text (T = max_len), [row, col] in raster order for images. */
    public static int[][] positions(TaskKind kind, int maxLen) {
        if (kind == TaskKind.TEXT) {
            int[][] p = new int[maxLen][];
            for (int t = 0; t < maxLen; t++) p[t] = new int[]{t};
            return p;
        }
        int[][] p = new int[SIDE * SIDE][];
        for (int t = 0; t < p.length; t++) p[t] = new int[]{t / SIDE, t % SIDE};
        return p;
    }

    /** Text samples as lines (bytes up to the first 0, read as UTF-8). */
    public static List<String> lines(int[][] samples) {
        List<String> out = new ArrayList<>();
        for (int[] s : samples) out.add(TextTasks.decode(s));
        return out;
    }

    /** Image samples as a PNG grid. */
    public static void writeImages(Path png, int[][] samples) throws IOException {
        ImageGrid.write(png, samples, SIDE, SIDE, (int) Math.ceil(Math.sqrt(samples.length)), 4);
    }
}
