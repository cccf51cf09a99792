package org.reptilegen.engine.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxReset;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import jcuda.CudaException;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The process's hold on GPU 0: its primary context, retained once, and the kernels' module, loaded into
 * it once, shared by every {@link Device} (one per engine), so the next engine (the next bench case, the
 * next test) starts without retaining the context or loading the kernels again. Let go after a device
 * fault (the context is reset, so the next engine starts clean) or by {@link #release()} when no engine
 * is open; otherwise the process's exit releases it.
 */
final class GpuContext {
    final CUdevice device = new CUdevice();
    final CUcontext context = new CUcontext();
    final String name;
    final int ccMajor, ccMinor;
    /** Streaming multiprocessors, for how many blocks run at once. */
    final int multiprocessors;

    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private int users;

    private static GpuContext current;

    /** The process's hold, taken now if there is none (fatbin gives the kernels then); one more user. */
    static synchronized GpuContext acquire(Supplier<byte[]> fatbin) {
        if (current == null) current = new GpuContext(fatbin.get());
        current.users++;
        return current;
    }

    /**
     * One user less. After a fault (broken: the context holds a sticky error) the context is released and
     * reset, and the next acquire starts afresh; the steps' failures go to c.
     */
    static synchronized void leave(GpuContext g, boolean broken, Cleanup c) {
        g.users--;
        if (!broken || current != g) return;
        current = null;
        c.run(() -> cuDevicePrimaryCtxRelease(g.device));
        c.run(() -> cuDevicePrimaryCtxReset(g.device));
    }

    /**
     * Unloads the kernels and releases the context when no engine is open (then nothing of the process
     * stays on the device); false, doing nothing, while one is.
     */
    static synchronized boolean release() {
        if (current == null) return true;
        if (current.users > 0) return false;
        GpuContext g = current;
        current = null;
        Cleanup c = new Cleanup();
        c.run(() -> cuCtxSetCurrent(g.context));
        c.run(() -> cuModuleUnload(g.module));
        c.run(() -> cuDevicePrimaryCtxRelease(g.device));
        c.rethrow("releasing GPU 0");
        return true;
    }

    private GpuContext(byte[] fatbin) {
        if (fatbin == null) throw new DeviceException(Device.NOT_BUILT);
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            cuDeviceGet(device, 0);
            name = name(device);
            ccMajor = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
            ccMinor = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
            multiprocessors = attribute(device, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
            cuDevicePrimaryCtxRetain(context, device);
        } catch (CudaException e) {
            throw new DeviceException("CUDA error while opening GPU 0: " + e.getMessage());
        }
        boolean loaded = false;
        try {
            cuCtxSetCurrent(context);
            try {
                // cuModuleLoadData with a trailing 0: JCuda's cuModuleLoadFatBinary never returns the module.
                byte[] image = java.util.Arrays.copyOf(fatbin, fatbin.length + 1);
                cuModuleLoadData(module, image);
                loaded = true;
            } catch (CudaException e) {
                String m = e.getMessage();
                if (m != null && m.contains("NO_BINARY_FOR_GPU"))
                    throw new DeviceException(
                            "the kernels have no code for this GPU (" + name + ", sm_" + ccMajor + ccMinor + ")");
                throw new DeviceException("the kernels could not be loaded on " + name + " (sm_" + ccMajor + ccMinor
                        + ", CUDA driver " + Device.driverVersion() + "): " + m);
            }
            try {
                for (KernelSig k : Kernels.ALL) {
                    CUfunction f = new CUfunction();
                    cuModuleGetFunction(f, module, k.name());
                    functions.put(k.name(), f);
                }
            } catch (CudaException e) {
                throw new DeviceException("the kernels in the jar lack one this engine needs (" + e.getMessage()
                        + "): the jar's fatbin is out of date");
            }
        } catch (RuntimeException e) {
            Cleanup c = new Cleanup();
            if (loaded) c.run(() -> cuModuleUnload(module));
            c.run(() -> cuDevicePrimaryCtxRelease(device));
            throw e;
        }
    }

    /** A device's name as the driver gives it. */
    static String name(CUdevice d) {
        byte[] nm = new byte[256];
        cuDeviceGetName(nm, nm.length, d);
        int len = 0;
        while (len < nm.length && nm[len] != 0) len++;
        return new String(nm, 0, len, StandardCharsets.UTF_8);
    }

    /** One integer attribute of a device (a CUdevice_attribute). */
    static int attribute(CUdevice d, int attribute) {
        int[] v = new int[1];
        cuDeviceGetAttribute(v, attribute, d);
        return v[0];
    }

    CUfunction function(KernelSig sig) {
        CUfunction f = functions.get(sig.name());
        if (f == null) throw new IllegalStateException("kernel " + sig.name() + " is not loaded");
        return f;
    }
}
