package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The controls of the simulated CUDA driver (src/test/cuda-sim), for tests that run where the test build
 * loads it in place of the NVIDIA driver (the gpu tests' simulated run, see pom.xml): the order in which
 * blocks and threads run, bugs planted on purpose, and what the driver still holds.
 */
final class SimulatedDriver {
    private SimulatedDriver() {}

    /** Whether this JVM runs the cuda engine on the simulated driver (which it then has loaded). */
    static boolean active() {
        String named = DriverLibrary.named();
        if (named == null || !named.endsWith("cuda-sim/libcuda.so.1") || CudaEngine.unavailableReason() != null)
            return false;
        try {
            settings();
            return true;
        } catch (UnsatisfiedLinkError e) {
            return false;
        }
    }

    /** Skips the calling test unless the simulated driver runs the engine here. */
    static void assumeActive() {
        assumeTrue(
                active(),
                "the cuda engine does not run on the simulated driver in this JVM: "
                        + (DriverLibrary.named() == null
                                ? "no driver named by -D" + DriverLibrary.PROPERTY
                                : CudaEngine.unavailableReason()));
    }

    /**
     * Blocks of a grid run in this order, "forward", "reverse" or "shuffle:SEED" (the threads of a block
     * likewise: lowest first, highest first, or a seeded random one), on this many worker threads.
     */
    static native void configure(String order, int threads);

    /** The order and thread count in use, e.g. "forward, 2 threads". */
    static native String settings();

    /**
     * Plants a bug: "missing-barrier" skips the __syncthreads() at line a of the kernel file named by
     * where; "swap-arguments" swaps arguments a and b of every launch of kernel where, as if the Java
     * launch passed them swapped; "short-copy" leaves the last a bytes out of the next host-to-device
     * copy; "fault-launch" makes the launch of kernel where that comes after a others fault.
     */
    static native void plant(String kind, String where, int a, int b);

    static native void clearPlants();

    /** The lines the driver printed since the last call. */
    static native String takeReport();

    /**
     * {live allocations, their bytes, modules, streams, events, graphs, executable graphs, references to
     * the primary context, kernel launches run so far}.
     */
    static native long[] live();

    /** What the primary context still held when it was last released ("" for nothing). */
    static native String lastLeak();

    /** The default settings of the gpu tests' simulated run. */
    static void reset() {
        clearPlants();
        configure("forward", Math.max(1, Runtime.getRuntime().availableProcessors()));
        takeReport();
    }
}
