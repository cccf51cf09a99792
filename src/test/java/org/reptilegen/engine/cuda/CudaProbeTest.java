package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.InputStream;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.engine.EngineSettings;

/** The probe and the packaged kernels, on any machine. */
class CudaProbeTest {

    @Test
    void probeAnswersInOneLineWithoutThrowing() {
        String first = assertDoesNotThrow(CudaEngine::unavailableReason);
        String again = assertDoesNotThrow(CudaEngine::unavailableReason);
        assertEquals(first, again);
        if (first != null) {
            assertFalse(first.isBlank());
            assertFalse(first.contains("\n"), first);
            System.out.println("cuda backend unavailable here: " + first);
        }
    }

    @Test
    void withoutTheDriverTheProbeSaysSo() {
        assumeTrue(!driverPresent(), "a CUDA driver library is installed here");
        assertEquals("no CUDA driver (libcuda.so.1 not found)", CudaEngine.unavailableReason());
    }

    @Test
    void anEngineThatCannotRunSaysWhy() {
        String why = CudaEngine.unavailableReason();
        assumeTrue(why != null, "CUDA is available here");
        EngineSettings s = new EngineSettings(
                CudaTestModels.TINY_MNIST,
                Algorithm.REPTILE,
                0.1,
                0,
                Precision.FLOAT32,
                new Adam(1e-3, 0.9, 0.99, 1e-8),
                1);
        DeviceException e = assertThrows(DeviceException.class, () -> new CudaEngine(s));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void theJarCarriesTheKernelsWhenNvccIsInstalled() throws Exception {
        assumeTrue(nvccPresent(), "nvcc is not installed here");
        try (InputStream in = CudaEngine.class.getResourceAsStream(CudaKernels.FATBIN_RESOURCE)) {
            assertTrue(in != null, CudaKernels.FATBIN_RESOURCE + " is missing from the classes");
            assertTrue(in.readAllBytes().length > 1000, "the fatbin is nearly empty");
        }
    }

    /** Where native/build-kernels.sh looks for nvcc. */
    static boolean nvccPresent() {
        String home = System.getenv("CUDA_HOME");
        if (home != null && new File(home, "bin/nvcc").canExecute()) return true;
        String path = System.getenv("PATH");
        if (path != null)
            for (String d : path.split(File.pathSeparator))
                if (!d.isEmpty() && new File(d, "nvcc").canExecute()) return true;
        return new File("/usr/local/cuda/bin/nvcc").canExecute();
    }

    private static boolean driverPresent() {
        for (String d : new String[] {
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/lib/x86_64-linux-gnu",
            "/usr/local/nvidia/lib64",
            "/usr/lib/wsl/lib"
        }) if (new File(d, "libcuda.so.1").exists()) return true;
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null)
            for (String d : ld.split(File.pathSeparator))
                if (!d.isEmpty() && new File(d, "libcuda.so.1").exists()) return true;
        return false;
    }
}
