package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Java side against the .cu sources: the generated launchers cover every kernel declared in
 * kernels/*.cu with the same parameter types and names in the same order (the generator read them all),
 * and the block shapes and constants the launches use match the kernels' #defines. No GPU needed.
 */
class KernelSignatureTest {
    private static final Pattern KERNEL = Pattern.compile(
            "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s*)?(\\w+)\\s*\\(([^)]*)\\)");
    private static final Pattern DEFINE = Pattern.compile("#define\\s+(\\w+)\\s+(\\d+)\\b");

    private static String sources() throws IOException {
        Path dir = Path.of("kernels");
        assertTrue(
                Files.isDirectory(dir), "kernels/ not found from " + Path.of("").toAbsolutePath());
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(
                            p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh"))
                    .sorted()
                    .toList()) all.append(Files.readString(f)).append('\n');
        }
        return all.toString();
    }

    @Test
    void javaParameterListsMatchTheCudaSources() throws IOException {
        Map<String, String> declared = new TreeMap<>();
        Matcher m = KERNEL.matcher(sources());
        while (m.find()) declared.put(m.group(1), m.group(2));
        Map<String, KernelSig> java = new TreeMap<>();
        for (KernelSig k : Kernels.ALL) java.put(k.name(), k);
        assertEquals(declared.keySet(), java.keySet(), "kernels in the .cu files vs Kernels.ALL");
        for (Map.Entry<String, String> e : declared.entrySet()) {
            List<KernelSig.Param> cu = new KernelSig(e.getKey(), e.getValue(), 1, 1).parse();
            List<KernelSig.Param> jv = java.get(e.getKey()).parse();
            assertEquals(describe(cu), describe(jv), "parameters of " + e.getKey());
        }
    }

    private static List<String> describe(List<KernelSig.Param> ps) {
        List<String> out = new ArrayList<>();
        for (KernelSig.Param p : ps) out.add(p.type() + " " + p.name() + " (" + p.kind() + ")");
        return out;
    }

    @Test
    void launchConstantsMatchTheKernelsDefines() throws IOException {
        Map<String, Integer> d = new HashMap<>();
        Matcher m = DEFINE.matcher(sources());
        while (m.find()) d.put(m.group(1), Integer.parseInt(m.group(2)));
        assertEquals(CudaKernels.LINEAR_FORWARD_ROWS * 32, Kernels.LINEAR_FORWARD.blockX());
        assertEquals(d.get("LIN_FWD_WARPS"), CudaKernels.LINEAR_FORWARD_ROWS);
        assertEquals(d.get("LIN_BWD_COLS"), CudaKernels.LINEAR_BACKWARD_COLS);
        assertEquals(d.get("LIN_BWD_COLS"), Kernels.LINEAR_BACKWARD_UPDATE.blockX());
        assertEquals(d.get("LIN_BWD_ROWS"), Kernels.LINEAR_BACKWARD_UPDATE.blockY());
        assertEquals(d.get("LSTM_FWD_WARPS"), CudaKernels.LSTM_FORWARD_UNITS);
        assertEquals(CudaKernels.LSTM_FORWARD_UNITS * 32, Kernels.LSTM_BLOCK_FORWARD.blockX());
        assertEquals(d.get("LSTM_BWD_COLS"), CudaKernels.LSTM_BACKWARD_COLS);
        assertEquals(d.get("LSTM_BWD_COLS"), Kernels.LSTM_BLOCK_BACKWARD_UPDATE.blockX());
        assertEquals(d.get("LSTM_BWD_ROWS"), Kernels.LSTM_BLOCK_BACKWARD_UPDATE.blockY());
        assertEquals(d.get("SAMPLE_MAX_CLASSES"), CudaKernels.SAMPLE_MAX_CLASSES);
        assertEquals(d.get("ACT_RELU"), CudaKernels.ACT_RELU);
        assertEquals(d.get("ACT_TANH"), CudaKernels.ACT_TANH);
        assertEquals(d.get("ACT_SIGMOID"), CudaKernels.ACT_SIGMOID);
        assertEquals(d.get("LIN_EMBED_MAX"), CudaKernels.LINEAR_EMBED_MAX);
        assertEquals(d.get("LOSS_NONE"), CudaKernels.LOSS_NONE);
        assertEquals(d.get("LOSS_BCE"), CudaKernels.LOSS_BCE);
        assertEquals(d.get("LOSS_SOFTMAX"), CudaKernels.LOSS_SOFTMAX);
        assertEquals(d.get("LIN_PLAIN"), CudaKernels.LIN_PLAIN);
        assertEquals(d.get("LIN_SINE"), CudaKernels.LIN_SINE);
        assertEquals(d.get("LIN_GATED"), CudaKernels.LIN_GATED);
        assertEquals(d.get("LIN_ACT"), CudaKernels.LIN_ACT);
        // Block reductions need whole warps, and no block may exceed 1024 threads.
        for (KernelSig k : Kernels.ALL) {
            int threads = k.blockX() * k.blockY();
            assertTrue(threads <= 1024, k.name());
            assertEquals(
                    k.params().isBlank() ? 0 : k.params().split(",").length,
                    k.parse().size(),
                    k.name() + ": every parameter parsed");
        }
    }
}
