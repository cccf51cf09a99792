package org.reptilegen.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.model.TaskKind;

class CheckpointTest {

    @TempDir
    Path dir;

    static ModelSpec mnistLstm() {
        return new ModelSpec(
                TaskKind.MNIST,
                List.of(
                        new LayerSpec.Embed(List.of(new int[] {28, 128}, new int[] {28, 128})),
                        new LayerSpec.Linear(256, 256),
                        new LayerSpec.LayerNorm(256),
                        new LayerSpec.LstmBlock(256),
                        new LayerSpec.LayerNorm(256),
                        new LayerSpec.LstmBlock(256),
                        new LayerSpec.LayerNorm(256),
                        new LayerSpec.Linear(256, 1)));
    }

    static ModelSpec textMlp() {
        List<LayerSpec> layers = new ArrayList<>();
        layers.add(new LayerSpec.Embed(List.<int[]>of(new int[] {128, 512})));
        for (int i = 0; i < 6; i++) {
            layers.add(new LayerSpec.Linear(512, 512));
            layers.add(new LayerSpec.Activation(LayerSpec.Activation.Kind.RELU));
        }
        layers.add(new LayerSpec.Linear(512, 256));
        return new ModelSpec(TaskKind.TEXT, layers);
    }

    static ModelSpec small(int hidden) {
        return new ModelSpec(
                TaskKind.MNIST,
                List.of(
                        new LayerSpec.Embed(List.of(new int[] {28, 4}, new int[] {28, 4})),
                        new LayerSpec.Linear(8, hidden),
                        new LayerSpec.Activation(LayerSpec.Activation.Kind.TANH),
                        new LayerSpec.Linear(hidden, 1)));
    }

    static double[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextGaussian();
        return v;
    }

    private static void assertShape(ParamLayout layout, String name, int... shape) {
        ParamLayout.Tensor t = layout.tensor(name);
        assertNotNull(t, "no parameter " + name);
        assertArrayEquals(shape, t.shape(), name);
    }

    @Test
    void referenceLayoutsHaveTheSpecNamesAndCounts() {
        ParamLayout lstm = mnistLstm().layout();
        assertEquals(1_125_889, lstm.size());
        assertShape(lstm, "module_0.module_0.table", 28, 128);
        assertShape(lstm, "module_0.module_1.table", 28, 128);
        assertShape(lstm, "module_1.linear.weight", 256, 256);
        assertShape(lstm, "module_2.norm.weight", 256);
        assertShape(lstm, "module_3.hidden_vec", 256);
        for (String gate : new String[] {"forget_gate", "input_gate", "output_gate", "updater"}) {
            assertShape(lstm, "module_3." + gate + ".linear.weight", 256, 512);
            assertShape(lstm, "module_5." + gate + ".linear.bias", 256);
        }
        assertShape(lstm, "module_6.norm.bias", 256);
        assertShape(lstm, "module_7.linear.weight", 1, 256);
        assertShape(lstm, "module_7.linear.bias", 1);

        ParamLayout mlp = textMlp().layout();
        assertEquals(1_772_800, mlp.size());
        assertShape(mlp, "module_0.module_0.table", 128, 512);
        assertShape(mlp, "module_1.linear.weight", 512, 512);
        assertShape(mlp, "module_11.linear.bias", 512);
        assertShape(mlp, "module_13.linear.weight", 256, 512);
        assertNull(mlp.tensor("module_2.linear.weight"), "relu has no parameters but keeps its index");
    }

    @Test
    void referenceModelRoundTripsByName() {
        ParamLayout layout = mnistLstm().layout();
        double[] theta = random(layout.size(), 1);
        double[] m = random(layout.size(), 2);
        double[] v = random(layout.size(), 3);
        for (int i = 0; i < v.length; i++) v[i] = v[i] * v[i];
        Path p = dir.resolve("lstm.safetensors");
        Checkpoint.write(p, layout, theta, m, v, null, Map.of("step", "100"), true);

        Checkpoint.Loaded c = Checkpoint.read(p);
        assertArrayEquals(theta, c.params(layout), 0.0);
        assertArrayEquals(m, c.adamM(layout), 0.0);
        assertArrayEquals(v, c.adamV(layout), 0.0);
        assertEquals("100", c.metadata().get("step"));

        // by name, as a PyTorch user would load it
        ParamLayout.Tensor w = layout.tensor("module_3.forget_gate.linear.weight");
        double[] byName = c.tensor("module_3.forget_gate.linear.weight");
        assertEquals(256 * 512, byName.length);
        for (int i = 0; i < byName.length; i++) assertEquals(theta[w.offset() + i], byName[i], 0.0);
        ParamLayout.Tensor b = layout.tensor("module_7.linear.bias");
        assertEquals(m[b.offset()], c.tensor("optimizer.exp_avg.module_7.linear.bias")[0], 0.0);
        assertEquals(3 * layout.tensors().size(), c.tensors().size());

        Safetensors.TensorInfo info = c.tensors().get(0);
        assertEquals("module_0.module_0.table", info.name());
        assertEquals("[28, 128]", info.shapeString());
        assertEquals("F64", info.dtype());
    }

    @Test
    void float32IsTheDefaultAndRounds() {
        ParamLayout layout = textMlp().layout();
        double[] theta = random(layout.size(), 4);
        Path p = dir.resolve("mlp.safetensors");
        Checkpoint.writeParams(p, layout, theta, false, null);
        assertEquals(layout.size() * 4L, sizeWithoutHeader(p));
        Checkpoint.Loaded c = Checkpoint.read(p);
        double[] back = c.params(layout);
        for (int i = 0; i < theta.length; i++) assertEquals((float) theta[i], back[i], 0.0);
        assertFalse(c.hasOptimizerState());
        assertNull(c.adamM(layout));
        assertNull(c.adamV(layout));
        assertTrue(c.innerLr(layout).isEmpty());
        assertTrue(c.has("module_13.linear.weight"));
        assertFalse(c.has("module_2.linear.weight"));
    }

    @Test
    void innerLearningRatesAndMetadataRoundTrip() {
        ParamLayout layout = small(16).layout();
        double[] theta = random(layout.size(), 5);
        Map<String, double[]> lr = new LinkedHashMap<>();
        lr.put("module_3.linear.bias", new double[] {0.002});
        lr.put("module_1.linear.weight", random(16 * 8, 6));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("config", "{\"task\": \"mnist\", \"model\": [\"relu\"]}");
        meta.put("step", "42");
        meta.put("adam_step", "42");
        meta.put("seed", "-7");
        Path p = dir.resolve("lr.safetensors");
        Checkpoint.write(p, layout, theta, new double[layout.size()], new double[layout.size()], lr, meta, true);

        Checkpoint.Loaded c = Checkpoint.read(p);
        assertEquals(meta, c.metadata());
        Map<String, double[]> back = c.innerLr(layout);
        assertEquals(List.of("module_1.linear.weight", "module_3.linear.bias"), List.copyOf(back.keySet()));
        assertArrayEquals(lr.get("module_1.linear.weight"), back.get("module_1.linear.weight"), 0.0);
        assertArrayEquals(new double[] {0.002}, back.get("module_3.linear.bias"), 0.0);
        assertTrue(c.has("inner_lr.module_3.linear.bias"));
        assertArrayEquals(theta, c.params(layout), 0.0);

        Checkpoint.Loaded light = Checkpoint.read(p, false);
        assertTrue(light.hasOptimizerState());
        assertArrayEquals(theta, light.params(layout), 0.0);
        assertThrows(IllegalStateException.class, () -> light.adamM(layout));
    }

    @Test
    void wrongModelGivesAClearError() {
        ParamLayout written = small(16).layout();
        Path p = dir.resolve("small.safetensors");
        Checkpoint.writeParams(p, written, random(written.size(), 7), false, Map.of());
        Checkpoint.Loaded c = Checkpoint.read(p);

        CheckpointException shape =
                assertThrows(CheckpointException.class, () -> c.params(small(32).layout()));
        assertEquals(
                "checkpoint " + p + ": parameter module_1.linear.weight has shape [16, 8], the model needs [32, 8]",
                shape.getMessage());

        ModelSpec other = new ModelSpec(
                TaskKind.MNIST,
                List.of(
                        new LayerSpec.Embed(List.of(new int[] {28, 4}, new int[] {28, 4})),
                        new LayerSpec.Linear(8, 16),
                        new LayerSpec.LayerNorm(16),
                        new LayerSpec.Linear(16, 1)));
        CheckpointException missing = assertThrows(CheckpointException.class, () -> c.params(other.layout()));
        assertTrue(missing.getMessage().startsWith("checkpoint " + p + ": "), missing.getMessage());
        assertEquals(
                "checkpoint " + p + ": no tensor module_2.norm.weight (is it a checkpoint of this model?)",
                missing.getMessage());

        ModelSpec more = new ModelSpec(
                TaskKind.MNIST,
                List.of(
                        new LayerSpec.Embed(List.of(new int[] {28, 4}, new int[] {28, 4})),
                        new LayerSpec.Linear(8, 16),
                        new LayerSpec.Activation(LayerSpec.Activation.Kind.TANH),
                        new LayerSpec.Linear(16, 1),
                        new LayerSpec.LayerNorm(1)));
        CheckpointException absent = assertThrows(CheckpointException.class, () -> c.params(more.layout()));
        assertEquals(
                "checkpoint " + p + ": no tensor module_4.norm.weight (is it a checkpoint of this model?)",
                absent.getMessage());

        Path q = dir.resolve("more.safetensors");
        Checkpoint.writeParams(q, more.layout(), new double[more.layout().size()], false, null);
        CheckpointException extra =
                assertThrows(CheckpointException.class, () -> Checkpoint.read(q).params(written));
        assertTrue(
                extra.getMessage()
                        .startsWith("checkpoint " + q + ": tensor module_4.norm.weight [1] is not a parameter"),
                extra.getMessage());
    }

    @Test
    void callerMistakesAreRejectedBeforeWriting() {
        ParamLayout layout = small(4).layout();
        Path p = dir.resolve("x.safetensors");
        double[] theta = new double[layout.size()];
        assertThrows(
                IllegalArgumentException.class,
                () -> Checkpoint.writeParams(p, layout, new double[layout.size() - 1], false, null));
        assertThrows(
                IllegalArgumentException.class,
                () -> Checkpoint.write(p, layout, theta, theta, null, null, null, false));
        assertThrows(
                IllegalArgumentException.class,
                () -> Checkpoint.write(p, layout, theta, null, null, Map.of("nope", new double[1]), null, false));
        assertThrows(
                IllegalArgumentException.class,
                () -> Checkpoint.write(
                        p, layout, theta, null, null, Map.of("module_1.linear.weight", new double[3]), null, false));
        assertFalse(Files.exists(p));
    }

    private static long sizeWithoutHeader(Path p) {
        try {
            return Files.size(p) - Safetensors.readHeader(p).dataStart();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }
}
