package org.reptilegen.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

    @TempDir
    Path dir;

    private static Map<String, Safetensors.Tensor> sample(String dtype) {
        Map<String, Safetensors.Tensor> m = new LinkedHashMap<>();
        m.put("w", new Safetensors.Tensor(dtype, new long[] {2, 3}, new double[] {0.1, -2.5, 3e-9, 1e10, Math.PI, 0}));
        m.put("b", new Safetensors.Tensor(dtype, new long[] {1}, new double[] {-0.333333333333}));
        m.put("empty", new Safetensors.Tensor(dtype, new long[] {0, 4}, new double[0]));
        m.put("scalar", new Safetensors.Tensor(dtype, new long[] {}, new double[] {7.25}));
        return m;
    }

    @Test
    void f64RoundTripIsExact() {
        Path p = dir.resolve("a.safetensors");
        Map<String, Safetensors.Tensor> in = sample(Safetensors.F64);
        Safetensors.write(p, in, Map.of("step", "12", "note", "ünïcode ✓"));
        Safetensors.Contents c = Safetensors.read(p);
        assertEquals(
                List.of("w", "b", "empty", "scalar"), List.copyOf(c.tensors().keySet()));
        for (String name : in.keySet()) {
            Safetensors.Tensor a = in.get(name), b = c.tensors().get(name);
            assertEquals("F64", b.dtype());
            assertArrayEquals(a.shape(), b.shape(), name);
            assertArrayEquals(a.data(), b.data(), 0.0, name);
        }
        assertEquals(Map.of("step", "12", "note", "ünïcode ✓"), c.metadata());
    }

    @Test
    void f32RoundTripRoundsToFloat() {
        Path p = dir.resolve("a.safetensors");
        Map<String, Safetensors.Tensor> in = sample(Safetensors.F32);
        Safetensors.write(p, in, null);
        Safetensors.Contents c = Safetensors.read(p);
        assertTrue(c.metadata().isEmpty());
        for (String name : in.keySet()) {
            double[] a = in.get(name).data(), b = c.tensors().get(name).data();
            assertEquals(a.length, b.length);
            for (int i = 0; i < a.length; i++) assertEquals((double) (float) a[i], b[i], 0.0, name + "[" + i + "]");
        }
        assertNotEquals(0.1, c.tensors().get("w").data()[0]);
    }

    @Test
    void largeTensorCrossesChunks() {
        Path p = dir.resolve("big.safetensors");
        int n = 700_001; // several read/write chunks, not a multiple of any
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = Math.sin(i) * i;
        Map<String, Safetensors.Tensor> m = new LinkedHashMap<>();
        m.put("x32", new Safetensors.Tensor("F32", new long[] {n}, v));
        m.put("x64", new Safetensors.Tensor("F64", new long[] {n}, v));
        Safetensors.write(p, m, null);
        Safetensors.Contents c = Safetensors.read(p);
        double[] r32 = c.tensors().get("x32").data(),
                r64 = c.tensors().get("x64").data();
        for (int i = 0; i < n; i++) {
            assertEquals((float) v[i], r32[i], 0.0);
            assertEquals(v[i], r64[i], 0.0);
        }
    }

    @Test
    void byteLayoutFollowsTheFormat() throws IOException {
        Path p = dir.resolve("layout.safetensors");
        Map<String, Safetensors.Tensor> m = new LinkedHashMap<>();
        m.put("a", new Safetensors.Tensor("F32", new long[] {2}, new double[] {1.5, -2}));
        m.put("b", new Safetensors.Tensor("F64", new long[] {1, 1}, new double[] {0.1}));
        Safetensors.write(p, m, Map.of("k", "v"));
        byte[] bytes = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = bb.getLong(0);
        assertEquals(0, n % 8, "header padded to 8");
        assertEquals(8 + n + 8 + 8, bytes.length);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.stripTrailing().endsWith("}"));
        for (char ch : header.substring(header.stripTrailing().length()).toCharArray()) assertEquals(' ', ch);
        JsonNode root = new ObjectMapper().readTree(header);
        assertEquals("v", root.get("__metadata__").get("k").asText());
        assertEquals("F32", root.get("a").get("dtype").asText());
        assertEquals("[2]", root.get("a").get("shape").toString());
        assertEquals("[0,8]", root.get("a").get("data_offsets").toString());
        assertEquals("[1,1]", root.get("b").get("shape").toString());
        assertEquals("[8,16]", root.get("b").get("data_offsets").toString());
        int data = 8 + (int) n;
        assertEquals(1.5f, bb.getFloat(data));
        assertEquals(-2f, bb.getFloat(data + 4));
        assertEquals(0.1, bb.getDouble(data + 8));
    }

    /** A file built byte by byte, header keys not in data order, as other writers produce. */
    @Test
    void readsAHandBuiltFile() throws IOException {
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"z.weight\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"a.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[16,28]}}";
        ByteBuffer data = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        data.putDouble(-1.25).putDouble(1e-300).putFloat(3f).putFloat(0.5f).putFloat(-7f);
        Path p = file("hand.safetensors", header, data.array());

        Safetensors.Contents c = Safetensors.read(p);
        assertEquals(Map.of("format", "pt"), c.metadata());
        assertEquals(List.of("z.weight", "a.bias"), List.copyOf(c.tensors().keySet()));
        assertArrayEquals(
                new double[] {-1.25, 1e-300}, c.tensors().get("z.weight").data(), 0.0);
        assertArrayEquals(new double[] {3, 0.5, -7}, c.tensors().get("a.bias").data(), 0.0);
        assertArrayEquals(new long[] {3}, c.tensors().get("a.bias").shape());

        Safetensors.Header h = Safetensors.readHeader(p);
        assertEquals(8 + header.length(), h.dataStart());
        assertEquals(16, h.tensor("a.bias").begin());
    }

    @Test
    void otherDtypesAreListedButNotLoaded() throws IOException {
        String header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
        Path p = file("ints.safetensors", header, new byte[20]);
        assertEquals("I64", Safetensors.readHeader(p).tensor("ids").dtype());
        assertEquals(1, Safetensors.read(p, n -> n.equals("x")).tensors().size());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.read(p));
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("ids") && e.getMessage().contains("I64"), e.getMessage());
    }

    @Test
    void corruptFilesFailWithOneLineNamingTheFile() throws IOException {
        String ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        assertFails(Files.write(dir.resolve("short"), new byte[5]), "shorter than");
        assertFails(Files.write(dir.resolve("empty"), new byte[0]), "shorter than");
        assertFails(rawFile("toolong", 1000, ok, new byte[8]), "larger than the file");
        assertFails(rawFile("negative", -1, ok, new byte[8]), "larger than the file");
        assertFails(file("garbage", "{\"x\": [1, 2,,", new byte[0]), "not valid JSON");
        assertFails(
                rawFile("notutf8", 4, new byte[] {'"', (byte) 0xff, (byte) 0xfe, '"'}, new byte[0]), "not valid JSON");
        assertFails(file("array", "[1, 2]", new byte[0]), "not a JSON object");
        assertFails(
                file(
                        "dup",
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                                + "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
                        new byte[4]),
                "not valid JSON");
        assertFails(file("truncated", ok, new byte[5]), "truncated");
        assertFails(file("trailing", ok, new byte[12]), "4 bytes of unexpected data");
        assertFails(
                file("mismatch", "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]),
                "needs 12");
        assertFails(
                file(
                        "overlap",
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                        new byte[12]),
                "overlaps");
        assertFails(
                file("gap", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "gap");
        assertFails(
                file("offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[8]),
                "invalid data_offsets");
        assertFails(
                file("dtype", "{\"x\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
                "unknown dtype F7");
        assertFails(
                file("shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]),
                "invalid shape");
        assertFails(file("meta", "{\"__metadata__\":{\"k\":1}}", new byte[0]), "not a string");
        assertFails(dir.resolve("does-not-exist"), "no such file");
    }

    @Test
    void atomicWriteReplacesAndLeavesNoTemporaryFiles() throws IOException {
        Path p = dir.resolve("ckpt.safetensors");
        Map<String, Safetensors.Tensor> m = new LinkedHashMap<>();
        m.put("x", new Safetensors.Tensor("F64", new long[] {1}, new double[] {1}));
        Safetensors.write(p, m, Map.of("step", "1"));
        m.put("x", new Safetensors.Tensor("F64", new long[] {1}, new double[] {2}));
        Safetensors.write(p, m, Map.of("step", "2"));
        Safetensors.Contents c = Safetensors.read(p);
        assertEquals("2", c.metadata().get("step"));
        assertEquals(2.0, c.tensors().get("x").data()[0]);
        assertEquals(List.of(p.getFileName().toString()), listing(dir));

        // a target that cannot be replaced: the write fails and cleans up after itself
        Path blocked = Files.createDirectories(dir.resolve("blocked"));
        Files.writeString(blocked.resolve("inside"), "x");
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.write(blocked, m, null));
        assertTrue(e.getMessage().contains(blocked.toString()), e.getMessage());
        assertEquals(List.of("blocked", p.getFileName().toString()), listing(dir));

        CheckpointException noDir = assertThrows(
                CheckpointException.class, () -> Safetensors.write(dir.resolve("missing/ckpt.safetensors"), m, null));
        assertTrue(noDir.getMessage().contains("does not exist"), noDir.getMessage());
    }

    @Test
    void tensorChecksItsShape() {
        assertThrows(
                IllegalArgumentException.class, () -> new Safetensors.Tensor("F32", new long[] {2, 2}, new double[3]));
        assertThrows(
                IllegalArgumentException.class, () -> new Safetensors.Tensor("F16", new long[] {1}, new double[1]));
        Safetensors.Tensor slice = Safetensors.Tensor.of("F32", new int[] {2}, new double[] {1, 2, 3, 4}, 1);
        assertArrayEquals(new double[] {2, 3}, slice.values());
    }

    // ---- helpers

    private void assertFails(Path p, String fragment) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> Safetensors.read(p), p.toString());
        String m = e.getMessage();
        assertTrue(m.contains(p.toString()), "names the file: " + m);
        assertTrue(m.contains(fragment), "'" + fragment + "' in: " + m);
        assertFalse(m.contains("\n"), "one line: " + m);
        assertThrows(CheckpointException.class, () -> Safetensors.readHeader(p));
    }

    private Path file(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return rawFile(name, h.length, h, data);
    }

    private Path rawFile(String name, long headerLength, String header, byte[] data) throws IOException {
        return rawFile(name, headerLength, header.getBytes(StandardCharsets.UTF_8), data);
    }

    private Path rawFile(String name, long headerLength, byte[] header, byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(headerLength)
                .array());
        out.write(header);
        out.write(data);
        return Files.write(dir.resolve(name), out.toByteArray());
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().toList();
        }
    }
}
