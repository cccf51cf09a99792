package org.reptilegen.task;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.BoundedRead;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.IoErrors;
import org.reptilegen.util.Rng;

/**
 * Text tasks: one line of a UTF-8 file per task, as bytes. A line is cut to maxLen-1 bytes and
 * padded with byte 0 ("end of text") to exactly maxLen, so every task has T = maxLen steps and
 * the end marker is always trained on. x_t = [t], y_t = the byte as an unsigned value 0..255.
 *
 * <p>The line break is removed (a trailing '\r' too, for files written on Windows) and empty
 * lines are skipped. Among the remaining lines, number i is held out for the test split when
 * i % 10 == 9; the rest form the training split.
 */
public final class TextTasks implements TaskSource {

    public static final int DEFAULT_MAX_LEN = 128;
    /** The corpus shipped inside the jar, used when no file is given. */
    public static final String BUILT_IN = "corpus/dir_listing.txt";

    private final String source;
    private final int maxLen;
    private final int count;
    /** Task i's bytes are bytes[i*maxLen .. (i+1)*maxLen), already cut and padded. */
    private final byte[] bytes;

    private TextTasks(String source, int maxLen, List<byte[]> lines) {
        this.source = source;
        this.maxLen = maxLen;
        this.count = lines.size();
        this.bytes = new byte[count * maxLen];
        for (int i = 0; i < count; i++) {
            byte[] line = lines.get(i);
            System.arraycopy(line, 0, bytes, i * maxLen, Math.min(line.length, maxLen - 1));
        }
    }

    /** The split of a text file; {@code file == null} means the built-in corpus. */
    public static TextTasks load(Path file, int maxLen, Split split) {
        if (file == null) return loadBuiltIn(maxLen, split);
        byte[] data;
        try {
            data = BoundedRead.read(
                    file,
                    BoundedRead.TEXT,
                    () -> new DataException(
                            file + " is larger than " + Bytes.show(BoundedRead.TEXT)
                                    + ", more than a text corpus for reptile-gen holds (each line is one task of at most max_len bytes): use a sample of its lines"));
        } catch (NoSuchFileException e) {
            throw new DataException("text file not found: " + file);
        } catch (IOException e) {
            throw new DataException("cannot read text file " + file + ": " + IoErrors.why(e), e);
        }
        return fromBytes(file.toString(), data, maxLen, split);
    }

    /** The split of the corpus shipped inside the jar. */
    public static TextTasks loadBuiltIn(int maxLen, Split split) {
        String name = "built-in corpus " + BUILT_IN;
        try (InputStream in = TextTasks.class.getClassLoader().getResourceAsStream(BUILT_IN)) {
            if (in == null) throw new DataException(name + " is missing from the class path");
            return fromBytes(name, in.readAllBytes(), maxLen, split);
        } catch (IOException e) {
            throw new DataException("cannot read " + name + ": " + IoErrors.why(e), e);
        }
    }

    /**
     * The split of a file's contents; {@code source} names the file in messages. The bytes are
     * split on '\n' without decoding, so invalid UTF-8 passes through unchanged.
     */
    public static TextTasks fromBytes(String source, byte[] data, int maxLen, Split split) {
        checkMaxLen(maxLen);
        List<byte[]> all = lines(data);
        if (all.isEmpty()) throw new DataException(source + " has no non-empty lines");
        List<byte[]> chosen = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) if ((i % 10 == 9) == (split == Split.TEST)) chosen.add(all.get(i));
        if (chosen.isEmpty())
            throw new DataException(
                    source + " has only " + all.size()
                            + " non-empty lines; the test split holds out every 10th line, so it is empty: give at least 10 lines, or set eval_tasks: 0");
        return new TextTasks(source, maxLen, chosen);
    }

    /** The lines of a file's contents that hold more than white space, line breaks removed. */
    static List<byte[]> lines(byte[] data) {
        List<byte[]> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= data.length; i++) {
            if (i < data.length && data[i] != '\n') continue;
            int end = i;
            if (end > start && data[end - 1] == '\r') end--;
            boolean blank = true;
            for (int k = start; k < end && blank; k++)
                blank = data[k] == ' ' || data[k] == '\t' || data[k] == '\f' || data[k] == 0x0b;
            if (end > start && !blank) {
                byte[] line = new byte[end - start];
                System.arraycopy(data, start, line, 0, line.length);
                out.add(line);
            }
            start = i + 1;
        }
        return out;
    }

    /**
     * A line's UTF-8 bytes as a task's targets: the first maxLen-1 bytes (unsigned), then zeros up
     * to maxLen. The cut may split a multi-byte character; the model sees bytes, not characters.
     */
    public static int[] encode(String line, int maxLen) {
        return encode(line.getBytes(StandardCharsets.UTF_8), maxLen);
    }

    public static int[] encode(byte[] line, int maxLen) {
        checkMaxLen(maxLen);
        int[] y = new int[maxLen];
        int n = Math.min(line.length, maxLen - 1);
        for (int t = 0; t < n; t++) y[t] = line[t] & 0xFF;
        return y;
    }

    /**
     * Targets back to text: the bytes before the first 0, decoded as UTF-8 (a split character at
     * the end becomes U+FFFD).
     */
    public static String decode(int[] y) {
        int n = 0;
        while (n < y.length && y[n] != 0) n++;
        byte[] b = new byte[n];
        for (int t = 0; t < n; t++) b[t] = (byte) y[t];
        return new String(b, StandardCharsets.UTF_8);
    }

    private static void checkMaxLen(int maxLen) {
        if (maxLen < 2)
            throw new DataException("max_len = " + maxLen + ": it must be at least 2 (one byte and the end marker)");
    }

    /** Where the lines came from: a path, or the built-in corpus's name. */
    public String source() {
        return source;
    }

    public int maxLen() {
        return maxLen;
    }

    /** Task i's targets y_0..y_{T-1}. */
    public int[] line(int i) {
        if (i < 0 || i >= count) throw new IndexOutOfBoundsException("line " + i + " of " + count);
        int[] y = new int[maxLen];
        for (int t = 0; t < maxLen; t++) y[t] = bytes[i * maxLen + t] & 0xFF;
        return y;
    }

    @Override
    public TaskKind kind() {
        return TaskKind.TEXT;
    }

    @Override
    public int size() {
        return count;
    }

    @Override
    public int steps() {
        return maxLen;
    }

    @Override
    public TaskBatch draw(Rng rng, int batch) {
        if (batch < 0) throw new IllegalArgumentException("batch = " + batch);
        int[] index = new int[batch];
        for (int b = 0; b < batch; b++) index[b] = rng.nextInt(count);
        return batch(index);
    }

    @Override
    public TaskBatch range(int from, int count) {
        checkRange(from, count);
        int[] index = new int[count];
        for (int b = 0; b < count; b++) index[b] = from + b;
        return batch(index);
    }

    private void checkRange(int from, int n) {
        if (from < 0 || n < 0 || (long) from + n > count)
            throw new DataException("lines " + from + ".." + ((long) from + n - 1) + " requested but " + source
                    + " has " + count + " in this split");
    }

    private TaskBatch batch(int[] index) {
        int[][][] x = new int[index.length][maxLen][];
        int[][] y = new int[index.length][];
        for (int b = 0; b < index.length; b++) {
            for (int t = 0; t < maxLen; t++) x[b][t] = new int[] {t};
            y[b] = line(index[b]);
        }
        return new TaskBatch(TaskKind.TEXT, x, y);
    }
}
