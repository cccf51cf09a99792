package org.reptilegen.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.PixelOrder;
import org.reptilegen.core.Precision;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.LayerSpec.Activation.Kind;
import org.reptilegen.model.TaskKind;

class ConfigParseTest {

    static final String SRC = "configs/x.yaml";
    static final String TEXT = "task: text\nmodel: [{embed: {tables: [[128, 32]]}}, {linear: {in: 32, out: 256}}]\n";
    static final String MNIST =
            "task: mnist\nmodel: [{embed: {tables: [[28, 8], [28, 8]]}}, {linear: {in: 16, out: 1}}]\n";

    static Config parse(String yaml) {
        return Config.parse(yaml, SRC);
    }

    /** The message of the error {@code yaml} raises, checked to be one line that starts with the source. */
    static String error(String yaml) {
        ConfigException e = assertThrows(ConfigException.class, () -> parse(yaml));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith(SRC + ": "), e.getMessage());
        return e.getMessage();
    }

    @Test
    void specExampleParses() {
        Config c = parse("""
                task: mnist
                model:
                  - embed: {tables: [[28, 128], [28, 128]]}
                  - linear: {in: 256, out: 256}
                  - layernorm: {dim: 256}
                  - lstm_block: {dim: 256}
                  - gated_residual: {in: 256, layers: [{linear: {in: 256, out: 256}}, tanh]}
                  - relu
                  - linear: {in: 256, out: 1}
                """);
        List<LayerSpec> layers = c.model().layers();
        assertEquals(7, layers.size());
        LayerSpec.Embed embed = assertInstanceOf(LayerSpec.Embed.class, layers.get(0));
        assertEquals(2, embed.tables().size());
        assertEquals(128, embed.tables().get(1)[1]);
        assertEquals(new LayerSpec.Linear(256, 256), layers.get(1));
        assertEquals(new LayerSpec.LayerNorm(256), layers.get(2));
        assertEquals(new LayerSpec.LstmBlock(256), layers.get(3));
        assertEquals(
                new LayerSpec.GatedResidual(
                        256, List.of(new LayerSpec.Linear(256, 256), new LayerSpec.Activation(Kind.TANH))),
                layers.get(4));
        assertEquals(new LayerSpec.Activation(Kind.RELU), layers.get(5));
        assertEquals(new LayerSpec.Linear(256, 1), layers.get(6));
    }

    @Test
    void everyLayerKindParses() {
        Config c = parse("""
                task: mnist
                model:
                  - d2c: {n: 28}
                  - siren: {in: 2, out: 8}
                  - residual: {layers: [{linear: {in: 8, out: 8}}, sigmoid]}
                  - linear: {in: 8, out: 16}
                  - gated
                  - tanh
                  - linear: {in: 8, out: 1}
                """);
        assertEquals(
                List.of(
                        new LayerSpec.D2c(28),
                        new LayerSpec.Siren(2, 8),
                        new LayerSpec.Residual(
                                List.of(new LayerSpec.Linear(8, 8), new LayerSpec.Activation(Kind.SIGMOID))),
                        new LayerSpec.Linear(8, 16),
                        new LayerSpec.Gated(),
                        new LayerSpec.Activation(Kind.TANH),
                        new LayerSpec.Linear(8, 1)),
                c.model().layers());
    }

    @Test
    void textDefaults() {
        Config c = parse(TEXT);
        assertEquals(TaskKind.TEXT, c.task());
        assertEquals(Algorithm.REPTILE, c.algorithm());
        assertEquals(50, c.metaBatch());
        assertEquals(InnerLr.fixed(1e-3), c.innerLr());
        assertEquals(1e-3, c.outerLr());
        assertEquals(0.9, c.beta1());
        assertEquals(0.999, c.beta2());
        assertEquals(1e-8, c.eps());
        assertEquals(1000, c.steps());
        assertEquals(0, c.seed());
        assertEquals(100, c.checkpointEvery());
        assertEquals(1, c.logEvery());
        assertEquals(0, c.mamlSegment());
        assertEquals(Precision.FLOAT32, c.precision());
        assertNull(c.data());
        assertEquals(128, c.maxLen());
        assertEquals(100, c.evalTasks());
        assertEquals(0, c.evalEvery());
        assertEquals(SRC, c.source());
    }

    @Test
    void mnistDefaults() {
        Config c = parse(MNIST);
        assertEquals(TaskKind.MNIST, c.task());
        assertEquals(50, c.metaBatch());
        assertEquals(InnerLr.fixed(1e-3), c.innerLr());
        assertEquals(1e-4, c.outerLr());
        assertEquals(0.9, c.beta1());
        assertEquals(0.99, c.beta2());
        assertEquals(1e-8, c.eps());
        assertEquals(Config.DEFAULT_MNIST_DATA, c.data());
        assertEquals(PixelOrder.RASTER, c.order());
    }

    @Test
    void everySettingIsRead() {
        Config c = parse(MNIST + """
                algorithm: fomaml
                meta_batch: 8
                inner_lr: 0.02
                outer: {lr: 3e-4, beta1: 0.5, beta2: 0.9, eps: 1e-6}
                steps: 1e3
                seed: -7
                checkpoint_every: 0
                log_every: 5
                maml_segment: 4
                precision: float64
                data: images/mnist dir
                order: random
                eval_tasks: 0
                eval_every: 50
                """);
        assertEquals(Algorithm.FOMAML, c.algorithm());
        assertEquals(8, c.metaBatch());
        assertEquals(InnerLr.fixed(0.02), c.innerLr());
        assertEquals(3e-4, c.outerLr());
        assertEquals(0.5, c.beta1());
        assertEquals(0.9, c.beta2());
        assertEquals(1e-6, c.eps());
        assertEquals(1000, c.steps());
        assertEquals(-7, c.seed());
        assertEquals(0, c.checkpointEvery());
        assertEquals(5, c.logEvery());
        assertEquals(4, c.mamlSegment());
        assertEquals(Precision.FLOAT64, c.precision());
        assertEquals("images/mnist dir", c.data());
        assertEquals(PixelOrder.RANDOM, c.order());
        assertEquals(0, c.evalTasks());
        assertEquals(50, c.evalEvery());
        assertEquals(c, Config.fromJson(c.toJson(), "checkpoint"));
        assertEquals(c, parse(c.toYaml()));
    }

    @Test
    void nullTakesTheDefault() {
        assertEquals(parse(TEXT), parse(TEXT + "steps:\nouter: {lr: null}\ndata: ~\n"));
    }

    @Test
    void learnedInnerRates() {
        assertEquals(
                new InnerLr(InnerLr.Mode.PER_TENSOR, 0.001),
                parse(TEXT + "algorithm: maml\ninner_lr: {learned: per_tensor, init: 0.001}")
                        .innerLr());
        assertEquals(
                new InnerLr(InnerLr.Mode.PER_ELEMENT, 0.05),
                parse(TEXT + "algorithm: maml\ninner_lr: {learned: per_element, init: 0.05}")
                        .innerLr());
        assertEquals(
                new InnerLr(InnerLr.Mode.PER_TENSOR, 1e-3),
                parse(TEXT + "algorithm: fomaml\ninner_lr: {learned: per_tensor}")
                        .innerLr());
        assertEquals(InnerLr.fixed(0.3), parse(TEXT + "inner_lr: {init: 0.3}").innerLr());
        assertTrue(parse(TEXT + "algorithm: fomaml\ninner_lr: {learned: per_tensor}")
                .innerLr()
                .learned());
        for (String lr : List.of("{learned: per_tensor, init: 0.002}", "{learned: per_element}", "0.25")) {
            Config c = parse(TEXT + "algorithm: maml\ninner_lr: " + lr);
            assertEquals(c, Config.fromJson(c.toJson(), "checkpoint"));
            assertEquals(c, parse(c.toYaml()));
        }
    }

    @Test
    void equalityFollowsTheSettingsNotTheText() {
        assertEquals(parse(TEXT), parse(TEXT + "meta_batch: 50\nouter: {beta1: 0.9}\n"));
        assertEquals(parse(TEXT).hashCode(), parse(TEXT + "meta_batch: 50\n").hashCode());
        assertNotEquals(parse(TEXT), parse(TEXT + "meta_batch: 49\n"));
        assertNotEquals(parse(TEXT), parse(TEXT + "outer: {eps: 1e-7}\n"));
    }

    @Test
    void loadNamesTheFile(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, TEXT + "inner_lr: fast\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(f + ": inner_lr: expected a number, got \"fast\"", e.getMessage());
        assertEquals("inner_lr", e.path());
        Path missing = dir.resolve("missing.yaml");
        assertEquals(
                missing + ": no such file",
                assertThrows(ConfigException.class, () -> Config.load(missing)).getMessage());
    }

    // ---- errors: one line, naming the file and the field ----

    @Test
    void unknownLayer() {
        assertEquals(
                SRC + ": model[2]: unknown layer 'lstm' (known: embed, d2c, linear, relu, tanh, sigmoid, gated, "
                        + "layernorm, lstm_block, siren, residual, gated_residual)",
                error(
                        "task: text\nmodel: [{embed: {tables: [[128, 32]]}}, relu, lstm, {linear: {in: 32, out: 256}}]\n"));
        assertTrue(error("task: text\nmodel: [{embed: {tables: [[128, 32]]}}, {lstm: {dim: 32}}]\n")
                .startsWith(SRC + ": model[1]: unknown layer 'lstm' (known: "));
    }

    @Test
    void wrongType() {
        assertEquals(SRC + ": inner_lr: expected a number, got \"fast\"", error(TEXT + "inner_lr: fast\n"));
        assertEquals(SRC + ": meta_batch: expected a positive integer, got 2.5", error(TEXT + "meta_batch: 2.5\n"));
        assertEquals(SRC + ": outer: expected a map {lr, beta1, beta2, eps}, got 0.1", error(TEXT + "outer: 0.1\n"));
        assertEquals(SRC + ": data: expected a path, got a list", error(TEXT + "data: [a, b]\n"));
        assertEquals(SRC + ": steps: expected a positive integer, got \"many\"", error(TEXT + "steps: many\n"));
    }

    @Test
    void unknownKeys() {
        assertEquals(SRC + ": unknown key 'batchsize' (did you mean 'meta_batch'?)", error(TEXT + "batchsize: 8\n"));
        assertEquals(SRC + ": unknown key 'inner_rl' (did you mean 'inner_lr'?)", error(TEXT + "inner_rl: 0.1\n"));
        assertEquals(SRC + ": unknown key 'colour'", error(TEXT + "colour: red\n"));
        assertEquals(SRC + ": outer: unknown key 'lrr' (did you mean 'lr'?)", error(TEXT + "outer: {lrr: 0.1}\n"));
        assertEquals(
                SRC + ": outer: unknown key 'momentum' (known: lr, beta1, beta2, eps)",
                error(TEXT + "outer: {momentum: 0.1}\n"));
        assertEquals(
                SRC + ": inner_lr: unknown key 'learn' (did you mean 'learned'?)",
                error(TEXT + "inner_lr: {learn: per_tensor}\n"));
    }

    @Test
    void widthsThatDoNotChain() {
        assertEquals(
                SRC + ": model: module_2 (linear): linear expects input width 256 but gets 512",
                error("task: mnist\nmodel: [{embed: {tables: [[28, 256], [28, 256]]}}, {linear: {in: 512, out: 512}}, "
                        + "{linear: {in: 256, out: 256}}, {linear: {in: 256, out: 1}}]\n"));
        assertEquals(
                SRC + ": model: model ends with width 1 but a text task needs 256 outputs",
                error("task: text\nmodel: [{embed: {tables: [[128, 32]]}}, {linear: {in: 32, out: 1}}]\n"));
        assertTrue(error("task: text\nmodel: [{linear: {in: 1, out: 256}}]\n")
                .startsWith(SRC + ": model: module_0 (linear): "));
    }

    @Test
    void layerArguments() {
        String head = "task: text\nmodel: [{embed: {tables: [[128, 32]]}}, ";
        assertEquals(
                SRC + ": model[1].linear.out: missing (linear takes {in: ..., out: ...})",
                error(head + "{linear: {in: 32}}]\n"));
        assertEquals(
                SRC + ": model[1].linear: unknown argument 'outs' (did you mean 'out'?)",
                error(head + "{linear: {in: 32, outs: 256}}]\n"));
        assertEquals(
                SRC + ": model[1].linear: unknown argument 'bias' (linear takes {in: ..., out: ...})",
                error(head + "{linear: {in: 32, out: 256, bias: true}}]\n"));
        assertEquals(
                SRC + ": model[1].linear.out: expected a positive integer, got \"wide\"",
                error(head + "{linear: {in: 32, out: wide}}]\n"));
        assertEquals(
                SRC + ": model[1].linear.in: expected a positive integer, got 0",
                error(head + "{linear: {in: 0, out: 256}}]\n"));
        assertEquals(
                SRC + ": model[1]: linear needs arguments: linear: {in: ..., out: ...}", error(head + "linear]\n"));
        assertEquals(
                SRC + ": model[1].linear: expected the arguments {in: ..., out: ...}, got a list",
                error(head + "{linear: [32, 256]}]\n"));
        assertEquals(
                SRC + ": model[2].relu: relu takes no arguments",
                error(head + "{linear: {in: 32, out: 256}}, {relu: {dim: 3}}]\n"));
        assertEquals(
                SRC + ": model[1]: a layer is a bare name or a map with one key, the layer's name; got keys linear, in",
                error(head + "{linear: null, in: 32}]\n"));
        assertEquals(
                SRC + ": model[0].embed.tables[0]: expected a pair [rows, width], got a list of 3",
                error("task: text\nmodel: [{embed: {tables: [[128, 32, 1]]}}, {linear: {in: 32, out: 256}}]\n"));
        assertEquals(
                SRC + ": model[0].embed.tables[0][1]: expected a positive integer, got -32",
                error("task: text\nmodel: [{embed: {tables: [[128, -32]]}}, {linear: {in: 32, out: 256}}]\n"));
        assertEquals(
                SRC + ": model[1].gated_residual.layers[1].linear.out: missing (linear takes {in: ..., out: ...})",
                error(
                        head
                                + "{gated_residual: {in: 32, layers: [tanh, {linear: {in: 32}}]}}, {linear: {in: 32, out: 256}}]\n"));
        assertEquals(
                SRC + ": model[1].residual.layers: expected at least one layer",
                error(head + "{residual: {layers: []}}, {linear: {in: 32, out: 256}}]\n"));
        assertEquals(SRC + ": model: expected at least one layer", error("task: text\nmodel: []\n"));
    }

    @Test
    void ranges() {
        assertEquals(SRC + ": meta_batch: expected a positive integer, got 0", error(TEXT + "meta_batch: 0\n"));
        assertEquals(SRC + ": inner_lr: expected a positive number, got -0.1", error(TEXT + "inner_lr: -0.1\n"));
        assertEquals(
                SRC + ": inner_lr.init: expected a positive number, got 0",
                error(TEXT + "inner_lr: {learned: per_tensor, init: 0}\n"));
        assertEquals(SRC + ": outer.lr: expected a positive number, got 0.0", error(TEXT + "outer: {lr: 0.0}\n"));
        assertEquals(
                SRC + ": outer.beta1: expected a number in [0, 1), got 1.0", error(TEXT + "outer: {beta1: 1.0}\n"));
        assertEquals(
                SRC + ": outer.beta2: expected a number in [0, 1), got -0.5", error(TEXT + "outer: {beta2: -0.5}\n"));
        assertEquals(SRC + ": outer.eps: expected a positive number, got 0", error(TEXT + "outer: {eps: 0}\n"));
        assertEquals(SRC + ": max_len: expected an integer >= 2, got 1", error(TEXT + "max_len: 1\n"));
        assertEquals(SRC + ": log_every: expected a positive integer, got 0", error(TEXT + "log_every: 0\n"));
        assertEquals(SRC + ": steps: expected a positive integer, got -1", error(TEXT + "steps: -1\n"));
        assertEquals(SRC + ": maml_segment: expected an integer >= 0, got -2", error(TEXT + "maml_segment: -2\n"));
        assertEquals(
                SRC + ": steps: expected a positive integer up to 2147483647, got 3000000000",
                error(TEXT + "steps: 3000000000\n"));
        assertEquals(SRC + ": data: expected a path, got an empty string", error(TEXT + "data: ''\n"));
    }

    @Test
    void choices() {
        assertEquals(
                SRC + ": algorithm: unknown value 'reptil' (did you mean 'reptile'?)",
                error(TEXT + "algorithm: reptil\n"));
        assertEquals(
                SRC + ": algorithm: unknown value 'sgd' (known: reptile, fomaml, maml)",
                error(TEXT + "algorithm: sgd\n"));
        assertEquals(
                SRC + ": precision: unknown value 'float16' (did you mean 'float32'?)",
                error(TEXT + "precision: float16\n"));
        assertEquals(SRC + ": order: unknown value 'spiral' (known: raster, random)", error(MNIST + "order: spiral\n"));
        assertEquals(
                SRC + ": inner_lr: learned inner learning rates need maml or fomaml: Reptile gives them no gradient",
                error(TEXT + "inner_lr: {learned: per_tensor}\n"));
        assertEquals(
                SRC + ": inner_lr.learned: unknown value 'per_layer' (known: per_tensor, per_element)",
                error(TEXT + "inner_lr: {learned: per_layer}\n"));
        assertEquals(SRC + ": task: unknown task 'txt' (known: text, mnist)", error("task: txt\nmodel: [relu]\n"));
    }

    @Test
    void keysOfTheOtherTask() {
        assertEquals(SRC + ": order: applies to mnist tasks only", error(TEXT + "order: random\n"));
        assertTrue(error(MNIST + "max_len: 64\n").startsWith(SRC + ": max_len: applies to text tasks only"));
    }

    @Test
    void embeddingTooSmallForTheTask() {
        assertEquals(
                SRC + ": max_len: 200 positions need 200 rows in model[0].embed.tables[0], which has 128",
                error(TEXT + "max_len: 200\n"));
        assertTrue(error("task: text\nmodel: [{embed: {tables: [[64, 32]]}}, {linear: {in: 32, out: 256}}]\n")
                .startsWith(SRC + ": model[0].embed.tables[0]: 64 rows, but max_len 128 needs one per position"));
        assertEquals(
                SRC + ": model[0].embed.tables[1]: 20 rows, but mnist coordinates run from 0 to 27",
                error("task: mnist\nmodel: [{embed: {tables: [[28, 8], [20, 8]]}}, {linear: {in: 16, out: 1}}]\n"));
    }

    @Test
    void wholeFileProblems() {
        assertEquals(SRC + ": empty config; it needs at least task and model", error(""));
        assertEquals(SRC + ": expected a map of settings (task, model, ...), got a list", error("- task\n- model\n"));
        assertEquals(SRC + ": task: missing (text or mnist)", error("model: [relu]\n"));
        assertEquals(SRC + ": model: missing (the list of layers)", error("task: text\n"));
        assertEquals(SRC + ": not valid YAML: line 3, column 5: Duplicate field 'task'", error(TEXT + "task: mnist\n"));
        assertTrue(error(TEXT + "outer: [1, 2\n").startsWith(SRC + ": not valid YAML: line 4, column 1: "));
        assertTrue(error(TEXT + "  steps: 3\n").startsWith(SRC + ": not valid YAML: line 3"));
        ConfigException e = assertThrows(ConfigException.class, () -> Config.fromJson("{\"task\": ", "checkpoint"));
        assertTrue(e.getMessage().startsWith("checkpoint: not valid JSON: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @ParameterizedTest
    @CsvSource({"1.0e-4, 1.0e-4", "1.0E8, 1.0e+8", "0.001, 0.001", "3.0E-4, 3.0e-4"})
    void numbersAreWrittenSoYamlReadersSeeNumbers(double value, String written) {
        assertEquals(written, ConfigWriter.number(value));
    }
}
