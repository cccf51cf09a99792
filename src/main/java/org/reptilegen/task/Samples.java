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
            for (int t = 0; t < maxLen; t++) p[t] = new int[] {t};
            return p;
        }
        int[][] p = new int[SIDE * SIDE][];
        for (int t = 0; t < p.length; t++) p[t] = new int[] {t / SIDE, t % SIDE};
        return p;
    }

    /** Text samples as lines (bytes up to the first 0, read as UTF-8). */
    public static List<String> lines(int[][] samples) {
        List<String> out = new ArrayList<>();
        for (int[] s : samples) out.add(TextTasks.decode(s));
        return out;
    }

    /** Image pixels per sampled pixel in the PNG grid. */
    private static final int SCALE = 4;

    /**
     * The most images one PNG grid holds: 140 a side, 16,244 pixels (29 image pixels of 4 each, with the
     * gap), about as large as image viewers and writers take.
     */
    public static final int MAX_IMAGES = 140 * 140;

    /** Refuses, before anything is drawn, more images than one PNG grid holds; option names the count. */
    public static void requireOnePicture(int count, String option) {
        if (count > MAX_IMAGES)
            throw new IllegalArgumentException(
                    option + " " + count + ": one PNG grid holds at most " + MAX_IMAGES + " images ("
                            + (int) Math.sqrt(MAX_IMAGES) + " a side); draw several with different --seed values");
    }

    /** Image samples as a PNG grid. */
    public static void writeImages(Path png, int[][] samples) throws IOException {
        requireOnePicture(samples.length, "samples");
        ImageGrid.write(png, samples, SIDE, SIDE, (int) Math.ceil(Math.sqrt(samples.length)), SCALE);
    }
}
