package org.reptilegen.task;

import java.nio.file.Files;
import java.nio.file.Path;
import org.reptilegen.config.Config;

/** Opens the task source a config describes: its text file or MNIST-format directory, one split. */
public final class TaskSources {
    private TaskSources() {}

    /** @param dataOverride a path given on the command line, or null for the config's (or the built-in default) */
    public static TaskSource open(Config cfg, String dataOverride, Split split, boolean download) {
        String data = dataOverride != null ? dataOverride : cfg.data();
        if (data != null) requireKind(Path.of(data), cfg.task());
        return switch (cfg.task()) {
            case TEXT -> TextTasks.load(data == null ? null : Path.of(data), cfg.maxLen(), split);
            case MNIST ->
                fitting(MnistTasks.load(
                        Path.of(data == null ? Config.DEFAULT_MNIST_DATA : data), split, cfg.order(), download));
        };
    }

    /** A text model reads a file, an image model a directory: the other one is said at once, not as a failure to read or download. */
    private static void requireKind(Path data, org.reptilegen.model.TaskKind task) {
        boolean text = task == org.reptilegen.model.TaskKind.TEXT;
        if (text && Files.isDirectory(data))
            throw new DataException(data + " is a directory; a text model's data is a text file, one task per line");
        if (!text && Files.exists(data) && !Files.isDirectory(data))
            throw new DataException(
                    data + " is a file; an image model's data is a directory holding train-images-idx3-ubyte[.gz] and "
                            + "t10k-images-idx3-ubyte[.gz]");
    }

    /**
     * Images the models can take: every model reads pixel positions of a 28 x 28 grid (its embedding
     * tables, its samples' grid), so another size is refused now, naming the file and both sizes, not deep
     * inside training (or after it, when only the test images differ).
     */
    private static MnistTasks fitting(MnistTasks t) {
        int side = org.reptilegen.model.TaskKind.IMAGE_SIDE;
        if (t.rows() != side || t.cols() != side)
            throw new DataException(t.source() + " holds " + t.rows() + " x " + t.cols() + " images; the models take "
                    + side + " x " + side + " (MNIST's size)");
        return t;
    }
}
