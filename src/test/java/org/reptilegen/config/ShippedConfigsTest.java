package org.reptilegen.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.TaskKind;

/** The configs in configs/ load, describe the models they name, and survive a round trip. */
class ShippedConfigsTest {

    static final Path DIR = Path.of("configs");

    static Stream<String> names() {
        return Config.BUILT_IN.stream();
    }

    static Config shipped(String name) {
        return Config.load(DIR.resolve(name + ".yaml"));
    }

    @Test
    void builtInListMatchesTheDirectory() throws IOException {
        try (Stream<Path> files = Files.list(DIR)) {
            List<String> onDisk = files.map(p -> p.getFileName().toString())
                    .filter(f -> f.endsWith(".yaml"))
                    .map(f -> f.substring(0, f.length() - 5))
                    .sorted()
                    .toList();
            assertEquals(Config.BUILT_IN.stream().sorted().toList(), onDisk);
        }
    }

    @ParameterizedTest
    @MethodSource("names")
    void startsWithAOneLineComment(String name) throws IOException {
        String first = Files.readAllLines(DIR.resolve(name + ".yaml")).get(0);
        assertTrue(first.startsWith("# ") && first.length() > 10, first);
    }

    @ParameterizedTest
    @MethodSource("names")
    void jsonAndYamlRoundTrip(String name) {
        Config c = shipped(name);
        assertEquals(c, Config.fromJson(c.toJson(), "checkpoint"));
        assertEquals(c, Config.parse(c.toYaml(), "written"));
        assertEquals(c.toJson(), Config.parse(c.toYaml(), "written").toJson());
    }

    @Test
    void referenceModelsHaveTheirParameterCounts() {
        assertEquals(1_125_889, shipped("mnist-lstm-reptile").model().layout().size());
        assertEquals(1_125_889, shipped("mnist-lstm-maml").model().layout().size());
        assertEquals(1_772_800, shipped("text-mlp-reptile").model().layout().size());
        // d2c 0, siren 768 + 131,584 + 262,656 + 131,328, linear 257
        assertEquals(526_593, shipped("mnist-siren-reptile").model().layout().size());
    }

    @Test
    void smallModelsHaveTheirParameterCounts() {
        // embed 7,168; four linear(256,512) 526,336; two layernorm 1,024;
        // gated_residual: layernorm 512, three linear(256,512) 394,752, gate 65,792; linear(256,1) 257
        int gated = shipped("mnist-gated-reptile").model().layout().size();
        assertEquals(995_841, gated);
        assertEquals(61_952, shipped("tiny-text").model().layout().size());
        assertEquals(3_073, shipped("tiny-mnist").model().layout().size());
        assertEquals(3_073, shipped("tiny-mnist-maml").model().layout().size());
        // embed 1,792; linear(64,64) 4,160; three layernorm 384; two lstm_block(64) 66,176; linear(64,1) 65
        assertEquals(
                72_577, shipped("small-mnist-lstm-reptile").model().layout().size());
        assertEquals(72_577, shipped("small-mnist-lstm-maml").model().layout().size());
    }

    @Test
    void settingsOfTheShippedConfigs() {
        Config lstm = shipped("mnist-lstm-reptile");
        assertEquals(TaskKind.MNIST, lstm.task());
        assertEquals(Algorithm.REPTILE, lstm.algorithm());
        assertEquals(50, lstm.metaBatch());
        assertEquals(1e-4, lstm.outerLr());
        assertEquals(0.99, lstm.beta2());
        assertEquals(Algorithm.MAML, shipped("mnist-lstm-maml").algorithm());
        assertEquals(
                shipped("mnist-lstm-reptile").model().toConfig(),
                shipped("mnist-lstm-maml").model().toConfig());

        Config text = shipped("text-mlp-reptile");
        assertEquals(TaskKind.TEXT, text.task());
        assertEquals(1e-3, text.outerLr());
        assertEquals(0.999, text.beta2());
        assertEquals(128, text.maxLen());

        assertInstanceOf(
                LayerSpec.D2c.class,
                shipped("mnist-siren-reptile").model().layers().get(0));

        Config tiny = shipped("tiny-text");
        assertEquals(8, tiny.metaBatch());
        assertEquals(InnerLr.fixed(0.01), tiny.innerLr());
        assertEquals(3e-3, tiny.outerLr());
        assertEquals(1500, tiny.steps());
        assertEquals(null, tiny.data());

        Config tinyMnist = shipped("tiny-mnist");
        assertEquals(4, tinyMnist.metaBatch());
        assertEquals(50, tinyMnist.steps());
        assertEquals(Algorithm.REPTILE, tinyMnist.algorithm());
        Config tinyMaml = shipped("tiny-mnist-maml");
        assertEquals(Algorithm.MAML, tinyMaml.algorithm());
        assertEquals(tinyMnist.model().toConfig(), tinyMaml.model().toConfig());
    }

    @Test
    void resolveTakesAPath() {
        assertEquals(shipped("tiny-text"), Config.resolve("configs/tiny-text.yaml"));
    }

    @Test
    void resolveTakesABuiltInNameFromTheClassPath() {
        // Only when the build copies configs/ into the jar.
        Assumptions.assumeTrue(Config.class.getResource("/configs/tiny-text.yaml") != null);
        assertEquals(shipped("tiny-text"), Config.resolve("tiny-text"));
        assertEquals(shipped("tiny-mnist"), Config.resolve("tiny-mnist.yaml"));
    }

    @Test
    void aDirectoryOfABuiltInsNameDoesNotHideIt(@TempDir Path cwd) throws IOException {
        Assumptions.assumeTrue(Config.class.getResource("/configs/tiny-text.yaml") != null);
        // A run directory named after its config, in the directory a user trains from.
        Files.createDirectories(cwd.resolve("tiny-text"));
        assertEquals(shipped("tiny-text"), Config.resolve("tiny-text", cwd));
        Files.createDirectories(cwd.resolve("not-a-config"));
        ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(
                ConfigException.class, () -> Config.resolve("not-a-config", cwd));
        assertEquals("not-a-config: is a directory, not a config file", e.getMessage());
    }

    @Test
    void resolveListsTheBuiltInsWhenNothingMatches() {
        ConfigException e =
                org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> Config.resolve("tiny-txt"));
        assertTrue(
                e.getMessage()
                        .startsWith(
                                "tiny-txt: no such file, and not a built-in config (did you mean 'tiny-text'?); built-in: "),
                e.getMessage());
        // What is there but is no config file says what it is.
        ConfigException dev =
                org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> Config.resolve("/dev/null"));
        assertTrue(dev.getMessage().contains("/dev/null: is not a regular file"), dev.getMessage());
        ConfigException d =
                org.junit.jupiter.api.Assertions.assertThrows(ConfigException.class, () -> Config.resolve("src"));
        assertTrue(d.getMessage().contains("src: is a directory"), d.getMessage());
        for (String name : Config.BUILT_IN) assertTrue(e.getMessage().contains(name));
    }
}
