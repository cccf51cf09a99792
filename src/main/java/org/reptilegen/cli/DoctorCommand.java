package org.reptilegen.cli;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import org.reptilegen.baseline.BaselineEngine;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.engine.cuda.CublasCheck;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.engine.cuda.Inventory;
import org.reptilegen.engine.cuda.LstmBaselineCuda;
import org.reptilegen.engine.cuda.Nvtx;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamInit;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.Norms;
import org.reptilegen.util.Rng;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "doctor",
        description = {
            "Checks this machine for reptile-gen, one line per check, each OK or FAIL with the fix (-- where a "
                    + "check does not apply): Java, the CUDA driver and its version, each GPU, the kernels in the jar and "
                    + "whether they cover this GPU and load on it, cuBLAS and cuDNN for the lstm baseline's cuda path "
                    + "(version, the library bound, the forwarding library), the NVTX library for Nsight.",
            "With --run, also a smoke test: a small LSTM's Reptile, FOMAML and MAML meta-gradients on cuda against cpu, "
                    + "graph replay against kernel-by-kernel launches, sampling, a cuBLAS SGEMM against a float64 product "
                    + "(on the cpu backend alone where there is no GPU); it stops at the first thing that fails.",
            "Exit status 1 when anything needed fails; without a GPU only --require-gpu makes that a failure."
        })
final class DoctorCommand implements Callable<Integer> {
    @Option(names = "--run", description = "Also run the smoke test on the device (a few seconds).")
    boolean run;

    @Option(
            names = "--require-gpu",
            description = "Fail when the cuda backend cannot run here (in a GPU container, say).")
    boolean requireGpu;

    /** Relative error bound of the smoke test's float32 device meta-gradients against the cpu backend's float64. */
    static final double BOUND = 2e-3;

    private int failures;

    private void ok(String what) {
        System.out.println("OK    " + what);
    }

    private void fail(String what, String fix) {
        failures++;
        System.out.println("FAIL  " + what + (fix == null ? "" : ": " + fix));
    }

    private static void na(String what) {
        System.out.println("--    " + what);
    }

    @Override
    public Integer call() {
        Runtime rt = Runtime.getRuntime();
        ok("Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + "), "
                + rt.availableProcessors() + " cores, heap up to " + Bytes.show(rt.maxMemory()));
        Inventory.Report inv = Inventory.take();
        boolean gpu = inv.loadProblem() == null;
        String driver = inv.driverLibrary() == null
                ? "libcuda.so.1"
                : inv.driverLibrary() + " (named by REPTILE_GEN_CUDA_DRIVER)";
        if (inv.driverProblem() != null) {
            String line = "no GPU: " + inv.driverProblem() + "; the cpu backend runs";
            String fix = "install the NVIDIA driver, and in Docker start the container with --gpus all";
            if (requireGpu) fail(line, fix);
            else na(line + " (for a GPU: " + fix + ")");
        } else {
            ok("CUDA driver " + driver + ", CUDA " + inv.driverVersion());
            if (inv.gpus().isEmpty()) {
                String line = "no GPU: the driver sees none; the cpu backend runs";
                if (requireGpu) fail(line, "check nvidia-smi, and CUDA_VISIBLE_DEVICES");
                else na(line);
            }
            for (Inventory.Gpu g : inv.gpus())
                ok("GPU " + g.index() + ": " + g.name() + ", " + Bytes.show(g.memoryBytes()) + ", compute capability "
                        + g.ccMajor() + "." + g.ccMinor() + (g.index() == 0 ? " (the one the cuda backend uses)" : ""));
        }
        List<String> archs = inv.kernelArchs();
        boolean needKernels = !inv.gpus().isEmpty() || requireGpu;
        if (archs.isEmpty()) {
            String line = "kernels: none in the jar (nvcc was not found when it was built)";
            String fix =
                    "build it where the CUDA toolkit is (nvcc on PATH, CUDA_HOME or /usr/local/cuda; the Docker image does)";
            if (needKernels) fail(line, fix);
            else na(line);
        } else if (inv.gpus().isEmpty()) {
            na("kernels in the jar: " + String.join(" ", archs));
        } else {
            Inventory.Gpu g = inv.gpus().get(0);
            String how = Inventory.coverage(archs, g.ccMajor(), g.ccMinor());
            if (how == null)
                fail(
                        "kernels in the jar (" + String.join(" ", archs) + ") do not cover GPU 0 (" + g.arch() + ")",
                        "rebuild the jar with an nvcc that knows " + g.arch());
            else ok("kernels in the jar: " + String.join(" ", archs) + "; GPU 0 runs them as " + how);
        }
        if (!inv.gpus().isEmpty() && !archs.isEmpty()) {
            if (gpu) ok("the cuda backend starts on GPU 0 (kernels loaded)");
            else
                fail(
                        "the cuda backend does not start on GPU 0: " + inv.loadProblem(),
                        "see the line above it; a driver older than the toolkit the jar was built with needs updating");
        }
        // cuBLAS and cuDNN serve the lstm baseline's cuda path alone: needed where the cuda backend would run.
        for (Inventory.NvidiaLibrary l : Inventory.nvidiaLibraries()) {
            if (l.problem() == null) ok(l.description());
            else if (!inv.gpus().isEmpty() || requireGpu) fail(l.problem(), null);
            else na(l.problem() + " (the lstm baseline's cuda path needs it)");
        }
        if (Nvtx.available()) ok("NVTX markers: Nsight Systems shows the engine's phases");
        else na("NVTX markers off (" + Nvtx.reason() + "): Nsight shows kernels without the engine's phases");
        if (run && failures == 0) {
            if (gpu) {
                smokeCuda();
                if (failures == 0) smokeCublas();
                if (failures == 0) smokeCudnn();
            } else {
                smokeCpu();
            }
        } else if (run) {
            na("smoke test not run: a check above failed");
        }
        return failures == 0 ? 0 : 1;
    }

    /** mnist-lstm's layers at width 32, and batches of its tasks. */
    static final ModelSpec SMALL_LSTM = new ModelSpec(
            TaskKind.MNIST,
            List.of(
                    new LayerSpec.Embed(List.of(new int[] {28, 16}, new int[] {28, 16})),
                    new LayerSpec.Linear(32, 32),
                    new LayerSpec.LayerNorm(32),
                    new LayerSpec.LstmBlock(32),
                    new LayerSpec.LayerNorm(32),
                    new LayerSpec.Linear(32, 1)));

    private static TaskBatch batch(int tasks, int steps, long seed) {
        Rng r = Rng.of(seed);
        int[][][] x = new int[tasks][steps][];
        int[][] y = new int[tasks][steps];
        for (int b = 0; b < tasks; b++)
            for (int t = 0; t < steps; t++) {
                x[b][t] = new int[] {t / 28 % 28, t % 28};
                y[b][t] = r.nextInt(2);
            }
        return new TaskBatch(TaskKind.MNIST, x, y);
    }

    private static EngineSettings settings(Algorithm a, Precision p) {
        return new EngineSettings(SMALL_LSTM, a, 0.05, 0, p, new Adam(1e-3, 0.9, 0.99, 1e-8), 0);
    }

    private static double[] theta() {
        return ParamInit.draw(SMALL_LSTM.layout(), Rng.of(1), true);
    }

    /** 3 tasks of 35 steps: two recorded graphs of 16 steps and 3 launched directly. */
    private void smokeCuda() {
        TaskBatch b = batch(3, 2 * 16 + 3, 2);
        double[] theta = theta();
        int n = theta.length;
        StringBuilder errs = new StringBuilder();
        for (Algorithm a : Algorithm.values()) {
            double[] want = new double[n], got = new double[n];
            try {
                try (CpuEngine cpu = new CpuEngine(settings(a, Precision.FLOAT64))) {
                    cpu.setState(TrainState.fresh(theta));
                    cpu.metaGradient(b, want);
                }
                try (CudaEngine gpu = new CudaEngine(settings(a, Precision.FLOAT32))) {
                    gpu.setState(TrainState.fresh(theta));
                    gpu.metaGradient(b, got);
                }
            } catch (RuntimeException e) {
                fail(
                        "smoke test: the " + a.configName() + " meta-gradient on cuda failed: " + Main.describe(e),
                        "run again with REPTILE_GEN_CUDA_SYNC=1 to name the kernel");
                return;
            }
            double e = Norms.relativeError(got, want);
            if (!(e < BOUND)) {
                fail(
                        "smoke test: the " + a.configName() + " meta-gradient on cuda is " + e
                                + " (relative) from the cpu backend's, over " + BOUND,
                        "report it with this output");
                return;
            }
            errs.append(errs.length() == 0 ? "" : ", ")
                    .append(a.configName())
                    .append(' ')
                    .append(String.format("%.1e", e));
        }
        ok("smoke test: a small LSTM's meta-gradients on cuda equal the cpu backend's (relative errors " + errs
                + ", bound " + BOUND + ")");
        double[][] g = new double[2][n];
        int[][][] s = new int[2][][];
        int[][] positions = new int[40][];
        for (int t = 0; t < positions.length; t++) positions[t] = new int[] {t / 28, t % 28};
        try {
            for (int v = 0; v < 2; v++)
                try (CudaEngine gpu = new CudaEngine(settings(Algorithm.FOMAML, Precision.FLOAT32))) {
                    gpu.useGraphs(v == 0);
                    gpu.setState(TrainState.fresh(theta));
                    gpu.metaGradient(b, g[v]);
                    s[v] = gpu.sample(positions, 4, 1.0, 3, false);
                }
        } catch (RuntimeException e) {
            fail(
                    "smoke test: graph capture and replay or sampling on cuda failed: " + Main.describe(e),
                    "run again with REPTILE_GEN_CUDA_SYNC=1 to name the kernel");
            return;
        }
        if (!Arrays.equals(g[0], g[1]) || !Arrays.deepEquals(s[0], s[1])) {
            fail(
                    "smoke test: replayed graphs give other results than kernel-by-kernel launches",
                    "report it with this output");
            return;
        }
        ok(
                "smoke test: replayed CUDA graphs give the bits of kernel-by-kernel launches; sampling 4 images of 40 pixels ran");
    }

    /** cuBLAS through JCublas2 and the forwarding library: SGEMM on GPU 0 against a float64 product. */
    private void smokeCublas() {
        CublasCheck.Result r = CublasCheck.sgemm();
        if (r.failure() != null) fail("smoke test: " + r.failure(), "report it with this output");
        else
            ok("smoke test: cuBLAS SGEMM (" + CublasCheck.M + "x" + CublasCheck.N + "x" + CublasCheck.K
                    + ", each transpose) on GPU 0 equals the float64 product (relative errors " + r.errors()
                    + ", bound " + String.format("%.0e", CublasCheck.BOUND) + ")");
    }

    /** The lstm baseline at width 16 (cuDNN's LSTM, cuBLAS's output layer, baseline.cu) against its cpu twin. */
    static final LstmBaseline SMALL_BASELINE = new LstmBaseline(TaskKind.MNIST, 8, 16, 2, false, TaskKind.IMAGE_SIDE);

    /** The lstm baseline's gradient on cuDNN and cuBLAS against the cpu twin's, then sampling. */
    private void smokeCudnn() {
        ModelSpec m = ModelSpec.of(SMALL_BASELINE);
        double[] theta = ParamInit.draw(m.layout(), Rng.of(2), true);
        TaskBatch b = batch(3, 40, 3);
        double[] want = new double[theta.length], got = new double[theta.length];
        int[][] positions = new int[40][];
        for (int t = 0; t < positions.length; t++) positions[t] = new int[] {t / 28, t % 28};
        try {
            try (BaselineEngine cpu = new BaselineEngine(baselineSettings(m, Precision.FLOAT64))) {
                cpu.setState(TrainState.fresh(theta));
                cpu.metaGradient(b, want);
            }
            try (LstmBaselineCuda gpu = new LstmBaselineCuda(baselineSettings(m, Precision.FLOAT32))) {
                gpu.setState(TrainState.fresh(theta));
                gpu.metaGradient(b, got);
                gpu.sample(positions, 4, 1.0, 3, false);
            }
        } catch (RuntimeException e) {
            fail(
                    "smoke test: the lstm baseline on cuDNN and cuBLAS failed: " + Main.describe(e),
                    "run again with REPTILE_GEN_CUDA_SYNC=1 to name the kernel; check the cuDNN line above");
            return;
        }
        double e = Norms.relativeError(got, want);
        if (!(e < BOUND)) {
            fail(
                    "smoke test: the lstm baseline's gradient on cuDNN and cuBLAS is " + e
                            + " (relative) from the cpu twin's, over " + BOUND,
                    "report it with this output");
            return;
        }
        ok("smoke test: the lstm baseline's gradient on cuDNN and cuBLAS equals the cpu twin's (relative error "
                + String.format("%.1e", e) + ", bound " + BOUND + "); sampling 4 images of 40 pixels ran");
    }

    private static EngineSettings baselineSettings(ModelSpec m, Precision p) {
        return new EngineSettings(m, Algorithm.REPTILE, 1e-3, 0, p, new Adam(1e-3, 0.9, 0.999, 1e-8), 0);
    }

    private void smokeCpu() {
        try (Engine cpu = new CpuEngine(settings(Algorithm.REPTILE, Precision.FLOAT32))) {
            cpu.setState(TrainState.fresh(theta()));
            double[] nll = cpu.metaStep(batch(3, 20, 2));
            int[][] s = cpu.sample(new int[][] {{0, 0}, {0, 1}, {0, 2}}, 2, 1.0, 3, false);
            if (!Arrays.stream(nll).allMatch(Double::isFinite)
                    || !Arrays.stream(cpu.state().theta()).allMatch(Double::isFinite)
                    || s.length != 2)
                fail(
                        "smoke test (cpu): a meta-step gave a loss or parameters that are not finite",
                        "report it with this output");
            else ok("smoke test (cpu): a meta-step and sampling of a small LSTM ran");
        } catch (RuntimeException e) {
            fail("smoke test (cpu): " + Main.describe(e), "report it with this output");
        }
    }
}
