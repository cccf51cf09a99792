package org.reptilegen.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * Inputs read whole, up to a bound for their kind: a file larger than any input of that kind, or an
 * endless one (a device, a pipe), ends with the caller's one-line error at once instead of filling
 * the heap.
 */
public final class BoundedRead {
    private BoundedRead() {}

    /** Text inputs (a corpus, task files, metrics): far more than any run reads, well within a Java array. */
    public static final int TEXT = 256 << 20;
    /** A config: a few hundred bytes in practice. */
    public static final int CONFIG = 16 << 20;
    /** An IDX image file, after gunzip: 1.3 million images of 28 x 28, over 20 times MNIST's training set. */
    public static final int IDX = 1 << 30;

    /** The bytes of file, or tooLarge's exception when there are more than max (a regular file's size is known before reading). */
    public static byte[] read(Path file, int max, Supplier<? extends RuntimeException> tooLarge) throws IOException {
        if (Files.isRegularFile(file) && Files.size(file) > max) throw tooLarge.get();
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, max, tooLarge);
        }
    }

    /** The bytes of in, or tooLarge's exception when there are more than max. */
    public static byte[] read(InputStream in, int max, Supplier<? extends RuntimeException> tooLarge)
            throws IOException {
        byte[] data = in.readNBytes(max + 1);
        if (data.length > max) throw tooLarge.get();
        return data;
    }
}
