package org.reptilegen.engine.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuInit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import jcuda.CudaException;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * What this machine offers the cuda backend, for {@code reptile-gen doctor}: the CUDA driver and its
 * version, each GPU, the architectures the jar's kernels were built for and whether they load on GPU 0, and
 * cuBLAS and cuDNN for the lstm baseline's cuda path.
 * Never throws: a part that cannot be read says why.
 */
public final class Inventory {
    private Inventory() {}

    /** One GPU as the driver describes it. */
    public record Gpu(int index, String name, long memoryBytes, int ccMajor, int ccMinor) {
        public String arch() {
            return "sm_" + ccMajor + ccMinor;
        }
    }

    /**
     * @param driverProblem null when the driver started, else why not (then the rest is empty)
     * @param driverVersion the CUDA version the driver supports, e.g. "12.8"
     * @param driverLibrary the driver library loaded by name (REPTILE_GEN_CUDA_DRIVER), or null for the system's
     * @param gpus every GPU the driver sees
     * @param kernelArchs the architectures in the jar's fatbin (sm_XY machine code, compute_XY PTX); empty when none were built
     * @param loadProblem null when the kernels load on GPU 0 and the engine can start there, else why not
     */
    public record Report(
            String driverProblem,
            String driverVersion,
            String driverLibrary,
            List<Gpu> gpus,
            List<String> kernelArchs,
            String loadProblem) {}

    /**
     * cuBLAS or cuDNN as the lstm baseline's cuda path loads them ({@link NvidiaLibraries}).
     *
     * @param name "cuBLAS" or "cuDNN"
     * @param problem null when JCublas2 (JCudnn) can be called, else one line naming what is missing and the fix
     * @param description the version, the library bound and how many functions the forwarding library passes on to
     *     it; the problem line when there is one
     */
    public record NvidiaLibrary(String name, String problem, String description) {}

    /** cuBLAS and cuDNN, loaded now if they were not (once per process). Never throws. */
    public static List<NvidiaLibrary> nvidiaLibraries() {
        return List.of(
                library("cuBLAS", NvidiaLibraries::cublasProblem, NvidiaLibraries::cublasDescription),
                library("cuDNN", NvidiaLibraries::cudnnProblem, NvidiaLibraries::cudnnDescription));
    }

    private static NvidiaLibrary library(String name, Supplier<String> problem, Supplier<String> description) {
        try {
            String p = problem.get();
            return new NvidiaLibrary(name, p, p != null ? p : description.get());
        } catch (RuntimeException | LinkageError e) {
            String p = name + " could not be loaded: " + e;
            return new NvidiaLibrary(name, p, p);
        }
    }

    /** The architectures file the kernel build writes next to the fatbin. */
    static final String ARCHS_RESOURCE = CudaKernels.FATBIN_RESOURCE + ".archs";

    public static Report take() {
        List<String> archs = kernelArchs();
        String named = DriverLibrary.named();
        String problem = DriverLibrary.ensureLoaded();
        if (problem != null) return new Report(problem, null, named, List.of(), archs, problem);
        try {
            JCudaDriver.setExceptionsEnabled(true);
            try {
                cuInit(0);
            } catch (CudaException e) {
                String m = String.valueOf(e.getMessage());
                String why = m.contains("NO_DEVICE")
                        ? "the driver sees no CUDA device"
                        : "the CUDA driver did not start: " + m;
                return new Report(null, Device.driverVersion(), named, List.of(), archs, why);
            }
            int[] n = new int[1];
            cuDeviceGetCount(n);
            List<Gpu> gpus = new ArrayList<>();
            for (int i = 0; i < n[0]; i++) gpus.add(gpu(i));
            return new Report(null, Device.driverVersion(), named, gpus, archs, CudaEngine.unavailableReason());
        } catch (LinkageError e) {
            String why = CudaEngine.unavailableReason();
            return new Report(why == null ? e.toString() : why, null, named, List.of(), archs, why);
        } catch (RuntimeException e) {
            return new Report(
                    "the CUDA driver could not be asked: " + e.getMessage(),
                    null,
                    named,
                    List.of(),
                    archs,
                    e.getMessage());
        }
    }

    private static Gpu gpu(int i) {
        CUdevice d = new CUdevice();
        cuDeviceGet(d, i);
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, d);
        return new Gpu(
                i,
                GpuContext.name(d),
                mem[0],
                GpuContext.attribute(d, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                GpuContext.attribute(d, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
    }

    /** The architectures the jar's kernels were built for; empty when the jar has none. */
    public static List<String> kernelArchs() {
        try (InputStream in = Inventory.class.getResourceAsStream(ARCHS_RESOURCE)) {
            if (in == null || Device.class.getResource(CudaKernels.FATBIN_RESOURCE) == null) return List.of();
            String s = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
            return s.isEmpty() ? List.of() : Arrays.asList(s.split("\\s+"));
        } catch (IOException e) {
            return List.of();
        }
    }

    /**
     * How the kernels run on a GPU of compute capability major.minor: "machine code" (sm_XY for that
     * major and a minor at most this one's), "PTX compiled by the driver" (compute_XY not above it), or
     * null when they cannot.
     */
    public static String coverage(List<String> archs, int major, int minor) {
        int cc = major * 10 + minor;
        for (String a : archs)
            if (a.startsWith("sm_")) {
                int v = Integer.parseInt(a.substring(3).replaceAll("[^0-9]", ""));
                if (v / 10 == major && v % 10 <= minor && a.substring(3).chars().allMatch(Character::isDigit))
                    return "machine code (" + a + ")";
            }
        for (String a : archs)
            if (a.startsWith("compute_")) {
                int v = Integer.parseInt(a.substring(8).replaceAll("[^0-9]", ""));
                if (v <= cc) return "PTX compiled by the driver (" + a + ")";
            }
        return null;
    }
}
