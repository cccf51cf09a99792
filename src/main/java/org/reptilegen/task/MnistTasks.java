package org.reptilegen.task;

import java.nio.file.Path;
import org.reptilegen.core.PixelOrder;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/**
 * Binarized image tasks (MNIST, Fashion-MNIST): one image per task, one pixel per step.
 * x_t = [row, col] of the pixel visited at step t; y_t = 1 when pixel/255 >= 0.5, else 0.
 * T = rows * cols.
 *
 * <p>Pixels are visited in raster order (row-major) or in a random order, a fresh permutation
 * per task. In {@link #draw} the permutation comes from the caller's rng, right after the task's
 * index. In {@link #range} task i's permutation is {@code Rng.of(RANGE_ORDER_SEED,
 * Rng.STREAM_ORDER, i).permutation(T)}: fixed per image, so evaluations of different models or
 * runs score the same sequences.
 */
public final class MnistTasks implements TaskSource {

    /** Seed of the per-index pixel orders used by {@link #range}. */
    public static final long RANGE_ORDER_SEED = 0L;

    private final String source;
    private final Idx.Images images;
    private final PixelOrder order;

    public MnistTasks(String source, Idx.Images images, PixelOrder order) {
        if (images.count() == 0) throw new DataException(source + " holds no images");
        this.source = source;
        this.images = images;
        this.order = order;
    }

    /**
     * The images of a split found in {@code dir} (see {@link MnistFiles}); missing MNIST files are
     * downloaded first when {@code download} is true.
     */
    public static MnistTasks load(Path dir, Split split, PixelOrder order, boolean download) {
        return load(dir, split, order, MnistFiles.Dataset.MNIST, download);
    }

    /** As above; {@code dataset} decides what a download fetches (progress goes to stderr). */
    public static MnistTasks load(
            Path dir, Split split, PixelOrder order, MnistFiles.Dataset dataset, boolean download) {
        Path file = MnistFiles.images(dir, split, dataset, download, System.err::println);
        return new MnistTasks(file.toString(), Idx.readImages(file), order);
    }

    /** The binary target of a pixel value 0..255. */
    public static int binarize(int pixel) {
        return pixel / 255.0 >= 0.5 ? 1 : 0;
    }

    public String source() {
        return source;
    }

    public PixelOrder order() {
        return order;
    }

    public int rows() {
        return images.rows();
    }

    public int cols() {
        return images.cols();
    }

    public Idx.Images images() {
        return images;
    }

    /** Image i binarized, row-major. */
    public int[] binaryImage(int i) {
        int n = steps();
        int[] y = new int[n];
        for (int p = 0; p < n; p++) y[p] = binarize(images.pixels()[i * n + p] & 0xFF);
        return y;
    }

    @Override
    public TaskKind kind() {
        return TaskKind.MNIST;
    }

    @Override
    public int size() {
        return images.count();
    }

    @Override
    public int steps() {
        return images.rows() * images.cols();
    }

    @Override
    public TaskBatch draw(Rng rng, int batch) {
        if (batch < 0) throw new IllegalArgumentException("batch = " + batch);
        int[][][] x = new int[batch][][];
        int[][] y = new int[batch][];
        for (int b = 0; b < batch; b++) {
            int i = rng.nextInt(size());
            int[] visit = order == PixelOrder.RANDOM ? rng.permutation(steps()) : null;
            fill(i, visit, x, y, b);
        }
        return new TaskBatch(TaskKind.MNIST, x, y);
    }

    @Override
    public TaskBatch range(int from, int count) {
        if (from < 0 || count < 0 || (long) from + count > size())
            throw new DataException("images " + from + ".." + ((long) from + count - 1) + " requested but " + source
                    + " has " + size());
        int[][][] x = new int[count][][];
        int[][] y = new int[count][];
        for (int b = 0; b < count; b++) {
            int i = from + b;
            int[] visit = order == PixelOrder.RANDOM ? rangeOrder(i) : null;
            fill(i, visit, x, y, b);
        }
        return new TaskBatch(TaskKind.MNIST, x, y);
    }

    /** The pixel order {@link #range} uses for image i under random order. */
    public int[] rangeOrder(int i) {
        return Rng.of(RANGE_ORDER_SEED, Rng.STREAM_ORDER, i).permutation(steps());
    }

    /** Task b of a batch: image i with pixels visited in order {@code visit} (null: raster). */
    private void fill(int i, int[] visit, int[][][] x, int[][] y, int b) {
        int n = steps(), cols = images.cols();
        byte[] pixels = images.pixels();
        x[b] = new int[n][];
        y[b] = new int[n];
        for (int t = 0; t < n; t++) {
            int p = visit == null ? t : visit[t];
            x[b][t] = new int[] {p / cols, p % cols};
            y[b][t] = binarize(pixels[i * n + p] & 0xFF);
        }
    }
}
