package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.util.Bytes;

/**
 * Builds every step plan against placeholders (no GPU): every launch of every layer is checked against
 * its kernel's .cu parameter list, and the memory a batch needs is measured.
 */
class PlanBuildTest {

    static void buildAll(ModelSpec spec, int tasks, int steps) {
        for (boolean acc : new boolean[] {false, true}) {
            Workspace w = Workspace.shape(spec, tasks, steps).accumulating(acc).measuring();
            List<Launch> step = w.trainStep(1e-3f, acc);
            assertTrue(step.size() >= 2, "at least a forward and a backward");
            assertTrue(step.stream().noneMatch(l -> l.origin.isEmpty()), "every launch says what in the model made it");
            assertAdvancesOnceAtTheEnd(step);
            List<Launch> sample = w.plan.sampleStep(w.sgd(1e-3f, false), 0.8, true);
            assertEquals(
                    1,
                    sample.stream()
                            .filter(l -> l.sig.name().equals("sample_draw"))
                            .count(),
                    "one draw per sampling step");
            assertAdvancesOnceAtTheEnd(sample);
            // The launches around a task loop, with placeholders for theta, the meta-gradient and the moments.
            jcuda.driver.CUdeviceptr any = new jcuda.driver.CUdeviceptr();
            assertEquals(2, w.start(any, acc).size());
            assertEquals(
                    "meta_gradient_mean", w.metaGradientMean(any, any, acc).sig.name());
            assertEquals(
                    "adam_update",
                    Workspace.adamUpdate(
                                    sig -> null,
                                    spec.layout().size(),
                                    any,
                                    any,
                                    any,
                                    any,
                                    new org.reptilegen.core.Adam(1e-3, 0.9, 0.99, 1e-8),
                                    3)
                            .sig
                            .name());
        }
        // MAML: the checkpoints, every segment's recomputation and Hessian-vector steps, the mean.
        int k = MamlSegment.of(0, steps);
        Workspace w = Workspace.shape(spec, tasks, steps).maml(k).measuring();
        assertAdvancesOnceAtTheEnd(w.trainStep(1e-3f, false));
        jcuda.driver.CUdeviceptr any = new jcuda.driver.CUdeviceptr();
        assertEquals((steps + k - 1) / k, w.checkpoints, "a checkpoint before every K steps");
        for (int seg = 0; seg < w.checkpoints; seg++)
            assertEquals("rows_copy", w.checkpoint(seg).sig.name());
        assertEquals(1, w.mamlStart().size(), "lambda_T = 0 is MAML's only reset");
        List<Launch> last = w.mamlSegmentReverse(w.checkpoints - 1, steps, 1e-3f);
        assertEquals("step_add", last.get(last.size() - 1).sig.name());
        assertEquals(
                "rows_copy",
                w.mamlSegmentReverse(0, steps, 1e-3f).get(0).sig.name(),
                "a segment restarts from its checkpoint");
        assertEquals("meta_gradient_mean", w.mamlMean(any, any).sig.name());
    }

    /**
     * The step counter moves once, at the end: step_advance, or the last launch is a linear's backward
     * that advances it itself (its stepArrivals argument set), and no other launch does.
     */
    static void assertAdvancesOnceAtTheEnd(List<Launch> step) {
        Launch last = step.get(step.size() - 1);
        long advancing = step.stream().filter(PlanBuildTest::advancesStep).count();
        assertTrue(
                advancesStep(last) && advancing == 1,
                "the step counter's advance: "
                        + step.stream().map(l -> l.sig.name()).toList());
    }

    private static boolean advancesStep(Launch l) {
        if (l.sig.name().equals("step_advance")) return true;
        return l.sig.name().equals("linear_backward_update") && l.args.get(l.args.size() - 1) != Launch.NULL;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.reptilegen.engine.cuda.CudaTestModels#layerCases")
    void everyLayersLaunchesMatchTheirKernels(String name, ModelSpec spec) {
        buildAll(spec, 3, 5);
    }

    @Test
    void referenceModelsBuild() {
        buildAll(CudaTestModels.MNIST_LSTM, 50, 784);
        buildAll(CudaTestModels.TEXT_MLP, 50, 128);
        buildAll(CudaTestModels.MNIST_SIREN, 50, 784);
    }

    /**
     * mnist-lstm's step: embed, 3 layernorm, 2 lstm, 2 linear make forward 8, loss 1, backward 8, advance 1:
     * 18 launches. Each layernorm sits between two big layers, so the one before runs its forward and the
     * one after its backward, the first linear reads the embedding's tables and updates them and advances
     * the step counter, and the head forms the loss's gradient in its backward: 8 launches, none of them a
     * layernorm's, the embedding's, the loss's or step_advance. MAML's Hessian-vector step keeps their own kernels for the tangents; its recomputation is
     * the plain step.
     */
    @Test
    void mnistLstmFoldsItsSmallLayersIntoTheirNeighbours() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        List<Launch> step = Workspace.shape(m, 50, 784).measuring().trainStep(1e-3f, false);
        assertEquals(8, step.size());
        assertTrue(
                step.stream()
                        .noneMatch(l -> l.sig.name().startsWith("layernorm_")
                                || l.sig.name().startsWith("embed_")
                                || l.sig.name().contains("loss")
                                || l.sig.name().startsWith("step_")),
                "no separate small launch");
        PlanOptions own = PlanOptions.DEFAULT.withSmallLayersFolded(false);
        List<Launch> unfolded =
                Workspace.shape(m, 50, 784).options(own).measuring().trainStep(1e-3f, false);
        assertEquals(18, unfolded.size());
        assertAdvancesOnceAtTheEnd(unfolded);
        assertAdvancesOnceAtTheEnd(step);
        Workspace maml = Workspace.shape(m, 2, 8).maml(4).measuring();
        List<Launch> hvp = maml.plan.hvpStep(maml.params, 0.1);
        assertEquals(
                9,
                hvp.stream().filter(l -> l.sig.name().startsWith("layernorm_")).count(),
                "each layernorm's forward, forward tangent and backward tangent");
        assertEquals(
                3,
                hvp.stream().filter(l -> l.sig.name().startsWith("embed_")).count(),
                "two gathers, the adjoint scatter");
        assertEquals(
                1,
                hvp.stream()
                        .filter(l -> l.sig.name().equals("bce_loss_grad_tangent"))
                        .count());
        Workspace sampling = Workspace.shape(m, 2, 8).measuring();
        List<Launch> sample = sampling.plan.sampleStep(sampling.sgd(1e-3f, false), 1.0, false);
        assertTrue(
                sample.stream().noneMatch(l -> l.sig.name().contains("loss")),
                "sampling: the head's backward forms the loss of the drawn bit");
        assertAdvancesOnceAtTheEnd(sample);
    }

    /** What the automatic row splits give mnist-lstm's fused backward launches on a 132-SM card. */
    @Test
    void automaticRowSplitsOfMnistLstm() {
        PlanOptions h100 = PlanOptions.of(RowSplits.auto(132));
        assertEquals(
                "1,3,3,1",
                Workspace.shape(CudaTestModels.MNIST_LSTM, 50, 784)
                        .options(h100)
                        .measuring()
                        .plan
                        .splitCounts());
        assertEquals(
                "1,4,4,1",
                Workspace.shape(CudaTestModels.MNIST_LSTM, 8, 784)
                        .options(h100)
                        .measuring()
                        .plan
                        .splitCounts());
        assertEquals(
                "1,1,1,1",
                Workspace.shape(CudaTestModels.MNIST_LSTM, 256, 784)
                        .options(h100)
                        .measuring()
                        .plan
                        .splitCounts());
        assertEquals(
                "1,1,1,1",
                Workspace.shape(CudaTestModels.MNIST_LSTM, 50, 784)
                        .measuring()
                        .plan
                        .splitCounts());
    }

    /**
     * The folded linear gathers the embedding into shared memory of CudaKernels.LINEAR_EMBED_MAX floats: a
     * wider embedding keeps its own kernels. The plain linear_forward is used wherever nothing is folded.
     */
    @Test
    void onlyEmbeddingsThatFitTheFoldedLinearAreFolded() {
        int wide = CudaKernels.LINEAR_EMBED_MAX + 1;
        ModelSpec m = new ModelSpec(
                org.reptilegen.model.TaskKind.MNIST,
                List.of(
                        new org.reptilegen.model.LayerSpec.Embed(List.of(new int[] {4, wide - 3}, new int[] {4, 3})),
                        CudaTestModels.lin(wide, 1)));
        List<String> names = Workspace.shape(m, 2, 3).measuring().trainStep(1e-3f, false).stream()
                .map(l -> l.sig.name())
                .toList();
        assertTrue(names.contains("embed_gather_forward") && names.contains("embed_scatter_update"), names.toString());
        assertTrue(names.contains("linear_forward") && !names.contains("linear_forward_folded"), names.toString());
        List<String> lstm =
                Workspace.shape(CudaTestModels.MNIST_LSTM, 2, 3).measuring().trainStep(1e-3f, false).stream()
                        .map(l -> l.sig.name())
                        .toList();
        assertEquals(
                List.of("linear_forward_folded", "lstm_block_forward", "lstm_block_forward", "linear_forward"),
                lstm.subList(0, 4));
    }

    /**
     * text-mlp's six linear -> relu pairs run as one forward and one backward launch each: embed, 7 linear,
     * loss, 7 linear backward, embed scatter, advance = 18 launches (30 with relu as its own kernels); the
     * embedding folded into the first linear takes out its two, the loss formed in the head's backward and
     * the step counter advanced by the first linear's one each: 14.
     */
    @Test
    void textMlpFusesEachLinearReluPair() {
        List<Launch> step =
                Workspace.shape(CudaTestModels.TEXT_MLP, 50, 128).measuring().trainStep(1e-3f, false);
        assertEquals(14, step.size());
        assertTrue(
                step.stream().noneMatch(l -> l.sig.name().startsWith("activation_")), "no separate activation launch");
        Workspace m = Workspace.shape(CudaTestModels.TEXT_MLP, 2, 8).maml(4).measuring();
        assertTrue(
                m.plan.hvpStep(m.params, 0.1).stream()
                        .noneMatch(l -> l.sig.name().startsWith("activation_")),
                "no separate activation launch in MAML's step");
    }

    /**
     * mnist-gated's seven linear -> gated pairs run as one forward and one backward launch each. With gated
     * as its own kernels the step was 45 launches: forward 21 (embed, 8 linear, 7 gated, 3 layernorm,
     * gate_mul), loss 1, backward 22 (the same, plus the residual's add), advance 1. Fused: 45 - 2 * 7 = 31.
     * MAML's Hessian-vector step was 60: each pair also ran gated_forward, gated_forward_tangent and
     * gated_backward_tangent. Fused: 60 - 3 * 7 = 39. The adjoint update inside the backward tangents then
     * took out maml_adjoint and one of the embedding's two scatters: 37. Of its three layernorms, the first
     * follows a linear -> gated pair (forward tail; the others follow the residual block or open it) and
     * all three feed a linear (backward tail), the embedding and the step counter's advance are folded into
     * the first linear and the loss into the head: 23.
     */
    @Test
    void mnistGatedFusesEachLinearGatedPair() {
        buildAll(CudaTestModels.MNIST_GATED, 50, 784);
        List<Launch> step =
                Workspace.shape(CudaTestModels.MNIST_GATED, 50, 784).measuring().trainStep(1e-3f, false);
        assertEquals(23, step.size());
        assertTrue(step.stream().noneMatch(l -> l.sig.name().startsWith("gated_")), "no separate gated launch");
        assertEquals(
                2,
                step.stream()
                        .filter(l -> l.sig.name().equals("layernorm_forward"))
                        .count(),
                "those around the residual");
        Workspace m = Workspace.shape(CudaTestModels.MNIST_GATED, 2, 8).maml(4).measuring();
        List<Launch> hvp = m.plan.hvpStep(m.params, 0.1);
        assertEquals(37, hvp.size());
        assertTrue(
                hvp.stream().noneMatch(l -> l.sig.name().startsWith("gated_")),
                "no separate gated launch in MAML's step");
    }

    @Test
    void mnistLstmWithAThousandTasksFitsAnEightyGigabyteCard() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        assertEquals(1_125_889, m.layout().size());
        long reptile = Workspace.shape(m, 1024, 784).bytes();
        long fomaml = Workspace.shape(m, 1024, 784).accumulating(true).bytes();
        long params = 1024L * 1_125_889 * 4;
        assertTrue(reptile >= params && reptile < params + (200L << 20), "reptile: " + Bytes.show(reptile));
        assertTrue(fomaml >= 2 * params && fomaml < 2 * params + (200L << 20), "fomaml: " + Bytes.show(fomaml));
        assertTrue(fomaml < 70L << 30);
        long perTask =
                Workspace.shape(m, 2, 784).bytes() - Workspace.shape(m, 1, 784).bytes();
        assertTrue(perTask >= 1_125_889L * 4 && perTask < 1_125_889L * 4 + (64 << 10), Bytes.show(perTask));
    }

    /**
     * MAML over T = 784 with K = 28 keeps 28 checkpoints, 28 segment states, the task copies and lambda:
     * 58 copies of the parameters per task (261 MB for mnist-lstm), two fewer than the CPU engine's
     * ceil(T / K) + K + 4 (the backward tangent kernels update lambda in place, so a step's gradient and
     * H lambda have no rows), so about 300 tasks fit an 80 GB card.
     */
    @Test
    void mamlMemoryIsFiftyEightCopiesOfTheParametersPerTask() {
        ModelSpec m = CudaTestModels.MNIST_LSTM;
        int k = MamlSegment.of(0, 784);
        assertEquals(28, k);
        long perTask = Workspace.shape(m, 2, 784).maml(k).bytes()
                - Workspace.shape(m, 1, 784).maml(k).bytes();
        long copies = 1_125_889L * 4 * 58;
        assertTrue(perTask >= copies && perTask < copies + (128 << 10), Bytes.show(perTask));
        assertEquals(58, CudaEngine.mamlRowsPerTask(784, 0));
        assertEquals(60L * 1_125_889 * 4, org.reptilegen.engine.cpu.InnerLoops.mamlBytesPerTask(1_125_889, 784, 28, 4));
        assertEquals(
                784, MamlSegment.of(0, 784) * Workspace.shape(m, 1, 784).maml(k).measuring().checkpoints);
        assertEquals(5, MamlSegment.of(5, 784));
        assertEquals(3, MamlSegment.of(5, 3));
    }

    @Test
    void automaticRowSplitsFillTheLastWave() {
        // 132 multiprocessors hold 528 blocks. mnist-lstm's lstm_block at B = 50: 16 slabs x 50 tasks = 800
        // blocks, a last wave of 272; 3 splits of its 1,024 rows make 2,400, four full waves and one of 288.
        RowSplits h100 = RowSplits.auto(132);
        assertEquals(3, h100.splits(800, 1024));
        // At B = 8 its 128 blocks would leave most multiprocessors idle: 4 splits (of 256 rows) make 512.
        assertEquals(4, h100.splits(128, 1024));
        // linear(256, 256): 256 rows are one split's least.
        assertEquals(1, h100.splits(400, 256));
        assertEquals(1, RowSplits.NONE.splits(800, 1024));
        assertEquals(3, RowSplits.fixed(3).splits(800, 1024));
        assertEquals(2, RowSplits.fixed(3).splits(800, 2));
    }
}
