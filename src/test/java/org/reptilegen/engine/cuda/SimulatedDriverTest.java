package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;
import jcuda.driver.JCudaDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.model.ModelSpec;

/**
 * The simulated CUDA driver itself (src/test/cuda-sim): that it catches what a GPU would, with bugs
 * planted on purpose, each of which must make a check of the gpu tests fail; that results do not depend
 * on the order in which blocks and threads run or on how many workers run them; and that an engine
 * leaves nothing behind. Runs only where the simulated driver runs the cuda engine (pom.xml's
 * gpu-on-simulated-driver run).
 */
@Tag("simulator")
class SimulatedDriverTest {

    @BeforeEach
    void onTheSimulator() {
        SimulatedDriver.assumeActive();
        SimulatedDriver.reset();
    }

    @AfterEach
    void back() {
        SimulatedDriver.reset();
    }

    /** The check that a planted bug must fail: the engine's FOMAML meta-gradient and NLL against the CPU's. */
    private static void fomamlAgainstTheCpu(String layerCase) {
        ModelSpec m = CudaTestModels.layerCase(layerCase);
        EveryLayerGpuTest.compareMetaGradient(
                m, Algorithm.FOMAML, 0.5, CudaTestModels.batch(m, 3, 3, 22, true), 32, layerCase);
    }

    /** The line of kernels/common.cuh whose __syncthreads() lets block_sum's second half read every warp's sum. */
    private static int blockSumBarrierLine() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("kernels", "common.cuh"));
        int barrier = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains("__syncthreads()")) barrier = i + 1;
            if (lines.get(i).contains("return warp_sum(lane < warps")) return barrier;
        }
        throw new IllegalStateException("kernels/common.cuh: block_sum's last barrier not found");
    }

    @Test
    void aMissingBarrierFailsTheComparisonWithTheCpu() throws IOException {
        fomamlAgainstTheCpu("layernorm");
        SimulatedDriver.plant("missing-barrier", "common.cuh", blockSumBarrierLine(), 0);
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> fomamlAgainstTheCpu("layernorm"));
        assertTrue(e.getMessage().contains("layernorm"), e.getMessage());
    }

    @Test
    void swappedKernelArgumentsFailTheComparisonWithTheCpu() {
        fomamlAgainstTheCpu("linear");
        // linear_forward(p, P, wOff, bOff, in, out, ...): in and out swapped, as a Java launch could pass them.
        SimulatedDriver.plant("swap-arguments", "linear_forward", 4, 5);
        Throwable e = assertThrows(Throwable.class, () -> fomamlAgainstTheCpu("linear"));
        assertTrue(e instanceof AssertionFailedError || e instanceof DeviceException, e.toString());
        assertTrue(
                SimulatedDriver.takeReport().contains("linear_forward") || e instanceof AssertionFailedError,
                e.toString());
    }

    @Test
    void aCopyOneElementShortLeavesANaNThatFailsTheComparison() {
        ModelSpec m = CudaTestModels.layerCase("relu");
        double[] theta = CudaTestModels.params(m, 32);
        TaskBatch batch = CudaTestModels.batch(m, 3, 3, 22, true);
        double[] want = new double[theta.length], got = new double[theta.length];
        EveryLayerGpuTest.cpuMetaGradient(
                EveryLayerGpuTest.cpuSettings(m, Algorithm.FOMAML, 0.5), TrainState.fresh(theta), batch, want);
        try (CudaEngine gpu = new CudaEngine(EveryLayerGpuTest.gpuSettings(m, Algorithm.FOMAML, 0.5))) {
            SimulatedDriver.plant("short-copy", "", Float.BYTES, 0); // theta's upload, its last float left out
            gpu.setState(TrainState.fresh(theta));
            gpu.metaGradient(batch, got);
        }
        assertTrue(SimulatedDriver.takeReport().contains("planted"));
        assertThrows(AssertionFailedError.class, () -> EveryLayerGpuTest.assertClose(want, got, "short copy"));
    }

    @Test
    void aBufferFreedBeforeItsGraphIsReplayedIsAnError() {
        try (Device dev = Device.open()) {
            dev.enter();
            int n = 1000;
            CUdeviceptr buf = dev.alloc(4L * n, "a buffer");
            CUgraphExec exec = dev.capture(() -> dev.run(Kernels.rowsZero()
                    .grid(Launch.blocks(n, 256), 1)
                    .dst(buf)
                    .P(n)
                    .B(1)
                    .build(dev::function)));
            dev.replay(exec);
            dev.sync("the first replay");
            dev.free(buf);
            DeviceException e = assertThrows(DeviceException.class, () -> {
                dev.replay(exec);
                dev.sync("a replay after the free");
            });
            assertTrue(e.getMessage().contains("ILLEGAL_ADDRESS"), e.getMessage());
            String report = SimulatedDriver.takeReport();
            assertTrue(report.contains("rows_zero") && report.contains("freed"), report);
            dev.destroy(exec);
        } catch (DeviceException closing) {
            // the context holds the fault; closing resets it
        }
        assertContextGone();
    }

    @Test
    void aKernelFaultIsReportedAndTheNextEngineStartsClean() {
        ModelSpec m = CudaTestModels.layerCase("linear");
        TaskBatch batch = CudaTestModels.batch(m, 3, 3, 22, true);
        SimulatedDriver.plant("fault-launch", "linear_forward", 2, 0);
        DeviceException e = assertThrows(DeviceException.class, () -> {
            try (CudaEngine gpu = new CudaEngine(EveryLayerGpuTest.gpuSettings(m, Algorithm.FOMAML, 0.5))) {
                gpu.setState(TrainState.fresh(CudaTestModels.params(m, 32)));
                gpu.metaGradient(batch, new double[m.layout().size()]);
            }
        });
        assertTrue(e.getMessage().contains("ILLEGAL_ADDRESS"), e.getMessage());
        String report = SimulatedDriver.takeReport();
        assertTrue(report.contains("linear_forward") && report.contains("planted"), report);
        assertContextGone();
        fomamlAgainstTheCpu("linear");
        assertNothingLeft();
    }

    /**
     * With every launch waited for (the debug switch), the error names the kernel, the layer that launched
     * it, its grid and its scalar arguments.
     */
    @Test
    void withEveryLaunchWaitedForAFaultNamesItsLaunch() {
        ModelSpec m = CudaTestModels.layerCase("linear");
        System.setProperty(Device.SYNC_PROPERTY, "true");
        try {
            SimulatedDriver.plant("fault-launch", "linear_backward_update", 1, 0);
            DeviceException e = assertThrows(DeviceException.class, () -> {
                try (CudaEngine gpu = new CudaEngine(EveryLayerGpuTest.gpuSettings(m, Algorithm.FOMAML, 0.5))) {
                    assertTrue(gpu.description().contains(Device.SYNC_ENV), gpu.description());
                    gpu.setState(TrainState.fresh(CudaTestModels.params(m, 32)));
                    gpu.metaGradient(
                            CudaTestModels.batch(m, 3, 3, 22, true),
                            new double[m.layout().size()]);
                }
            });
            assertTrue(
                    e.getMessage().contains(" linear_backward_update (module_1 linear backward")
                            && e.getMessage().contains(") on a (")
                            && e.getMessage().contains(" with P="),
                    e.getMessage());
        } finally {
            System.clearProperty(Device.SYNC_PROPERTY);
        }
        assertContextGone();
    }

    @Test
    void anOutOfBoundsWriteIsCaughtAndNamesTheAllocation() {
        try (Device dev = Device.open()) {
            dev.enter();
            int n = 300;
            CUdeviceptr buf = dev.alloc(4L * n, "a buffer");
            dev.run(Kernels.rowsZero()
                    .grid(Launch.blocks(n + 1, 256), 1)
                    .dst(buf)
                    .P(n + 1)
                    .B(1)
                    .build(dev::function));
            DeviceException e = assertThrows(DeviceException.class, () -> dev.sync("the launch"));
            assertTrue(e.getMessage().contains("ILLEGAL_ADDRESS"), e.getMessage());
            String report = SimulatedDriver.takeReport();
            assertTrue(report.contains("rows_zero") && report.contains("past the end of the"), report);
        } catch (DeviceException closing) {
            // the context holds the fault; closing resets it
        }
        assertContextGone();
    }

    @Test
    void copiesOfTheWrongSizeAndLaunchesWithTheWrongArgumentsAreRefused() {
        try (Device dev = Device.open()) {
            dev.enter();
            CUdeviceptr buf = dev.alloc(1024, "a buffer");
            DeviceException e = assertThrows(
                    DeviceException.class, () -> dev.download(Pointer.to(new float[512]), buf, 2048, "too much"));
            assertTrue(e.getMessage().contains("INVALID_VALUE"), e.getMessage());
            assertTrue(SimulatedDriver.takeReport().contains("runs 1024 bytes past the end"));
            // rows_zero(float* dst, int P, int B) given two arguments, then four.
            Pointer two = Pointer.to(Pointer.to(buf), Pointer.to(new int[] {256}), new Pointer());
            Pointer four = Pointer.to(
                    Pointer.to(buf),
                    Pointer.to(new int[] {256}),
                    Pointer.to(new int[] {1}),
                    Pointer.to(new int[] {1}),
                    new Pointer());
            for (Pointer args : new Pointer[] {two, four}) {
                CudaException c = assertThrows(
                        CudaException.class,
                        () -> JCudaDriver.cuLaunchKernel(
                                dev.function(Kernels.ROWS_ZERO), 1, 1, 1, 256, 1, 1, 0, dev.stream, args, null));
                assertTrue(c.getMessage().contains("INVALID_VALUE"), c.getMessage());
            }
            String report = SimulatedDriver.takeReport();
            assertTrue(
                    report.contains("2 arguments, the kernel takes 3") && report.contains("more than the 3 arguments"),
                    report);
            // A pointer into freed memory.
            CUdeviceptr gone = dev.alloc(1024, "a buffer freed");
            dev.free(gone);
            dev.run(Kernels.rowsZero().grid(1, 1).dst(gone).P(256).B(1).build(dev::function));
            assertThrows(DeviceException.class, () -> dev.sync("a launch on freed memory"));
            assertTrue(SimulatedDriver.takeReport().contains("in freed memory"));
        } catch (DeviceException closing) {
            // the context holds the fault; closing resets it
        }
        assertContextGone();
    }

    @Test
    void anEntryPointTheSimulatorLacksAnswersNotSupportedAndSaysWhich() {
        try (Device dev = Device.open()) {
            dev.enter();
            CudaException e =
                    assertThrows(CudaException.class, () -> JCudaDriver.cuMemAllocManaged(new CUdeviceptr(), 1024, 1));
            assertTrue(e.getMessage().contains("NOT_SUPPORTED"), e.getMessage());
            assertTrue(SimulatedDriver.takeReport().contains("cuMemAllocManaged"));
            // Allocating while a stream is recorded invalidates the recording, as on a GPU.
            DeviceException c =
                    assertThrows(DeviceException.class, () -> dev.capture(() -> dev.alloc(64, "during a capture")));
            assertTrue(c.getMessage().contains("allocating"), c.getMessage());
            String report = SimulatedDriver.takeReport();
            assertTrue(report.contains("cuMemAlloc") && report.contains("captur"), report);
            dev.sync("after the failed capture");
        }
        assertNothingLeft();
    }

    /**
     * Results are the same bits whatever order blocks run in (forward, reverse, seeded shuffles), with
     * threads between barriers picked lowest first, highest first or at random, on one worker or
     * several at once (where the last-block patterns meet real interleavings): FOMAML through nested
     * residuals, an lstm_block, MAML, folded layernorms with 3 row splits, and text sampling.
     */
    @Test
    void blockAndThreadOrderAndWorkerCountDoNotChangeABit() {
        String[][] settings = {
            {"forward", "1"}, {"reverse", "1"}, {"shuffle:1", "2"}, {"shuffle:2", "3"}, {"reverse", "4"}
        };
        List<double[]> first = null;
        for (String[] s : settings) {
            SimulatedDriver.configure(s[0], Integer.parseInt(s[1]));
            List<double[]> got = orderSensitiveResults();
            if (first == null) first = got;
            else
                for (int i = 0; i < got.size(); i++)
                    assertArrayEquals(first.get(i), got.get(i), 0.0, SimulatedDriver.settings() + ": result " + i);
        }
    }

    private static List<double[]> orderSensitiveResults() {
        List<double[]> out = new ArrayList<>();
        out.add(metaGradient(CudaTestModels.layerCase("nested residuals"), Algorithm.FOMAML, 0, 0, 3));
        out.add(metaGradient(CudaTestModels.layerCase("lstm_block"), Algorithm.REPTILE, 0, 0, 2));
        out.add(metaGradient(CudaTestModels.layerCase("nested residuals"), Algorithm.MAML, 2, 0, 3));
        out.add(metaGradient(CudaTestModels.layerCase("layernorms around lstm_block"), Algorithm.FOMAML, 0, 3, 2));
        ModelSpec text = CudaTestModels.TINY_TEXT;
        try (CudaEngine gpu = new CudaEngine(EveryLayerGpuTest.gpuSettings(text, Algorithm.REPTILE, 0.1))) {
            gpu.setState(TrainState.fresh(CudaTestModels.params(text, 39)));
            int[][] s = gpu.sample(EveryLayerGpuTest.positions(true, 9), 6, 0.9, 11, true);
            out.add(Arrays.stream(s)
                    .flatMapToInt(Arrays::stream)
                    .asDoubleStream()
                    .toArray());
        }
        return out;
    }

    /** The meta-gradient followed by the NLL, of a batch of 3 tasks. */
    private static double[] metaGradient(ModelSpec m, Algorithm alg, int segment, int splits, int steps) {
        var s = new org.reptilegen.engine.EngineSettings(
                m, alg, 0.3, segment, org.reptilegen.core.Precision.FLOAT32, EveryLayerGpuTest.ADAM, 1);
        try (CudaEngine gpu = new CudaEngine(s)) {
            if (splits > 0) gpu.useRowSplits(splits);
            gpu.setState(TrainState.fresh(CudaTestModels.params(m, 42)));
            double[] g = new double[m.layout().size()];
            double[] nll = gpu.metaGradient(CudaTestModels.batch(m, 3, steps, 41, true), g);
            double[] both = Arrays.copyOf(g, g.length + nll.length);
            System.arraycopy(nll, 0, both, g.length, nll.length);
            return both;
        }
    }

    /** An engine that ran every kind of work leaves no memory, module, stream, event or graph behind. */
    @Test
    void anEngineLeavesNothingBehind() {
        ModelSpec m = CudaTestModels.TINY_MNIST;
        try (CudaEngine gpu = new CudaEngine(EveryLayerGpuTest.gpuSettings(m, Algorithm.FOMAML, 0.1))) {
            gpu.setState(TrainState.fresh(CudaTestModels.params(m, 5)));
            gpu.metaStep(CudaTestModels.batch(m, 3, 2 * InnerLoopRunner.STEPS_PER_GRAPH + 3, 6, true));
            gpu.evaluate(CudaTestModels.batch(m, 2, 5, 7, false));
            gpu.sample(EveryLayerGpuTest.positions(false, 20), 3, 1.0, 8, false);
            gpu.timeInnerLoops(CudaTestModels.batch(m, 2, 4, 9, false));
        }
        assertNothingLeft();
        assertTrue(SimulatedDriver.live()[8] > 0, "no kernel ran");
    }

    /**
     * Between engines only the process's hold on the device stays (the context, retained once, and the
     * kernels' module); released, nothing was held with it, and nothing is left.
     */
    private static void assertNothingLeft() {
        long[] live = SimulatedDriver.live();
        assertEquals(
                "[0, 0, 1, 0, 0, 0, 0, 1]",
                Arrays.toString(Arrays.copyOf(live, 8)),
                "allocations, bytes, modules, streams, events, graphs, executable graphs, context references");
        assertTrue(Device.releaseWhenIdle(), "an engine is still open");
        assertContextGone();
        assertEquals("", SimulatedDriver.lastLeak());
    }

    /**
     * After a fault: the primary context released and reset, so nothing is held any more, although what
     * the broken context held could not be freed one by one.
     */
    private static void assertContextGone() {
        long[] live = SimulatedDriver.live();
        assertEquals(
                "[0, 0, 0, 0, 0, 0, 0, 0]",
                Arrays.toString(Arrays.copyOf(live, 8)),
                "allocations, bytes, modules, streams, events, graphs, executable graphs, context references");
    }
}
