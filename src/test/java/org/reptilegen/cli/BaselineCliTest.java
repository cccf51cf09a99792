package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.Checkpoint;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.cli.CliTest.Run;
import org.reptilegen.config.Config;
import org.reptilegen.config.ConfigException;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.select.Engines;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.task.Split;
import org.reptilegen.task.TaskSource;
import org.reptilegen.task.TaskSources;

/** The lstm baseline through every command, on images and text the test makes; its configs and parameter names. */
class BaselineCliTest {
    @TempDir
    static Path dir;

    static CliTest.Data data;
    static Path mnistConfig, textConfig;

    @BeforeAll
    static void data() throws IOException {
        data = CliTest.makeData(dir);
        mnistConfig = dir.resolve("baseline-mnist.yaml");
        Files.writeString(
                mnistConfig,
                String.join(
                        "\n",
                        "task: mnist",
                        "model: {lstm_baseline: {embed: 2, hidden: 4, layers: 2}}",
                        "meta_batch: 3",
                        "steps: 4",
                        "checkpoint_every: 2",
                        "eval_tasks: 4",
                        ""));
        textConfig = dir.resolve("baseline-text.yaml");
        Files.writeString(
                textConfig,
                String.join(
                        "\n",
                        "task: text",
                        "model: {lstm_baseline: {embed: 3, hidden: 5, layers: 1, stop_grad: true}}",
                        "meta_batch: 4",
                        "max_len: 12",
                        "steps: 3",
                        "eval_tasks: 4",
                        ""));
    }

    static Run run(String... args) {
        return CliTest.run(args);
    }

    @Test
    void theShippedBaselineHasTheReferencesParametersUnderPyTorchsNames() {
        ParamLayout layout = Config.resolve("mnist-lstm-baseline").model().layout();
        assertEquals(1_719_297, layout.size());
        List<String> names =
                layout.tensors().stream().map(ParamLayout.Tensor::name).toList();
        assertEquals(
                List.of(
                        "hidden_0",
                        "hidden_1",
                        "x_embed.weight",
                        "y_embed.weight",
                        "prev_embed.weight",
                        "rnn.weight_ih_l0",
                        "rnn.weight_hh_l0",
                        "rnn.bias_ih_l0",
                        "rnn.bias_hh_l0",
                        "rnn.weight_ih_l1",
                        "rnn.weight_hh_l1",
                        "rnn.bias_ih_l1",
                        "rnn.bias_hh_l1",
                        "rnn.weight_ih_l2",
                        "rnn.weight_hh_l2",
                        "rnn.bias_ih_l2",
                        "rnn.bias_hh_l2",
                        "out_layer.weight",
                        "out_layer.bias"),
                names);
        assertEquals("[1024, 384]", layout.tensor("rnn.weight_ih_l0").shapeString());
        assertEquals("[1024, 256]", layout.tensor("rnn.weight_hh_l2").shapeString());
        assertEquals("[3, 256]", layout.tensor("hidden_1").shapeString());
        assertEquals("[2, 128]", layout.tensor("prev_embed.weight").shapeString());
        assertEquals(
                1_695_488, Config.resolve("text-lstm-baseline").model().layout().size());
        assertEquals(
                "[128, 128]",
                Config.resolve("text-lstm-baseline")
                        .model()
                        .layout()
                        .tensor("pos_embed.weight")
                        .shapeString());
        Config small = Config.resolve("small-mnist-lstm-baseline");
        assertEquals(76_929, small.model().layout().size());
        // The reference's Adam: lr 1e-3, PyTorch's betas, when the config says nothing.
        Config bare = Config.parse("task: mnist\nmodel: lstm_baseline\n", "bare.yaml");
        assertEquals(1e-3, bare.outerLr());
        assertEquals(0.999, bare.beta2());
        assertEquals(bare, Config.fromJson(bare.toJson(), "again"));
        assertEquals(small, Config.parse(small.toYaml(), "again.yaml"));
    }

    @Test
    void badBaselineSettingsAreOneLineNamingTheField() {
        String[][] cases = {
            {"model: {lstm_baseline: {hidden: 0}}", "model.lstm_baseline.hidden"},
            {"model: {lstm_baseline: {stop_grad: maybe}}", "model.lstm_baseline.stop_grad"},
            {"model: {lstm_baseline: {hiden: 4}}", "hidden"},
            {"model: {lstm_baseline: {}, linear: {}}", "model"},
            {"model: lstm_baseline\nalgorithm: maml", "algorithm"},
            {"model: lstm_baseline\ninner_lr: {learned: per_tensor}", "inner_lr"},
        };
        for (String[] c : cases) {
            ConfigException e = org.junit.jupiter.api.Assertions.assertThrows(
                    ConfigException.class, () -> Config.parse("task: mnist\n" + c[0] + "\n", "b.yaml"), c[0]);
            assertTrue(
                    e.getMessage().contains(c[1]) && e.getMessage().lines().count() == 1,
                    c[0] + " -> " + e.getMessage());
        }
    }

    @Test
    void everyCommandTakesTheBaselineAndResumeIsBitForBit() throws IOException {
        Path a = dir.resolve("a"), b = dir.resolve("b");
        String images = data.mnistDir().toString();
        Run full = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                images,
                "--out",
                a.toString(),
                "--backend",
                "cpu",
                "--threads",
                "2");
        assertEquals(0, full.status(), full.err());
        assertTrue(full.err().contains("lstm baseline"), full.err());
        assertTrue(full.err().contains("done: meta-step 4"), full.err());
        assertTrue(Files.exists(a.resolve("samples.png")));
        List<String> metrics = Files.readAllLines(a.resolve("metrics.jsonl"));
        assertEquals(4, metrics.stream().filter(l -> l.contains("\"loss\"")).count());
        assertTrue(metrics.stream().anyMatch(l -> l.contains("\"eval_bits_per_dim\"")), metrics.toString());

        // Half the run on one thread, then --resume on two: the same parameters and Adam state, bit for bit.
        Run half = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                images,
                "--out",
                b.toString(),
                "--set",
                "steps=2",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, half.status(), half.err());
        Run rest = run(
                "train", "--out", b.toString(), "--resume", "--set", "steps=4", "--backend", "cpu", "--threads", "2");
        assertEquals(0, rest.status(), rest.err());
        Path ck = a.resolve("checkpoint.safetensors");
        TrainingCheckpoint ca = TrainingCheckpoint.read(ck, true);
        TrainingCheckpoint cb = TrainingCheckpoint.read(b.resolve("checkpoint.safetensors"), true);
        assertEquals(4, cb.step());
        assertEquals(4, ca.state().adamStep());
        assertArrayEquals(ca.state().theta(), cb.state().theta(), 0);
        assertArrayEquals(ca.state().adamM(), cb.state().adamM(), 0);
        assertArrayEquals(ca.state().adamV(), cb.state().adamV(), 0);

        // The checkpoint holds the parameters under PyTorch's names, and the Adam moments beside them.
        var raw = Checkpoint.read(ck, true);
        Config cfg = ca.config();
        assertEquals(cfg.model().layout().size(), raw.params(cfg.model().layout()).length);
        assertTrue(raw.hasOptimizerState());

        Run ev = run("eval", "--checkpoint", ck.toString(), "--json", "--backend", "cpu");
        assertEquals(0, ev.status(), ev.err());
        assertTrue(ev.out().contains("\"bits_per_dim\"") && ev.out().contains("\"tasks\": 4"), ev.out());

        Path png = dir.resolve("digits.png");
        Run s = run(
                "sample", "--checkpoint", ck.toString(), "--count", "4", "--out", png.toString(), "--backend", "cpu");
        assertEquals(0, s.status(), s.err());
        assertTrue(ImageIO.read(png.toFile()).getWidth() >= 56);

        Run info = run("info", "--checkpoint", ck.toString());
        assertEquals(0, info.status(), info.err());
        assertTrue(info.out().contains("rnn.weight_hh_l1") && info.out().contains("lstm baseline"), info.out());
        Run plan = run("info", "--config", mnistConfig.toString(), "--plan");
        assertEquals(1, plan.status());

        Path loss = dir.resolve("loss.png");
        Run plot = run("plot", "--metrics", a.resolve("metrics.jsonl").toString(), "--out", loss.toString());
        assertEquals(0, plot.status(), plot.err());

        Run bench = run(
                "bench",
                "--config",
                mnistConfig.toString(),
                "--batch",
                "2,3",
                "--inner-steps",
                "20",
                "--repeats",
                "1",
                "--backend",
                "cpu");
        assertEquals(0, bench.status(), bench.err());
        assertEquals(2, bench.out().lines().count(), bench.out());
        assertTrue(
                bench.out().contains("\"ms_per_training_step\"") && bench.out().contains("\"images_per_s\""),
                bench.out());

        Run cuda = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                images,
                "--out",
                dir.resolve("c").toString(),
                "--backend",
                "cuda");
        // This pass runs without a GPU (the cuda path is CliOnCudaTest's): one line saying why.
        assertEquals(1, cuda.status());
        assertTrue(
                cuda.err().contains("--backend cuda: ")
                        && cuda.err().strip().lines().count() == 1,
                cuda.err());
    }

    @Test
    void gradWritesThePlainGradientOfTheMeanLossUnderTheParameterNames() throws IOException {
        Config cfg = Config.load(mnistConfig);
        ParamLayout layout = cfg.model().layout();
        double[] theta = org.reptilegen.model.ParamInit.draw(layout, org.reptilegen.util.Rng.of(3), false);
        Path init = dir.resolve("init.safetensors");
        Checkpoint.writeParams(init, layout, theta, true, null);
        Path tasks = dir.resolve("tasks.jsonl");
        Files.writeString(
                tasks,
                "{\"x\": [[0, 0], [0, 1], [0, 2]], \"y\": [1, 0, 1]}\n{\"x\": [[5, 5], [5, 6]], \"y\": [0, 0]}\n");
        Path out = dir.resolve("g.safetensors");
        Run r = run(
                "grad",
                "--config",
                mnistConfig.toString(),
                "--init",
                init.toString(),
                "--tasks",
                tasks.toString(),
                "--precision",
                "float64",
                "--out",
                out.toString(),
                "--backend",
                "cpu");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("backprop gradient"), r.err());
        double[] g = Checkpoint.read(out, false).params(layout);
        // The same gradient as the engine's, for the mean over the two tasks.
        double[] expect = new double[theta.length];
        try (Engine e = Engines.create(
                EngineOptions.settings(cfg.with(List.of("precision=float64")), 1), Engines.Backend.CPU, l -> {})) {
            e.setState(org.reptilegen.core.TrainState.fresh(theta));
            e.metaGradient(org.reptilegen.task.TaskFile.read(tasks, cfg.model()), expect);
        }
        assertArrayEquals(expect, g, 0);
        assertTrue(java.util.Arrays.stream(g).anyMatch(v -> v != 0));
        Files.writeString(tasks, "{\"x\": [[0, 0], [0, 28]], \"y\": [1, 0]}\n");
        Run bad = run(
                "grad",
                "--config",
                mnistConfig.toString(),
                "--init",
                init.toString(),
                "--tasks",
                tasks.toString(),
                "--out",
                dir.resolve("bad.safetensors").toString(),
                "--backend",
                "cpu");
        assertEquals(1, bad.status());
        assertTrue(
                bad.err().contains("y_embed.weight")
                        && bad.err().strip().lines().count() == 1,
                bad.err());
    }

    @Test
    void evalScoresTheSameHeldOutDigitsAsTheMetaLearnedModels() throws IOException {
        Config baseline = Config.load(mnistConfig).with(List.of("data=" + data.mnistDir()));
        Config meta = Config.load(data.mnistConfig()).with(List.of("data=" + data.mnistDir()));
        TaskSource tb = TaskSources.open(baseline, null, Split.TEST, false),
                tm = TaskSources.open(meta, null, Split.TEST, false);
        assertEquals(tm.size(), tb.size());
        TaskBatch xb = tb.range(0, 4), xm = tm.range(0, 4);
        for (int i = 0; i < 4; i++) {
            assertArrayEquals(xm.y()[i], xb.y()[i]);
            for (int t = 0; t < xm.steps(i); t++) assertArrayEquals(xm.x()[i][t], xb.x()[i][t]);
        }
        // eval's number is the mean NLL of exactly those digits.
        Path a = dir.resolve("e");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                mnistConfig.toString(),
                                "--data",
                                data.mnistDir().toString(),
                                "--out",
                                a.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        TrainingCheckpoint c = TrainingCheckpoint.read(a.resolve("checkpoint.safetensors"), false);
        double mean;
        try (Engine e = Engines.create(EngineOptions.settings(c.config(), 1), Engines.Backend.CPU, l -> {})) {
            e.setState(c.state());
            mean = java.util.Arrays.stream(e.evaluate(xb)).average().orElseThrow();
        }
        Run ev = run(
                "eval",
                "--checkpoint",
                a.resolve("checkpoint.safetensors").toString(),
                "--tasks",
                "4",
                "--json",
                "--backend",
                "cpu");
        assertEquals(0, ev.status(), ev.err());
        assertTrue(ev.out().contains(String.format("\"nll\": %.6f", mean)), ev.out() + " vs " + mean);
    }

    @Test
    void theTextBaselineTrainsSamplesAndEvaluates() throws IOException {
        Path a = dir.resolve("t");
        Run train = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                data.corpus().toString(),
                "--out",
                a.toString(),
                "--backend",
                "cpu");
        assertEquals(0, train.status(), train.err());
        assertTrue(Files.exists(a.resolve("samples.txt")));
        Path ck = a.resolve("checkpoint.safetensors");
        Run s = run("sample", "--checkpoint", ck.toString(), "--count", "3", "--seed", "2", "--backend", "cpu");
        assertEquals(0, s.status(), s.err());
        assertEquals(3, s.out().lines().count(), s.out());
        assertEquals(
                s.out(),
                run("sample", "--checkpoint", ck.toString(), "--count", "3", "--seed", "2", "--backend", "cpu")
                        .out());
        Run ev = run("eval", "--checkpoint", ck.toString(), "--backend", "cpu");
        assertEquals(0, ev.status(), ev.err());
        assertTrue(ev.out().contains("bits per dim"), ev.out());
    }
}
