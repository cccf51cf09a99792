package org.reptilegen.checkpoint;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Predicate;
import org.reptilegen.util.AtomicFiles;
import org.reptilegen.util.IoErrors;

/**
 * The safetensors file format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
 * the data section) plus an optional "__metadata__" object of strings, then the tensors'
 * little-endian bytes packed without gaps.
 *
 * <p>Values are held as double[] whatever the dtype on disk; F32 and F64 can be written and
 * loaded. The other standard dtypes are recognised so that a header can be listed and validated,
 * but their data cannot be loaded.
 */
public final class Safetensors {

    public static final String F32 = "F32";
    public static final String F64 = "F64";

    /** The reference reader refuses larger headers; refusing them too avoids a huge allocation on a corrupt length. */
    static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA_KEY = "__metadata__";
    /** Bytes per read or write call: large enough for throughput, small enough to allocate once per file without thought. */
    private static final int CHUNK_BYTES = 1 << 20;

    private static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private Safetensors() {}

    /**
     * A tensor to write or one that was read: elements {@code data[offset .. offset + numel)} in
     * row-major order. Tensors read from a file always have offset 0 and an array of exactly numel
     * elements; the offset lets a writer take tensors straight out of one flat vector without copying.
     */
    public record Tensor(String dtype, long[] shape, double[] data, int offset) {
        public Tensor {
            Objects.requireNonNull(dtype, "dtype");
            Objects.requireNonNull(shape, "shape");
            Objects.requireNonNull(data, "data");
            if (!F32.equals(dtype) && !F64.equals(dtype))
                throw new IllegalArgumentException("dtype " + dtype + " cannot be written; use F32 or F64");
            shape = shape.clone();
            long n = Safetensors.numel(shape, "tensor");
            if (offset < 0 || offset + n > data.length)
                throw new IllegalArgumentException("tensor of shape " + Safetensors.shapeString(shape)
                        + " needs elements [" + offset + ", " + (offset + n) + ") but its array has " + data.length);
        }

        /** A tensor owning all of {@code data}. */
        public Tensor(String dtype, long[] shape, double[] data) {
            this(dtype, shape, data, 0);
            if (numel() != data.length)
                throw new IllegalArgumentException("tensor of shape " + Safetensors.shapeString(shape) + " has "
                        + numel() + " elements but its array has " + data.length);
        }

        /** A tensor with an int shape, as {@link org.reptilegen.model.ParamLayout} has them. */
        public static Tensor of(String dtype, int[] shape, double[] data, int offset) {
            return new Tensor(dtype, toLong(shape), data, offset);
        }

        public int numel() {
            return (int) Safetensors.numel(shape, "tensor");
        }

        /** The values as an array of exactly numel elements (the backing array itself when it is one). */
        public double[] values() {
            int n = numel();
            if (offset == 0 && data.length == n) return data;
            double[] out = new double[n];
            System.arraycopy(data, offset, out, 0, n);
            return out;
        }

        public String shapeString() {
            return Safetensors.shapeString(shape);
        }
    }

    /** One entry of a file's header; begin and end are byte offsets into the data section. */
    public record TensorInfo(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() {
            return Safetensors.numel(shape, name);
        }

        public String shapeString() {
            return Safetensors.shapeString(shape);
        }
    }

    /** A validated header: metadata and every tensor's entry in the order of their data. */
    public record Header(Path path, Map<String, String> metadata, List<TensorInfo> tensors, long dataStart) {
        /** The entry named {@code name}, or null. */
        public TensorInfo tensor(String name) {
            for (TensorInfo t : tensors) if (t.name().equals(name)) return t;
            return null;
        }
    }

    /**
     * What {@link #read} loaded: the header's index of all tensors, and the loaded tensors by name
     * in the order of their data.
     */
    public record Contents(
            Path path, Map<String, String> metadata, List<TensorInfo> index, Map<String, Tensor> tensors) {}

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code tensors} (in map order) and {@code metadata} (may be null) to {@code path}.
     * The file appears complete or not at all: it is written to a temporary file in the same
     * directory, synced, and renamed over the target.
     */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        byte[] header = header(tensors, metadata);
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir))
            throw new CheckpointException("cannot write " + path + ": directory " + dir + " does not exist");
        try {
            AtomicFiles.write(target, tmp -> {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                    ByteBuffer len = ByteBuffer.allocate(8)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putLong(0, header.length);
                    writeFully(ch, len);
                    writeFully(ch, ByteBuffer.wrap(header));
                    ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                    float[] scratch = new float[CHUNK_BYTES / 4];
                    for (Tensor t : tensors.values()) writeData(ch, t, buf, scratch);
                    ch.force(true);
                }
            });
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + path + ": " + IoErrors.why(e), e);
        }
    }

    /** The JSON header, padded with spaces to a multiple of 8 bytes as the reference writer does. */
    static byte[] header(Map<String, Tensor> tensors, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = root.putObject(METADATA_KEY);
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null)
                    throw new IllegalArgumentException(
                            "metadata key and value must not be null (key " + e.getKey() + ")");
                m.put(e.getKey(), e.getValue());
            }
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            if (name == null || name.equals(METADATA_KEY))
                throw new IllegalArgumentException("invalid tensor name " + name);
            Tensor t = e.getValue();
            ObjectNode o = root.putObject(name);
            o.put("dtype", t.dtype());
            ArrayNode shape = o.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            long end = offset + t.numel() * (long) elementSize(t.dtype());
            o.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a safetensors header", e);
        }
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        for (int i = json.length; i < padded; i++) out[i] = ' ';
        return out;
    }

    private static void writeData(FileChannel ch, Tensor t, ByteBuffer buf, float[] scratch) throws IOException {
        int size = elementSize(t.dtype());
        int perChunk = CHUNK_BYTES / size;
        double[] d = t.data();
        int n = t.numel();
        for (int done = 0; done < n; ) {
            int k = Math.min(perChunk, n - done);
            buf.clear();
            if (size == 8) {
                buf.asDoubleBuffer().put(d, t.offset() + done, k);
            } else {
                int from = t.offset() + done;
                for (int i = 0; i < k; i++) scratch[i] = (float) d[from + i];
                buf.asFloatBuffer().put(scratch, 0, k);
            }
            buf.position(0).limit(k * size);
            writeFully(ch, buf);
            done += k;
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    // ---------------------------------------------------------------- reading

    /** Reads every tensor of the file. */
    public static Contents read(Path path) {
        return read(path, name -> true);
    }

    /**
     * Reads the tensors whose names {@code include} accepts; the whole header is validated either
     * way. Loading a tensor whose dtype is not F32 or F64 fails.
     */
    public static Contents read(Path path, Predicate<String> include) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Header h = parseHeader(path, ch);
            Map<String, Tensor> out = new LinkedHashMap<>();
            ByteBuffer buf = null;
            float[] scratch = null;
            for (TensorInfo t : h.tensors()) {
                if (!include.test(t.name())) continue;
                if (!F32.equals(t.dtype()) && !F64.equals(t.dtype()))
                    throw fail(
                            path,
                            "tensor " + t.name() + " has dtype " + t.dtype() + "; only F32 and F64 can be loaded");
                if (t.numel() > MAX_ARRAY)
                    throw fail(path, "tensor " + t.name() + " has " + t.numel() + " elements, too many for one array");
                if (buf == null) {
                    buf = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                    scratch = new float[CHUNK_BYTES / 4];
                }
                double[] data = new double[(int) t.numel()];
                readData(path, ch, h.dataStart() + t.begin(), t, data, buf, scratch);
                out.put(t.name(), new Tensor(t.dtype(), t.shape(), data));
            }
            return new Contents(path, h.metadata(), h.tensors(), Collections.unmodifiableMap(out));
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + path + ": " + IoErrors.why(e), e);
        }
    }

    /** Reads and validates the header only: names, dtypes, shapes and metadata, without the data. */
    public static Header readHeader(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return parseHeader(path, ch);
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + path + ": " + IoErrors.why(e), e);
        }
    }

    private static void readData(
            Path path, FileChannel ch, long start, TensorInfo t, double[] data, ByteBuffer buf, float[] scratch)
            throws IOException {
        int size = elementSize(t.dtype());
        int perChunk = CHUNK_BYTES / size;
        long pos = start;
        for (int done = 0; done < data.length; ) {
            int k = Math.min(perChunk, data.length - done);
            buf.clear().limit(k * size);
            while (buf.hasRemaining()) {
                if (ch.read(buf, pos + buf.position()) < 0)
                    throw fail(path, "truncated: the file ends inside tensor " + t.name());
            }
            buf.flip();
            if (size == 8) {
                buf.asDoubleBuffer().get(data, done, k);
            } else {
                buf.asFloatBuffer().get(scratch, 0, k);
                for (int i = 0; i < k; i++) data[done + i] = scratch[i];
            }
            pos += (long) k * size;
            done += k;
        }
    }

    private static Header parseHeader(Path path, FileChannel ch) throws IOException {
        long fileSize = ch.size();
        if (fileSize < 8)
            throw fail(path, "not a safetensors file: " + fileSize + " bytes, shorter than the 8-byte header length");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(path, ch, lenBuf, 0);
        long n = lenBuf.getLong(0);
        if (n < 0 || n > fileSize - 8)
            throw fail(
                    path,
                    "not a safetensors file: header length " + Long.toUnsignedString(n) + " is larger than the file ("
                            + fileSize + " bytes)");
        if (n > MAX_HEADER_BYTES)
            throw fail(path, "header of " + n + " bytes is over the " + MAX_HEADER_BYTES + "-byte limit");
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readFully(path, ch, hb, 8);

        JsonNode root;
        try {
            root = JSON.readTree(hb.array());
        } catch (JsonProcessingException e) {
            throw fail(path, "header is not valid JSON: " + IoErrors.oneLine(e.getOriginalMessage()));
        }
        if (root == null || !root.isObject()) throw fail(path, "header is not a JSON object");

        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals(METADATA_KEY)) {
                if (!v.isObject()) throw fail(path, METADATA_KEY + " is not a JSON object");
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual())
                        throw fail(path, METADATA_KEY + " entry " + kv.getKey() + " is not a string");
                    metadata.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            tensors.add(parseEntry(path, name, v));
        }

        // Order by data; the header's key order need not follow it (the reference writer sorts keys by name).
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expect = 0;
        String previous = null;
        for (TensorInfo t : tensors) {
            if (t.begin() < expect)
                throw fail(
                        path,
                        "tensor " + t.name() + " (data_offsets [" + t.begin() + ", " + t.end() + "]) overlaps tensor "
                                + previous);
            if (t.begin() > expect)
                throw fail(path, "gap of " + (t.begin() - expect) + " bytes in the data before tensor " + t.name());
            expect = t.end();
            previous = t.name();
        }
        long dataLen = fileSize - 8 - n;
        if (dataLen < expect)
            throw fail(path, "truncated: the tensors need " + expect + " bytes of data but the file has " + dataLen);
        if (dataLen > expect) throw fail(path, (dataLen - expect) + " bytes of unexpected data after the last tensor");
        return new Header(path, Collections.unmodifiableMap(metadata), List.copyOf(tensors), 8 + n);
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode v) {
        if (!v.isObject()) throw fail(path, "tensor " + name + ": its header entry is not a JSON object");
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw fail(path, "tensor " + name + " has no dtype");
        String dtype = dt.textValue();
        int size = elementSize(dtype);
        if (size < 0) throw fail(path, "tensor " + name + " has unknown dtype " + dtype);

        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw fail(path, "tensor " + name + " has no shape");
        long[] shape = new long[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(sh.get(i));
            if (shape[i] < 0) throw fail(path, "tensor " + name + " has an invalid shape " + sh);
        }

        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2)
            throw fail(path, "tensor " + name + " needs data_offsets [begin, end]");
        long begin = nonNegativeLong(off.get(0));
        long end = nonNegativeLong(off.get(1));
        if (begin < 0 || end < 0 || end < begin)
            throw fail(path, "tensor " + name + " has invalid data_offsets " + off);

        long bytes;
        try {
            long numel = 1;
            for (long d : shape) numel = Math.multiplyExact(numel, d);
            bytes = Math.multiplyExact(numel, size);
        } catch (ArithmeticException e) {
            throw fail(path, "tensor " + name + " has a shape too large to address " + sh);
        }
        if (end - begin != bytes)
            throw fail(
                    path,
                    "tensor " + name + ": data_offsets [" + begin + ", " + end + "] hold " + (end - begin)
                            + " bytes but shape " + shapeString(shape) + " of " + dtype + " needs " + bytes);
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(JsonNode n) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) return -1;
        long x = n.longValue();
        return x < 0 ? -1 : x;
    }

    private static void readFully(Path path, FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf, pos + buf.position()) < 0) throw fail(path, "truncated: the file ends early");
        }
    }

    // ---------------------------------------------------------------- helpers

    /** Bytes per element of a safetensors dtype, or -1 for an unknown one. */
    static int elementSize(String dtype) {
        return switch (dtype) {
            case "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3" -> 1;
            case "I16", "U16", "F16", "BF16" -> 2;
            case "I32", "U32", "F32" -> 4;
            case "I64", "U64", "F64" -> 8;
            default -> -1;
        };
    }

    static long[] toLong(int[] shape) {
        long[] s = new long[shape.length];
        for (int i = 0; i < shape.length; i++) s[i] = shape[i];
        return s;
    }

    static long numel(long[] shape, String what) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException(what + " has a negative dimension in " + shapeString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    static String shapeString(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(shape[i]);
        }
        return sb.append(']').toString();
    }

    private static CheckpointException fail(Path path, String message) {
        return new CheckpointException(path + ": " + message);
    }

    /** A one-line reason for an I/O failure; the JDK's messages are often just the path. */
}
