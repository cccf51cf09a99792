package org.reptilegen.engine.cuda;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.reptilegen.util.JarLibraries;

/**
 * Named NVTX ranges, so that Nsight Systems shows the engine's phases on its timeline and Nsight
 * Compute can pick kernels by phase ({@code --nvtx-include "inner loops/"}). Ranges nest per thread:
 * <pre>{@code try (var r = Nvtx.range("inner loops")) { ... }}</pre>
 *
 * <p>The shim ships in the jar as {@code native/OS-ARCH/libreptilegen-nvtx.so} and is loaded on the
 * first range. Without it (built without a C compiler or the NVTX headers, another platform) every
 * range is a no-op; with it but no profiler attached, NVTX itself makes each push and pop a no-op.
 * Nothing here throws.
 */
public final class Nvtx {
    /** A pushed range: closing it pops it. */
    @FunctionalInterface
    public interface Range extends AutoCloseable {
        @Override
        void close();
    }

    static final String LIBRARY = "libreptilegen-nvtx.so";
    private static final Range NONE = () -> {};
    private static final Range POP = Nvtx::pop;

    private Nvtx() {}

    /** Loaded on the first range, so runs that never use the cuda backend never extract it. */
    private static final class Loaded {
        static final String REASON = load();
    }

    /** Whether ranges reach NVTX. */
    public static boolean available() {
        return Loaded.REASON == null;
    }

    /** Null when available; else one line saying why ranges are no-ops. */
    public static String reason() {
        return Loaded.REASON;
    }

    /** Pushes a range named {@code name} on this thread; close the result on the same thread. */
    public static Range range(String name) {
        if (Loaded.REASON != null) return NONE;
        byte[] utf8 = String.valueOf(name).getBytes(StandardCharsets.UTF_8);
        push(Arrays.copyOf(utf8, utf8.length + 1));
        return POP;
    }

    /** The jar resource for this platform, or null where none is built. */
    static String resource() {
        return JarLibraries.resource(LIBRARY);
    }

    private static String load() {
        String resource = resource();
        if (resource == null) return "NVTX ranges are built for Linux only, this is " + System.getProperty("os.name");
        try {
            if (!JarLibraries.load(resource, "reptilegen-nvtx"))
                return "the jar has no " + resource.substring(1) + " (built without a C compiler or the NVTX headers)";
            version();
            return null;
        } catch (Exception | LinkageError e) {
            return "the NVTX library could not be loaded: " + e;
        }
    }

    /** name is NUL-terminated UTF-8. */
    private static native void push(byte[] name);

    private static native void pop();

    private static native int version();
}
