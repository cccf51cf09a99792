package org.reptilegen.task;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import org.reptilegen.util.BoundedRead;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.IoErrors;

/**
 * Reader for the IDX files of MNIST and Fashion-MNIST: a big-endian header (magic, then one
 * 32-bit size per dimension) followed by unsigned bytes. Files may be gzipped; that is told by
 * the gzip magic bytes 1f 8b, not by the file name, since renamed and unpacked copies are common.
 */
public final class Idx {
    public static final int IMAGES_MAGIC = 0x00000803;
    public static final int LABELS_MAGIC = 0x00000801;

    private Idx() {}

    /**
     * {@code count} grayscale images of rows x cols pixels. Image i's pixel (r, c) is
     * pixels[(i*rows + r)*cols + c], an unsigned byte 0..255.
     */
    public record Images(int count, int rows, int cols, byte[] pixels) {
        public Images {
            if ((long) count * rows * cols != pixels.length)
                throw new IllegalArgumentException(count + " images of " + rows + "x" + cols + " need "
                        + (long) count * rows * cols + " pixels, got " + pixels.length);
        }

        public int pixel(int i, int r, int c) {
            return pixels[(i * rows + r) * cols + c] & 0xFF;
        }
    }

    public static Images readImages(Path file) {
        Contents in = contents(file);
        in.checkMagic(IMAGES_MAGIC, "an image file", 16);
        int count = in.header(4), rows = in.header(8), cols = in.header(12);
        if (count < 0 || rows <= 0 || cols <= 0)
            throw new DataException(file + ": bad image dimensions " + count + " x " + rows + " x " + cols);
        in.checkLength(16, (long) count * rows * cols, count + " images of " + rows + "x" + cols);
        byte[] pixels = new byte[in.data.length - 16];
        System.arraycopy(in.data, 16, pixels, 0, pixels.length);
        return new Images(count, rows, cols, pixels);
    }

    /** Labels as unsigned values (0..9 for MNIST). */
    public static int[] readLabels(Path file) {
        Contents in = contents(file);
        in.checkMagic(LABELS_MAGIC, "a label file", 8);
        int count = in.header(4);
        if (count < 0) throw new DataException(file + ": bad label count " + count);
        in.checkLength(8, count, count + " labels");
        int[] labels = new int[count];
        for (int i = 0; i < count; i++) labels[i] = in.data[8 + i] & 0xFF;
        return labels;
    }

    /** Whether the data starts with the gzip magic bytes. */
    public static boolean isGzip(byte[] data) {
        return data.length >= 2 && (data[0] & 0xFF) == 0x1f && (data[1] & 0xFF) == 0x8b;
    }

    private static Contents contents(Path file) {
        byte[] raw;
        try {
            raw = BoundedRead.read(file, BoundedRead.IDX, () -> tooLarge(file, ""));
        } catch (NoSuchFileException e) {
            throw new DataException("IDX file not found: " + file);
        } catch (IOException e) {
            throw new DataException("cannot read IDX file " + file + ": " + IoErrors.why(e), e);
        }
        if (!isGzip(raw)) return new Contents(file, raw, false);
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
            return new Contents(
                    file, BoundedRead.read(in, BoundedRead.IDX, () -> tooLarge(file, " after gunzip")), true);
        } catch (IOException e) {
            // A download cut short ends here: the gzip stream stops before its trailer.
            throw new DataException(
                    file + ": unreadable gzip data (" + IoErrors.why(e)
                            + "); the file may be truncated or damaged, delete it and fetch it again",
                    e);
        }
    }

    private static DataException tooLarge(Path file, String after) {
        return new DataException(file + " is larger than " + Bytes.show(BoundedRead.IDX) + after
                + ", more than any image data set reptile-gen reads (" + (BoundedRead.IDX / (28 * 28))
                + " images of 28 x 28)");
    }

    /** A file's bytes, unpacked if they were gzipped. */
    private record Contents(Path file, byte[] data, boolean gzipped) {

        int header(int offset) {
            return ((data[offset] & 0xFF) << 24)
                    | ((data[offset + 1] & 0xFF) << 16)
                    | ((data[offset + 2] & 0xFF) << 8)
                    | (data[offset + 3] & 0xFF);
        }

        /** Sizes in messages are those after unpacking; say so, or they would not match ls. */
        String found() {
            return data.length + " bytes" + (gzipped ? " after gunzip" : "");
        }

        void checkMagic(int expected, String kind, int headerBytes) {
            if (data.length < 4)
                throw new DataException(
                        file + ": truncated, expected a header of " + headerBytes + " bytes, found " + found());
            int magic = header(0);
            if (magic != expected) {
                String hint = magic == IMAGES_MAGIC
                        ? ", that of an image file"
                        : magic == LABELS_MAGIC ? ", that of a label file" : "";
                throw new DataException(file + ": bad magic number " + hex(magic) + hint + "; expected " + hex(expected)
                        + " for " + kind);
            }
            if (data.length < headerBytes)
                throw new DataException(
                        file + ": truncated, expected a header of " + headerBytes + " bytes, found " + found());
        }

        void checkLength(int headerBytes, long body, String content) {
            long expected = headerBytes + body;
            if (data.length < expected)
                throw new DataException(
                        file + ": truncated, expected " + expected + " bytes (" + content + "), found " + found());
            if (data.length > expected)
                throw new DataException(
                        file + ": too long, expected " + expected + " bytes (" + content + "), found " + found());
        }
    }

    private static String hex(int v) {
        return String.format("0x%08X (%d)", v, v);
    }
}
