package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The simulated cuBLAS and cuDNN themselves, which the lstm baseline's gpu tests run on without a GPU:
 * src/test/cuda-sim/libs-selftest.sh builds and runs their self-test (products against naive double
 * ones, the LSTM and its gradients against central differences of a double LSTM, argument errors). Runs
 * in pom.xml's gpu-on-simulated-driver run, next to the libraries it names.
 */
@Tag("simulator")
class SimulatedLibrariesTest {
    @Test
    void theSimulatedLibrariesPassTheirSelfTest() throws IOException, InterruptedException {
        String driver = System.getProperty("reptilegen.cuda.driver", "");
        assumeTrue(driver.endsWith("cuda-sim/libcuda.so.1"), "not on the simulated driver");
        Path dir = Path.of(driver).toAbsolutePath().getParent();
        assumeTrue(
                Files.isRegularFile(dir.resolve("libcublas.so.13"))
                        && Files.isRegularFile(dir.resolve("libcudnn.so.9")),
                "the simulated libraries were not built");
        Path script = Path.of("src/test/cuda-sim/libs-selftest.sh").toAbsolutePath();
        Process p = new ProcessBuilder("bash", script.toString(), dir.toString())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(true, p.waitFor(120, TimeUnit.SECONDS), "the self-test did not end in 120 s");
        assertEquals(0, p.exitValue(), out);
    }
}
