package org.reptilegen.task;

import java.nio.file.Path;
import org.reptilegen.config.Config;

/** Opens the task source a config describes: its text file or MNIST-format directory, one split. */
public final class TaskSources {
    private TaskSources() {}

    /** @param dataOverride a path given on the command line, or null for the config's (or the built-in default) */
    public static TaskSource open(Config cfg, String dataOverride, Split split, boolean download) {
        String data = dataOverride != null ? dataOverride : cfg.data();
        return switch (cfg.task()) {
            case TEXT -> TextTasks.load(data == null ? null : Path.of(data), cfg.maxLen(), split);
            case MNIST -> MnistTasks.load(Path.of(data == null ? Config.DEFAULT_MNIST_DATA : data), split,
                    cfg.order(), download);
        };
    }
}
