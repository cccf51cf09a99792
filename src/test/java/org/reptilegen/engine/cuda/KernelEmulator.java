package org.reptilegen.engine.cuda;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import jcuda.driver.CUdeviceptr;

/**
 * The host emulator of the CUDA kernels (src/test/cuda-emulator, see sim.h there): builds it from the
 * real kernels/*.cu, records launch plans from the engine's own {@link Launch} objects and runs them.
 * Pointers are {@link At}, a device pointer that knows its byte offset in one emulated arena, so a
 * workspace laid out from {@code new At(0)} hands every launch offsets the emulator can resolve.
 */
final class KernelEmulator {
    private KernelEmulator() {}

    /** The project directory: Maven's basedir, else where the tests run. */
    private static final Path ROOT = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
    private static final Path SOURCES = ROOT.resolve(Path.of("src", "test", "cuda-emulator"));
    private static final Path KERNELS = ROOT.resolve("kernels");
    private static final Path BUILD = ROOT.resolve(Path.of("target", "kernel-emulator"));
    private static final long COMPILE_SECONDS = 300;
    private static final long RUN_SECONDS = 120;

    /** A device pointer at a byte offset of the emulated arena. */
    static final class At extends CUdeviceptr {
        final long offset;

        At(long offset) {
            this.offset = offset;
        }

        @Override
        public CUdeviceptr withByteOffset(long byteOffset) {
            return new At(offset + byteOffset);
        }
    }

    static long offset(Object pointer) {
        if (pointer instanceof At a) return a.offset;
        throw new IllegalStateException("a pointer that is not in the emulated arena: " + pointer);
    }

    /** The first C++ compiler on PATH (g++, then c++), or null. */
    static Path compiler() {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String name : new String[]{"g++", "c++"})
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isEmpty()) continue;
                Path p = Path.of(dir, name);
                if (Files.isRegularFile(p) && Files.isExecutable(p)) return p;
            }
        return null;
    }

    private static Path binary;

    /**
     * The emulator built from the current sources; compiled at most once per test run, and reused
     * from target/ while the sources, the kernel list and the flags are unchanged.
     */
    static synchronized Path binary() throws IOException, InterruptedException {
        if (binary != null) return binary;
        Path cxx = compiler();
        if (cxx == null) throw new IllegalStateException("no C++ compiler on PATH");
        String inc = kernelsInc();
        List<String> flags = new ArrayList<>(List.of("-std=c++17", "-O2", "-ffp-contract=off"));
        // sim.h switches fibers without the shadow stack that -fcf-protection may turn on.
        if (System.getProperty("os.arch").matches("amd64|x86_64")) flags.add("-fcf-protection=none");
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        md.update((cxx + " " + flags + "\n" + inc).getBytes(StandardCharsets.UTF_8));
        for (Path f : sources()) {
            md.update(f.toString().getBytes(StandardCharsets.UTF_8));
            md.update(Files.readAllBytes(f));
        }
        String hash = HexFormat.of().formatHex(md.digest()).substring(0, 16);
        Path dir = BUILD.resolve(hash);
        Path exe = dir.resolve("emulate");
        if (!Files.isExecutable(exe)) {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("kernels.inc"), inc);
            Path tmp = dir.resolve("emulate.tmp" + ProcessHandle.current().pid());
            List<String> cmd = new ArrayList<>(List.of(cxx.toString()));
            cmd.addAll(flags);
            cmd.addAll(List.of("-I", dir.toString(), "-I", KERNELS.toString(), "-I", SOURCES.toString(),
                    SOURCES.resolve("emulate.cpp").toString(), "-o", tmp.toString()));
            Path log = dir.resolve("compile.log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(COMPILE_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("compiling the kernel emulator took over " + COMPILE_SECONDS + " s");
            }
            if (p.exitValue() != 0)
                throw new IllegalStateException("compiling the kernel emulator failed: " + String.join(" ", cmd) + "\n" + Files.readString(log));
            Files.move(tmp, exe, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        binary = exe;
        return exe;
    }

    private static List<Path> sources() throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path d : new Path[]{SOURCES, KERNELS})
            try (Stream<Path> s = Files.list(d)) {
                s.filter(f -> f.toString().matches(".*\\.(h|cpp|cu|cuh)$")).sorted().forEach(out::add);
            }
        return out;
    }

    /** Includes every kernels/*.cu and lists the kernels the engine launches, by their declared names. */
    private static String kernelsInc() throws IOException {
        StringBuilder sb = new StringBuilder();
        try (Stream<Path> s = Files.list(KERNELS)) {
            for (Path f : s.filter(f -> f.toString().endsWith(".cu")).sorted().toList())
                sb.append("#include \"").append(f.getFileName()).append("\"\n");
        }
        sb.append("#define KERNEL_LIST(K)");
        for (KernelSig k : CudaKernels.ALL) sb.append(" K(").append(k.name()).append(')');
        return sb.append('\n').toString();
    }

    /** A launch plan: the arena, uploads and launches, in order (the format is in emulate.cpp). */
    static final class Plan {
        private final StringBuilder text = new StringBuilder();
        final long bytes;

        Plan(long bytes) {
            this.bytes = bytes;
            text.append("arena ").append(bytes).append('\n');
        }

        Plan ints(CUdeviceptr at, int[] v) {
            text.append("ints ").append(offset(at)).append(' ').append(v.length);
            for (int x : v) text.append(' ').append(x);
            text.append('\n');
            return this;
        }

        /** Values rounded to float32, as the engine uploads them. */
        Plan floats(CUdeviceptr at, double[] v) {
            int[] bits = new int[v.length];
            for (int i = 0; i < v.length; i++) bits[i] = Float.floatToRawIntBits((float) v[i]);
            return ints(at, bits);
        }

        Plan longs(CUdeviceptr at, long[] v) {
            text.append("longs ").append(offset(at)).append(' ').append(v.length);
            for (long x : v) text.append(' ').append(x);
            text.append('\n');
            return this;
        }

        Plan zero(CUdeviceptr at, long bytes) {
            text.append("zero ").append(offset(at)).append(' ').append(bytes).append('\n');
            return this;
        }

        /** The constant tables a workspace queued for upload. */
        Plan constants(Arena arena) {
            for (Arena.Constant c : arena.constants()) ints(c.at(), c.values());
            return this;
        }

        /** The launch exactly as built: kernel, grid, the kernel's block shape, every argument with its kind. */
        Plan launch(Launch l) {
            text.append("launch ").append(l.sig.name()).append(' ').append(l.gridX).append(' ').append(l.gridY)
                    .append(' ').append(l.sig.blockX()).append(' ').append(l.sig.blockY()).append(' ').append(l.args.size());
            for (Object a : l.args) {
                text.append(' ');
                if (a instanceof CUdeviceptr p) text.append('p').append(p == Launch.NULL ? -1 : offset(p));
                else if (a instanceof Integer v) text.append('i').append(v);
                else if (a instanceof Long v) text.append('l').append(v);
                else if (a instanceof Float v) text.append('f').append(Float.floatToRawIntBits(v));
                else if (a instanceof Double v) text.append('d').append(Double.doubleToRawLongBits(v));
                else throw new IllegalStateException(l.sig.name() + ": an argument of type " + a.getClass());
            }
            text.append('\n');
            return this;
        }

        Plan launches(List<Launch> ls) {
            for (Launch l : ls) launch(l);
            return this;
        }

        /** Runs the plan in dir; with reverse, blocks and threads run in the opposite order. */
        Memory run(Path dir, boolean reverse) throws IOException, InterruptedException {
            Path exe = binary();
            Path plan = dir.resolve("plan.txt"), out = dir.resolve(reverse ? "memory-reversed" : "memory"), log = dir.resolve("emulator.log");
            Files.writeString(plan, text);
            ProcessBuilder pb = new ProcessBuilder(exe.toString(), plan.toString(), out.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("SIM_REVERSE", reverse ? "1" : "0");
            Process p = pb.start();
            if (!p.waitFor(RUN_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("the kernel emulator ran over " + RUN_SECONDS + " s");
            }
            if (p.exitValue() > 128)
                throw new IllegalStateException("the kernel emulator died of signal " + (p.exitValue() - 128)
                        + " (11: an access outside the arena or past its end)\n" + Files.readString(log));
            if (p.exitValue() != 0)
                throw new IllegalStateException("the kernel emulator failed (exit " + p.exitValue() + "): " + Files.readString(log));
            byte[] mem = Files.readAllBytes(out);
            if (mem.length != bytes) throw new IllegalStateException("the emulator wrote " + mem.length + " bytes, not " + bytes);
            return new Memory(mem);
        }
    }

    /** The arena after a run. */
    record Memory(byte[] bytes) {
        private ByteBuffer buf() {
            return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }

        double[] floats(CUdeviceptr at, int n) {
            ByteBuffer b = buf();
            int o = Math.toIntExact(offset(at));
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = b.getFloat(o + 4 * i);
            return v;
        }

        double[] doubles(CUdeviceptr at, int n) {
            ByteBuffer b = buf();
            int o = Math.toIntExact(offset(at));
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = b.getDouble(o + 8 * i);
            return v;
        }

        int[] ints(CUdeviceptr at, int n) {
            ByteBuffer b = buf();
            int o = Math.toIntExact(offset(at));
            int[] v = new int[n];
            for (int i = 0; i < n; i++) v[i] = b.getInt(o + 4 * i);
            return v;
        }
    }
}
