package org.reptilegen.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.Precision;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.TaskKind;

/** Command-line overrides: {@code --set key=value}. */
class ConfigOverridesTest {

    static final Config TINY = Config.load(Path.of("configs/tiny-text.yaml"));

    static String error(Config c, String... sets) {
        ConfigException e = assertThrows(ConfigException.class, () -> c.with(List.of(sets)));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void nestedNumericAndEnumValues() {
        Config c = TINY.with(List.of(
                "outer.lr=3e-4",
                "meta_batch=16",
                "algorithm=maml",
                "outer.beta2=0.99",
                "precision=float64",
                "seed=42",
                "data=lines.txt"));
        assertEquals(3e-4, c.outerLr());
        assertEquals(0.99, c.beta2());
        assertEquals(0.9, c.beta1());
        assertEquals(16, c.metaBatch());
        assertEquals(Algorithm.MAML, c.algorithm());
        assertEquals(Precision.FLOAT64, c.precision());
        assertEquals(42, c.seed());
        assertEquals("lines.txt", c.data());
        assertEquals(TINY.model().toConfig(), c.model().toConfig());
        assertEquals(TINY.steps(), c.steps());
        assertEquals(c, Config.fromJson(c.toJson(), "checkpoint"));
    }

    @Test
    void noOverridesIsTheSameConfig() {
        assertSame(TINY, TINY.with(List.of()));
    }

    @Test
    void laterOverridesWin() {
        assertEquals(
                0.5,
                TINY.with(List.of("inner_lr=0.1", "inner_lr=0.5")).innerLr().init());
    }

    @Test
    void innerLrForms() {
        assertEquals(InnerLr.fixed(0.05), TINY.with(List.of("inner_lr=0.05")).innerLr());
        assertEquals(
                new InnerLr(InnerLr.Mode.PER_TENSOR, 0.01),
                TINY.with(List.of("algorithm=maml", "inner_lr.learned=per_tensor"))
                        .innerLr());
        assertEquals(InnerLr.fixed(0.2), TINY.with(List.of("inner_lr.init=0.2")).innerLr());
        assertEquals(
                new InnerLr(InnerLr.Mode.PER_ELEMENT, 0.003),
                TINY.with(List.of("algorithm=fomaml", "inner_lr={learned: per_element, init: 0.003}"))
                        .innerLr());
    }

    @Test
    void wholeModel() {
        Config c = TINY.with(List.of("model=[{embed: {tables: [[64, 16]]}}, {linear: {in: 16, out: 256}}]"));
        assertEquals(List.of(new LayerSpec.Linear(16, 256)), c.model().layers().subList(1, 2));
    }

    @Test
    void nullRestoresTheDefault() {
        assertEquals(1000, TINY.with(List.of("steps=null")).steps());
    }

    @Test
    void changingTheTaskBringsItsDefaults() {
        Config mnist = Config.load(Path.of("configs/tiny-mnist.yaml"));
        Config c = mnist.with(List.of(
                "task=text", "model=[{embed: {tables: [[128, 8]]}}, {linear: {in: 8, out: 256}}]", "outer.lr=null"));
        assertEquals(TaskKind.TEXT, c.task());
        assertEquals(1e-3, c.outerLr());
        assertEquals(0.999, c.beta2());
        assertEquals(null, c.data());
    }

    @Test
    void unknownKeys() {
        assertEquals("--set outer.lrr: unknown key 'lrr' in outer (did you mean 'lr'?)", error(TINY, "outer.lrr=1e-3"));
        assertEquals(
                "--set batchsize: unknown key 'batchsize' (did you mean 'meta_batch'?)", error(TINY, "batchsize=4"));
        assertEquals("--set steps.max: steps has no keys inside; set it whole: steps=...", error(TINY, "steps.max=4"));
        assertEquals("--set outer.lr.x: outer.lr has no keys inside", error(TINY, "outer.lr.x=4"));
        assertEquals("--set meta_batch: expected key=value, e.g. outer.lr=3e-4", error(TINY, "meta_batch"));
        // An empty value does not quietly mean the built-in default.
        assertEquals(
                "--set inner_lr: the value is empty (key=null restores the built-in default)",
                error(TINY, "inner_lr="));
        assertEquals(
                "--set meta_batch: the value is empty (key=null restores the built-in default)",
                error(TINY, "meta_batch= "));
    }

    @Test
    void badValuesNameTheOverride() {
        assertEquals("--set outer.lr: expected a positive number, got -1", error(TINY, "outer.lr=-1"));
        assertEquals("--set inner_lr: expected a number, got \"fast\"", error(TINY, "inner_lr=fast"));
        assertEquals("--set algorithm: unknown value 'mamll' (did you mean 'maml'?)", error(TINY, "algorithm=mamll"));
        assertEquals(
                "--set max_len: 100 positions need 100 rows in model[0].embed.tables[0], which has 64",
                error(TINY, "max_len=100"));
        assertEquals(
                "--set model: model[1]: unknown layer 'lstm' (known: embed, d2c, linear, relu, tanh, sigmoid, gated, "
                        + "layernorm, lstm_block, siren, residual, gated_residual)",
                error(TINY, "model=[{embed: {tables: [[64, 8]]}}, lstm]"));
        assertEquals(
                "--set max_len: the value '[1,' is not valid YAML: line 1, column 4: expected the node content, "
                        + "but found '<stream end>' (while parsing a flow node from line 1, column 4)",
                error(TINY, "max_len=[1,"));
    }

    @Test
    void conflictsBetweenOverridesAndTheFileNameBoth() {
        assertEquals(
                "configs/tiny-text.yaml with --set task: model: module_0 (embed): embed has 1 tables but its input has 2 integers",
                error(TINY, "task=mnist"));
    }
}
