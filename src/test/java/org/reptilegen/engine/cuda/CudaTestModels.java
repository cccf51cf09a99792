package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.LayerSpec.Activation.Kind;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamInit;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/** Models, parameters and batches for the cuda tests. */
final class CudaTestModels {
    private CudaTestModels() {}

    static LayerSpec lin(int in, int out) {
        return new LayerSpec.Linear(in, out);
    }

    static LayerSpec act(Kind k) {
        return new LayerSpec.Activation(k);
    }

    /** Two embed tables of sizes that make off-by-one offsets visible. */
    static final LayerSpec EMB = new LayerSpec.Embed(List.of(new int[] {5, 3}, new int[] {6, 37}));

    static final ModelSpec TINY_MNIST =
            new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 33), act(Kind.TANH), lin(33, 1)));
    static final ModelSpec TINY_TEXT = new ModelSpec(
            TaskKind.TEXT,
            List.of(new LayerSpec.Embed(List.of(new int[] {9, 24})), lin(24, 40), act(Kind.RELU), lin(40, 256)));

    static final ModelSpec MNIST_LSTM = new ModelSpec(
            TaskKind.MNIST,
            List.of(
                    new LayerSpec.Embed(List.of(new int[] {28, 128}, new int[] {28, 128})),
                    lin(256, 256),
                    new LayerSpec.LayerNorm(256),
                    new LayerSpec.LstmBlock(256),
                    new LayerSpec.LayerNorm(256),
                    new LayerSpec.LstmBlock(256),
                    new LayerSpec.LayerNorm(256),
                    lin(256, 1)));

    /**
     * mnist-lstm's layers at width 32 (about 30k parameters): every kernel and fusion of mnist-lstm, for
     * tests of the engine's sequencing rather than of the model's size.
     */
    static final ModelSpec SMALL_LSTM = new ModelSpec(
            TaskKind.MNIST,
            List.of(
                    new LayerSpec.Embed(List.of(new int[] {28, 16}, new int[] {28, 16})),
                    lin(32, 32),
                    new LayerSpec.LayerNorm(32),
                    new LayerSpec.LstmBlock(32),
                    new LayerSpec.LayerNorm(32),
                    new LayerSpec.LstmBlock(32),
                    new LayerSpec.LayerNorm(32),
                    lin(32, 1)));

    static final ModelSpec TEXT_MLP;

    static {
        List<LayerSpec> l = new ArrayList<>();
        l.add(new LayerSpec.Embed(List.of(new int[] {128, 512})));
        for (int i = 0; i < 6; i++) {
            l.add(lin(512, 512));
            l.add(act(Kind.RELU));
        }
        l.add(lin(512, 256));
        TEXT_MLP = new ModelSpec(TaskKind.TEXT, l);
    }

    /** configs/mnist-gated-reptile.yaml's model: seven linear(256, 512) -> gated pairs, three layernorms. */
    static final ModelSpec MNIST_GATED;

    static {
        LayerSpec.Embed emb = new LayerSpec.Embed(List.of(new int[] {28, 128}, new int[] {28, 128}));
        LayerSpec.Gated g = new LayerSpec.Gated();
        MNIST_GATED = new ModelSpec(
                TaskKind.MNIST,
                List.of(
                        emb,
                        lin(256, 512),
                        g,
                        new LayerSpec.LayerNorm(256),
                        lin(256, 512),
                        g,
                        lin(256, 512),
                        g,
                        lin(256, 512),
                        g,
                        new LayerSpec.GatedResidual(
                                256,
                                List.of(
                                        new LayerSpec.LayerNorm(256),
                                        lin(256, 512),
                                        g,
                                        lin(256, 512),
                                        g,
                                        lin(256, 512),
                                        g)),
                        new LayerSpec.LayerNorm(256),
                        lin(256, 1)));
    }

    /** A linear -> gated pair, for the tests that run few models (evaluate). */
    static final ModelSpec TINY_GATED =
            new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 66), new LayerSpec.Gated(), lin(33, 1)));

    static final ModelSpec MNIST_SIREN = new ModelSpec(
            TaskKind.MNIST,
            List.of(
                    new LayerSpec.D2c(28),
                    new LayerSpec.Siren(2, 256),
                    new LayerSpec.Siren(256, 512),
                    new LayerSpec.Siren(512, 512),
                    new LayerSpec.Siren(512, 256),
                    lin(256, 1)));

    /**
     * One small network around each layer, with widths that are not multiples of 32 or 256 so that the
     * kernels' bounds checks and tails are exercised (the lstm_block and layernorm widths exceed one tile).
     */
    static Stream<Arguments> layerCases() {
        return Stream.of(
                Arguments.of("embed", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 1)))),
                Arguments.of(
                        "d2c",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(new LayerSpec.D2c(28), lin(2, 45), act(Kind.TANH), lin(45, 1)))),
                Arguments.of("linear", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 300), lin(300, 1)))),
                Arguments.of(
                        "relu", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 70), act(Kind.RELU), lin(70, 1)))),
                Arguments.of(
                        "tanh", new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 70), act(Kind.TANH), lin(70, 1)))),
                Arguments.of(
                        "sigmoid",
                        new ModelSpec(TaskKind.MNIST, List.of(EMB, lin(40, 70), act(Kind.SIGMOID), lin(70, 1)))),
                // After a linear an activation runs inside the linear's kernels; these keep its own kernels in use.
                Arguments.of(
                        "tanh after layernorm",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, lin(40, 70), new LayerSpec.LayerNorm(70), act(Kind.TANH), lin(70, 1)))),
                Arguments.of("relu first", new ModelSpec(TaskKind.MNIST, List.of(EMB, act(Kind.RELU), lin(40, 1)))),
                Arguments.of(
                        "sigmoid after lstm_block",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, new LayerSpec.LstmBlock(40), act(Kind.SIGMOID), lin(40, 1)))),
                Arguments.of("gated", TINY_GATED),
                // gated after producers other than a linear: an activation, the embedding, a layernorm, and a
                // linear outside the residual block the gated opens.
                Arguments.of(
                        "gated after tanh",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(EMB, lin(40, 66), act(Kind.TANH), new LayerSpec.Gated(), lin(33, 1)))),
                Arguments.of(
                        "gated first", new ModelSpec(TaskKind.MNIST, List.of(EMB, new LayerSpec.Gated(), lin(20, 1)))),
                Arguments.of(
                        "gated after layernorm",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        lin(40, 66),
                                        new LayerSpec.LayerNorm(66),
                                        new LayerSpec.Gated(),
                                        lin(33, 1)))),
                Arguments.of(
                        "gated across a residual",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        lin(40, 80),
                                        new LayerSpec.Residual(List.of(new LayerSpec.Gated(), lin(40, 80))),
                                        new LayerSpec.Gated(),
                                        lin(40, 1)))),
                Arguments.of(
                        "layernorm",
                        new ModelSpec(
                                TaskKind.MNIST, List.of(EMB, lin(40, 300), new LayerSpec.LayerNorm(300), lin(300, 1)))),
                Arguments.of(
                        "lstm_block",
                        new ModelSpec(
                                TaskKind.MNIST, List.of(EMB, lin(40, 270), new LayerSpec.LstmBlock(270), lin(270, 1)))),
                // A layernorm between two big layers runs inside their kernels (forward in the one before, backward
                // in the one after): here between a linear and an lstm_block, and between an lstm_block and a linear.
                Arguments.of(
                        "layernorms around lstm_block",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        lin(40, 270),
                                        new LayerSpec.LayerNorm(270),
                                        new LayerSpec.LstmBlock(270),
                                        new LayerSpec.LayerNorm(270),
                                        lin(270, 1)))),
                Arguments.of(
                        "siren",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        new LayerSpec.D2c(28),
                                        new LayerSpec.Siren(2, 50),
                                        new LayerSpec.Siren(50, 40),
                                        lin(40, 1)))),
                Arguments.of(
                        "residual",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        new LayerSpec.Residual(List.of(lin(40, 40), act(Kind.TANH))),
                                        lin(40, 1)))),
                Arguments.of(
                        "empty residual",
                        new ModelSpec(TaskKind.MNIST, List.of(EMB, new LayerSpec.Residual(List.of()), lin(40, 1)))),
                Arguments.of(
                        "gated_residual",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        new LayerSpec.GatedResidual(40, List.of(lin(40, 40), act(Kind.TANH))),
                                        lin(40, 1)))),
                Arguments.of(
                        "nested residuals",
                        new ModelSpec(
                                TaskKind.MNIST,
                                List.of(
                                        EMB,
                                        new LayerSpec.GatedResidual(
                                                40,
                                                List.of(
                                                        new LayerSpec.Residual(List.of(lin(40, 40), act(Kind.TANH))),
                                                        new LayerSpec.LayerNorm(40))),
                                        new LayerSpec.Residual(List.of(
                                                new LayerSpec.GatedResidual(40, List.of()),
                                                lin(40, 80),
                                                new LayerSpec.Gated(),
                                                new LayerSpec.LstmBlock(40))),
                                        act(Kind.SIGMOID),
                                        lin(40, 1)))),
                Arguments.of(
                        "softmax cross-entropy",
                        new ModelSpec(
                                TaskKind.TEXT,
                                List.of(new LayerSpec.Embed(List.of(new int[] {7, 20})), lin(20, 256)))));
    }

    /** The layer cases of these names, for a test that needs only some. */
    static Stream<Arguments> layerCases(String... names) {
        java.util.Set<String> wanted = java.util.Set.of(names);
        return layerCases().filter(a -> wanted.contains((String) a.get()[0]));
    }

    /** The model of one layer case. */
    static ModelSpec layerCase(String name) {
        return layerCases(name)
                .map(a -> (ModelSpec) a.get()[1])
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no layer case " + name));
    }

    /** Parameters near their init (noise N(0, 0.3^2) added), rounded to float32 so both engines start equal. */
    static double[] params(ModelSpec spec, long seed) {
        return params(spec, seed, 0.3);
    }

    /**
     * Noise for text-mlp: with 0.3 its seven 512-wide layers blow the logits up and the CPU's own
     * reference losses overflow to NaN within four steps, so no comparison can pass.
     */
    static final double TEXT_MLP_NOISE = 0.03;

    /** Parameters near their init (noise N(0, noise^2) added), rounded to float32. */
    static double[] params(ModelSpec spec, long seed, double noise) {
        double[] p = ParamInit.draw(spec.layout(), Rng.of(seed), false);
        Rng r = Rng.of(seed, 77);
        for (int i = 0; i < p.length; i++) p[i] = (float) (p[i] + noise * r.nextGaussian());
        return p;
    }

    /** B random tasks of T steps (task b is T - b % 2 long when ragged), with inputs valid for the model's first layer. */
    static TaskBatch batch(ModelSpec spec, int tasks, int steps, long seed, boolean ragged) {
        Rng r = Rng.of(seed, 5);
        TaskKind kind = spec.task();
        int[] rows = rowsOf(spec);
        int[][][] x = new int[tasks][][];
        int[][] y = new int[tasks][];
        for (int b = 0; b < tasks; b++) {
            int n = ragged ? Math.max(1, steps - b % 2) : steps;
            x[b] = new int[n][kind.inputDim];
            y[b] = new int[n];
            for (int t = 0; t < n; t++) {
                for (int j = 0; j < kind.inputDim; j++) x[b][t][j] = r.nextInt(rows[j]);
                y[b][t] = r.nextInt(kind.classes());
            }
        }
        return new TaskBatch(kind, x, y);
    }

    /** How many values each input integer may take. */
    static int[] rowsOf(ModelSpec spec) {
        int[] rows = new int[spec.task().inputDim];
        if (spec.layers().get(0) instanceof LayerSpec.Embed e) {
            for (int j = 0; j < rows.length; j++) rows[j] = e.tables().get(j)[0];
        } else {
            java.util.Arrays.fill(rows, 28);
        }
        return rows;
    }

    /** ||a - b|| / ||b||. */
    static double relErr(double[] a, double[] b) {
        return org.reptilegen.util.Norms.relativeError(a, b);
    }
}
