package org.reptilegen.util;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Files that appear complete or not at all: written to a temporary file in the same directory,
 * then renamed over the target, so a crash or Ctrl-C never leaves half a checkpoint or picture.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes the content of a file to the path it is given. */
    public interface Content {
        void writeTo(Path tmp) throws IOException;
    }

    /** Writes {@code target} through a temporary sibling; the target's directory must exist. */
    public static void write(Path target, Content content) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new IOException("directory " + dir + " does not exist");
        Path tmp = dir.resolve("." + abs.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            content.writeTo(tmp);
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            moved = true;
            syncDirectory(dir);
        } finally {
            if (!moved) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that error is the one to report
                }
            }
        }
    }

    /** Whether a file name is one of write's temporaries (".NAME.HEX.tmp"), which a killed process may leave. */
    public static boolean isTemporary(String fileName) {
        return fileName.matches("\\..+\\.[0-9a-f]+\\.tmp");
    }

    /** Makes the rename durable where the file system allows it; best effort elsewhere. */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not every file system can sync a directory
        }
    }
}
