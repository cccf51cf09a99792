package org.reptilegen.engine.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuGraphUpload;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD32Async;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.io.IOException;
import java.io.InputStream;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.JCudaDriver;
import org.reptilegen.util.Bytes;

/**
 * One engine's use of GPU 0 through the JCuda driver API: the process's context and kernels (shared,
 * {@link GpuContext}), one stream for all of the engine's work, memory, and one-line errors. Every CUresult is checked (JCuda's exceptions are
 * on) and turned into a {@link DeviceException} that names what was being done.
 */
final class Device implements AutoCloseable {
    final String name;
    final int ccMajor, ccMinor;
    /** Streaming multiprocessors, for how many blocks run at once. */
    final int multiprocessors;

    final CUstream stream = new CUstream();
    /** The context and kernels, retained and loaded once per process (GpuContext). */
    private final GpuContext gpu;

    private final CUcontext context;
    private boolean streamCreated, closed;

    private Device(java.util.function.Supplier<byte[]> fatbin) {
        gpu = GpuContext.acquire(fatbin);
        name = gpu.name;
        ccMajor = gpu.ccMajor;
        ccMinor = gpu.ccMinor;
        multiprocessors = gpu.multiprocessors;
        context = gpu.context;
        try {
            cuCtxSetCurrent(context);
            cuStreamCreate(stream, 0);
            streamCreated = true;
        } catch (CudaException e) {
            try {
                close();
            } catch (RuntimeException ignored) {
                // the stream's error is the one to report
            }
            throw new DeviceException("CUDA error while creating a stream: " + e.getMessage());
        }
    }

    /** Opens GPU 0 with the kernels of the jar; the caller has checked {@link #unavailableReason()}. */
    static Device open() {
        String driver = DriverLibrary.ensureLoaded();
        if (driver != null) throw new DeviceException(driver);
        return new Device(Device::readFatbin);
    }

    static String driverVersion() {
        try {
            int[] v = new int[1];
            cuDriverGetVersion(v);
            return v[0] / 1000 + "." + (v[0] % 1000) / 10;
        } catch (RuntimeException e) {
            return "unknown";
        }
    }

    // ---- the probe ----

    static final String NOT_BUILT = "kernels were not built: nvcc was not found when this jar was built";
    private static String probed;
    private static boolean probeDone;

    /** Null when a CUDA driver, a device and kernels for it are present; else one line saying which is missing. Never throws. */
    static synchronized String unavailableReason() {
        if (!probeDone) {
            probed = probe();
            probeDone = true;
        }
        return probed;
    }

    private static String probe() {
        String driver = DriverLibrary.ensureLoaded();
        if (driver != null) return driver;
        try {
            try {
                JCudaDriver.setExceptionsEnabled(true);
                cuInit(0);
                int[] n = new int[1];
                cuDeviceGetCount(n);
                if (n[0] == 0) return "no CUDA device";
            } catch (CudaException e) {
                String m = String.valueOf(e.getMessage());
                if (m.contains("NO_DEVICE")) return "no CUDA device";
                return "the CUDA driver did not start: " + m;
            }
            try (Device d = new Device(Device::readFatbin)) {
                return null;
            } catch (DeviceException e) {
                return e.getMessage();
            }
        } catch (LinkageError e) {
            return linkReason(e);
        } catch (Throwable e) {
            return "CUDA could not be started: " + firstLine(e.toString());
        }
    }

    /** The JCuda natives fail to load when libcuda.so.1 (the driver) is missing, or for their own reasons. */
    private static String linkReason(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t).append('\n');
        String s = all.toString();
        if (s.contains("libcuda.so") || s.contains("nvcuda.dll")) return "no CUDA driver (libcuda.so.1 not found)";
        if (e instanceof NoClassDefFoundError)
            return "the JCuda classes or natives could not be loaded: " + firstLine(e.toString());
        return "the JCuda native library could not be loaded: " + firstLine(e.toString());
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static byte[] readFatbin() {
        try (InputStream in = Device.class.getResourceAsStream(CudaKernels.FATBIN_RESOURCE)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            return null;
        }
    }

    // ---- use ----

    /** Makes this device's context current on the calling thread; every engine entry point calls it. */
    void enter() {
        cuda("making the context current", () -> cuCtxSetCurrent(context));
    }

    /** Runs driver calls; a CUDA error becomes a DeviceException that says what was being done. */
    private static void cuda(String doing, Runnable calls) {
        try {
            calls.run();
        } catch (CudaException e) {
            throw new DeviceException("CUDA error while " + doing + ": " + e.getMessage());
        }
    }

    CUfunction function(KernelSig sig) {
        return gpu.function(sig);
    }

    /** Blocks of sig that fit on one multiprocessor at once, as the driver computes it; 0 if it cannot say. */
    int residentBlocks(KernelSig sig) {
        int[] n = new int[1];
        try {
            cuCtxSetCurrent(context);
            JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(n, function(sig), sig.blockX() * sig.blockY(), 0);
            return n[0];
        } catch (RuntimeException e) {
            return 0; // the caller has a default
        }
    }

    /** {free, total} bytes of device memory. */
    long[] memInfo() {
        long[] free = new long[1], total = new long[1];
        cuda("asking for free memory", () -> cuMemGetInfo(free, total));
        return new long[] {free[0], total[0]};
    }

    /** Bytes of each live allocation, for the peak-memory report. */
    private final java.util.IdentityHashMap<CUdeviceptr, Long> sizes = new java.util.IdentityHashMap<>();

    private long held, peak;

    /** The most device memory this engine has held at once. */
    long peakBytes() {
        return peak;
    }

    Address alloc(long bytes, String what) {
        Address p = new Address();
        try {
            cuMemAlloc(p, Math.max(bytes, 1));
        } catch (CudaException e) {
            if (String.valueOf(e.getMessage()).contains("OUT_OF_MEMORY")) {
                long[] mi = memInfo();
                throw new DeviceException("out of device memory: asked for " + Bytes.show(bytes) + " for " + what + ", "
                        + Bytes.show(mi[0]) + " free of " + Bytes.show(mi[1]) + " on " + name);
            }
            throw new DeviceException(
                    "CUDA error while allocating " + Bytes.show(bytes) + " for " + what + ": " + e.getMessage());
        }
        sizes.put(p, bytes);
        held += bytes;
        peak = Math.max(peak, held);
        return p;
    }

    void free(CUdeviceptr p) {
        if (p == null) return;
        Long bytes = sizes.remove(p);
        if (bytes != null) held -= bytes;
        cuda("freeing device memory", () -> cuMemFree(p));
    }

    /**
     * Copies host memory to the device once the stream's work is done (so no kernel still reads the
     * destination), and waits for the copy, so the next launch on the stream sees it whatever stream
     * the driver copied on.
     */
    void upload(CUdeviceptr dst, Pointer src, long bytes, String what) {
        if (bytes == 0) return;
        sync("copying " + what);
        cuda("copying " + what + " to the device", () -> {
            cuMemcpyHtoD(dst, src, bytes);
            cuCtxSynchronize();
        });
    }

    /** Waits for the stream, then copies; errors of earlier launches surface here. */
    void download(Pointer dst, CUdeviceptr src, long bytes, String what) {
        sync(what);
        cuda("copying " + what + " from the device", () -> cuMemcpyDtoH(dst, src, bytes));
    }

    /** Clears bytes (a multiple of 4) on the stream, in order with the launches. */
    void zero(CUdeviceptr p, long bytes, String what) {
        cuda("clearing " + what, () -> cuMemsetD32Async(p, 0, bytes / 4, stream));
    }

    void sync(String what) {
        try {
            cuStreamSynchronize(stream);
        } catch (CudaException e) {
            throw new DeviceException("CUDA error in the kernels before " + what + ": " + e.getMessage());
        }
    }

    /**
     * Bytes per second of a device-to-device copy (read plus written) of up to 1 GiB, well past the
     * L2 cache, timed with events on the engine's stream: the best of five after a warm-up.
     */
    double copyBandwidth() {
        long bytes = Math.max(1L << 20, Math.min(1L << 30, memInfo()[0] / 4) & ~255L);
        CUdeviceptr a = alloc(bytes, "the copy benchmark"), b;
        try {
            b = alloc(bytes, "the copy benchmark");
        } catch (RuntimeException e) {
            free(a);
            throw e;
        }
        jcuda.driver.CUevent start = new jcuda.driver.CUevent(), stop = new jcuda.driver.CUevent();
        try {
            zero(a, bytes, "the copy benchmark");
            cuEventCreate(start, 0);
            cuEventCreate(stop, 0);
            float best = Float.MAX_VALUE;
            float[] ms = new float[1];
            for (int r = 0; r < 6; r++) {
                cuEventRecord(start, stream);
                cuMemcpyDtoDAsync(b, a, bytes, stream);
                cuEventRecord(stop, stream);
                cuEventSynchronize(stop);
                cuEventElapsedTime(ms, start, stop);
                if (r > 0) best = Math.min(best, ms[0]);
            }
            return 2.0 * bytes / (best / 1e3);
        } catch (CudaException e) {
            throw new DeviceException("CUDA error while timing a device copy: " + e.getMessage());
        } finally {
            try {
                cuEventDestroy(start);
                cuEventDestroy(stop);
            } catch (CudaException ignored) {
                // the measurement's own error, if any, is the one to report
            }
            free(a);
            free(b);
        }
    }

    /** Runs the launches that {@code work} makes on the stream and returns their device time in ms (events). */
    float timed(Runnable work) {
        jcuda.driver.CUevent start = new jcuda.driver.CUevent(), stop = new jcuda.driver.CUevent();
        try {
            cuEventCreate(start, 0);
            cuEventCreate(stop, 0);
            cuEventRecord(start, stream);
            work.run();
            cuEventRecord(stop, stream);
            cuEventSynchronize(stop);
            float[] ms = new float[1];
            cuEventElapsedTime(ms, start, stop);
            return ms[0];
        } catch (CudaException e) {
            throw new DeviceException("CUDA error while timing kernels: " + e.getMessage());
        } finally {
            try {
                cuEventDestroy(start);
                cuEventDestroy(stop);
            } catch (CudaException ignored) {
                // the timed work's own error, if any, is the one to report
            }
        }
    }

    /**
     * Records the launches {@code work} makes on the stream into a CUDA graph instead of running them,
     * so they can be replayed with one launch each time. Launch arguments are copied when recorded,
     * so the recorded launches must not depend on the host state at replay time (the inner step reads
     * its step index from device memory for that reason).
     */
    CUgraphExec capture(Runnable work) {
        CUgraph graph = new CUgraph();
        CUgraphExec exec = new CUgraphExec();
        boolean capturing = false;
        try {
            cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
            capturing = true;
            work.run();
            capturing = false;
            cuStreamEndCapture(stream, graph);
            cuGraphInstantiate(exec, graph, 0);
            // Uploaded now, so the first replay does not pay for it (and a timed one does not count it).
            cuGraphUpload(exec, stream);
            return exec;
        } catch (CudaException e) {
            throw new DeviceException("CUDA error while recording a graph of the inner step: " + e.getMessage());
        } finally {
            if (capturing) {
                try {
                    cuStreamEndCapture(stream, new CUgraph());
                } catch (CudaException ignored) {
                    // the recording's own error is the one to report
                }
            }
            try {
                cuGraphDestroy(graph);
            } catch (CudaException | NullPointerException ignored) {
                // nothing was recorded
            }
        }
    }

    /** Replays a recorded graph on the stream. */
    void replay(CUgraphExec exec) {
        cuda("replaying the inner step's graph", () -> cuGraphLaunch(exec, stream));
    }

    void destroy(CUgraphExec exec) {
        cuda("freeing a graph", () -> cuGraphExecDestroy(exec));
    }

    void run(Launch l) {
        try {
            l.run(stream);
        } catch (CudaException e) {
            throw new DeviceException("CUDA error launching " + l.describe() + ": " + e.getMessage());
        }
        if (!syncEachLaunch) return;
        try {
            cuStreamSynchronize(stream);
        } catch (CudaException e) {
            throw new DeviceException("CUDA error in " + l.describe() + ": " + e.getMessage());
        }
    }

    /** The environment variable that switches on {@link #SYNC_EACH_LAUNCH}. */
    static final String SYNC_ENV = "REPTILE_GEN_CUDA_SYNC";

    /** The system property that does the same. */
    static final String SYNC_PROPERTY = "reptilegen.cuda.sync";

    /**
     * For locating a fault: every launch is waited for, so an error names the kernel that caused it, and
     * the engine launches kernel by kernel instead of replaying graphs. Slow; set {@value #SYNC_ENV}=1
     * (or -D{@value #SYNC_PROPERTY}=true) before the engine starts.
     */
    final boolean syncEachLaunch = "1".equals(System.getenv(SYNC_ENV)) || Boolean.getBoolean(SYNC_PROPERTY);

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Cleanup c = new Cleanup();
        c.run(() -> cuCtxSetCurrent(context));
        if (streamCreated) c.run(() -> cuStreamDestroy(stream));
        // After a fault (an illegal address, a trap) every call of the context fails: it is reset, so
        // that the next engine in this process starts clean; a healthy context stays for the next one.
        GpuContext.leave(gpu, contextBroken(), c);
        c.rethrow("closing the device");
    }

    /**
     * Unloads the kernels and releases GPU 0's context when no engine is open, so that nothing of this
     * process stays on the device; false while an engine is open.
     */
    static boolean releaseWhenIdle() {
        return GpuContext.release();
    }

    /** Whether the current context holds a sticky error, which only a reset clears. */
    private static boolean contextBroken() {
        try {
            cuCtxSynchronize();
            return false;
        } catch (CudaException e) {
            return true;
        }
    }
}
