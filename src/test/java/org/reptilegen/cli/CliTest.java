package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.Checkpoint;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.util.Rng;

/** The command line end to end, on data the test makes itself. */
class CliTest {
    @TempDir
    static Path dir;

    static Path corpus, textConfig, mnistDir, mnistConfig;

    record Run(int status, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int status = Main.execute(args);
            return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /** A text corpus with its config, and MNIST-format images with theirs, made in dir. */
    record Data(Path corpus, Path textConfig, Path mnistDir, Path mnistConfig) {}

    @BeforeAll
    static void data() throws IOException {
        Data d = makeData(dir);
        corpus = d.corpus();
        textConfig = d.textConfig();
        mnistDir = d.mnistDir();
        mnistConfig = d.mnistConfig();
    }

    static Data makeData(Path dir) throws IOException {
        // A corpus with a lot of structure, so a tiny model's loss drops within a few dozen meta-steps.
        List<String> lines = new ArrayList<>();
        Rng r = Rng.of(1);
        for (int i = 0; i < 200; i++)
            lines.add("item " + (char) ('a' + r.nextInt(4)) + (char) ('a' + r.nextInt(4)) + " ok");
        Path corpus = dir.resolve("corpus.txt");
        Files.write(corpus, lines, StandardCharsets.UTF_8);
        Path textConfig = dir.resolve("text.yaml");
        Files.writeString(
                textConfig,
                String.join(
                        "\n",
                        "task: text",
                        "model:",
                        "  - embed: {tables: [[12, 8]]}",
                        "  - linear: {in: 8, out: 16}",
                        "  - tanh",
                        "  - linear: {in: 16, out: 256}",
                        "meta_batch: 4",
                        "inner_lr: 0.02",
                        "outer: {lr: 0.01}",
                        "max_len: 12",
                        "steps: 6",
                        "checkpoint_every: 3",
                        "eval_tasks: 4",
                        ""));
        Path mnistDir = dir.resolve("mnist");
        Files.createDirectories(mnistDir);
        writeImages(mnistDir.resolve("train-images-idx3-ubyte.gz"), 12, 2);
        writeImages(mnistDir.resolve("t10k-images-idx3-ubyte.gz"), 6, 3);
        Path mnistConfig = dir.resolve("mnist.yaml");
        Files.writeString(
                mnistConfig,
                String.join(
                        "\n",
                        "task: mnist",
                        "model:",
                        "  - embed: {tables: [[28, 4], [28, 4]]}",
                        "  - linear: {in: 8, out: 8}",
                        "  - layernorm: {dim: 8}",
                        "  - lstm_block: {dim: 8}",
                        "  - linear: {in: 8, out: 1}",
                        "meta_batch: 2",
                        "steps: 2",
                        "eval_tasks: 2",
                        ""));
        return new Data(corpus, textConfig, mnistDir, mnistConfig);
    }

    static void writeImages(Path file, int count, long seed) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int[] header = {0x803, count, 28, 28};
        for (int h : header) b.write(new byte[] {(byte) (h >>> 24), (byte) (h >>> 16), (byte) (h >>> 8), (byte) h});
        Rng r = Rng.of(seed);
        for (int i = 0; i < count * 28 * 28; i++) b.write(r.nextInt(256));
        try (GZIPOutputStream gz = new GZIPOutputStream(Files.newOutputStream(file))) {
            gz.write(b.toByteArray());
        }
    }

    @Test
    void trainResumeSampleEvalInfoPlot() throws IOException {
        Path a = dir.resolve("a"), b = dir.resolve("b");
        Run full = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                corpus.toString(),
                "--out",
                a.toString(),
                "--backend",
                "cpu");
        assertEquals(0, full.status(), full.err());
        assertTrue(Files.exists(a.resolve("checkpoint.safetensors")));
        assertTrue(Files.exists(a.resolve("samples.txt")));
        assertTrue(full.err().contains("done: meta-step 6"), full.err());
        assertEquals(
                6,
                Files.readAllLines(a.resolve("metrics.jsonl")).stream()
                        .filter(l -> l.contains("\"loss\""))
                        .count());

        // Half the run, then --resume: the same parameters and Adam state, bit for bit.
        Run half = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                corpus.toString(),
                "--out",
                b.toString(),
                "--set",
                "steps=3",
                "--backend",
                "cpu");
        assertEquals(0, half.status(), half.err());
        Run again = run("train", "--config", textConfig.toString(), "--out", b.toString(), "--backend", "cpu");
        assertEquals(1, again.status(), "a second run into the same directory must ask for --resume");
        assertTrue(again.err().contains("--resume"), again.err());
        Run rest = run("train", "--out", b.toString(), "--resume", "--set", "steps=6", "--backend", "cpu");
        assertEquals(0, rest.status(), rest.err());
        TrainingCheckpoint ca = TrainingCheckpoint.read(a.resolve("checkpoint.safetensors"), true);
        TrainingCheckpoint cb = TrainingCheckpoint.read(b.resolve("checkpoint.safetensors"), true);
        assertEquals(6, cb.step());
        assertArrayEquals(ca.state().theta(), cb.state().theta(), 0);
        assertArrayEquals(ca.state().adamM(), cb.state().adamM(), 0);
        assertArrayEquals(ca.state().adamV(), cb.state().adamV(), 0);
        assertEquals(
                Files.readAllLines(a.resolve("metrics.jsonl")).size(),
                Files.readAllLines(b.resolve("metrics.jsonl")).size());

        Path ck = a.resolve("checkpoint.safetensors");
        Run s1 = run("sample", "--checkpoint", ck.toString(), "--count", "3", "--seed", "5", "--backend", "cpu");
        Run s2 = run("sample", "--checkpoint", ck.toString(), "--count", "3", "--seed", "5", "--backend", "cpu");
        assertEquals(0, s1.status(), s1.err());
        assertEquals(3, s1.out().lines().count());
        assertEquals(s1.out(), s2.out(), "the same seed gives the same samples");

        Run ev = run("eval", "--checkpoint", ck.toString(), "--tasks", "5", "--json", "--backend", "cpu");
        assertEquals(0, ev.status(), ev.err());
        assertTrue(ev.out().contains("\"bits_per_dim\""), ev.out());

        Run info = run("info", "--checkpoint", ck.toString());
        assertEquals(0, info.status(), info.err());
        assertTrue(info.out().contains("module_1.linear.weight"), info.out());

        Path png = dir.resolve("loss.png");
        Run plot = run("plot", "--metrics", a.resolve("metrics.jsonl").toString(), "--out", png.toString());
        assertEquals(0, plot.status(), plot.err());
        assertTrue(ImageIO.read(png.toFile()).getWidth() > 100);
    }

    @Test
    void imagesTrainAndSampleToPng() throws IOException {
        Path m = dir.resolve("m");
        Run train = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                mnistDir.toString(),
                "--out",
                m.toString(),
                "--samples",
                "4",
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(0, train.status(), train.err());
        assertTrue(ImageIO.read(m.resolve("samples.png").toFile()) != null);
        Path png = dir.resolve("s.png");
        Run sample = run(
                "sample",
                "--checkpoint",
                m.resolve("checkpoint.safetensors").toString(),
                "--count",
                "2",
                "--out",
                png.toString(),
                "--backend",
                "cpu");
        assertEquals(0, sample.status(), sample.err());
        assertTrue(ImageIO.read(png.toFile()).getHeight() > 28);
        Run ev = run(
                "eval",
                "--checkpoint",
                m.resolve("checkpoint.safetensors").toString(),
                "--tasks",
                "3",
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(0, ev.status(), ev.err());
        assertTrue(ev.out().contains("bits per dim"), ev.out());
    }

    @Test
    void theLossOfATinyModelOnATinyCorpusGoesDown() throws IOException {
        Path out = dir.resolve("learn");
        Run r = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                corpus.toString(),
                "--out",
                out.toString(),
                "--set",
                "steps=60",
                "--set",
                "checkpoint_every=0",
                "--set",
                "eval_tasks=0",
                "--samples",
                "0",
                "--backend",
                "cpu");
        assertEquals(0, r.status(), r.err());
        List<Double> losses = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            var n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
            if (n.has("loss")) losses.add(n.get("loss").asDouble());
        }
        double first = (losses.get(0) + losses.get(1) + losses.get(2)) / 3;
        double last = (losses.get(57) + losses.get(58) + losses.get(59)) / 3;
        assertTrue(last < 0.7 * first, "loss went from " + first + " to " + last);
    }

    @Test
    void gradWritesTheMetaGradientUnderTheParameterNames() throws IOException {
        Config cfg = Config.load(textConfig);
        double[] theta = org.reptilegen.model.ParamInit.draw(cfg.model().layout(), Rng.of(3), false);
        Path init = dir.resolve("init.safetensors");
        Checkpoint.writeParams(init, cfg.model().layout(), theta, true, null);
        Path tasks = dir.resolve("tasks.jsonl");
        Files.writeString(
                tasks,
                "{\"x\": [[0], [1], [2], [3]], \"y\": [104, 105, 33, 0]}\n{\"x\": [[0], [1]], \"y\": [111, 0]}\n");
        for (String algo : new String[] {"reptile", "fomaml", "maml"}) {
            Path out = dir.resolve("g-" + algo + ".safetensors");
            Run r = run(
                    "grad",
                    "--config",
                    textConfig.toString(),
                    "--init",
                    init.toString(),
                    "--tasks",
                    tasks.toString(),
                    "--algo",
                    algo,
                    "--precision",
                    "float64",
                    "--out",
                    out.toString(),
                    "--backend",
                    "cpu");
            assertEquals(0, r.status(), r.err());
            double[] g = Checkpoint.read(out, false).params(cfg.model().layout());
            double norm = 0;
            for (double v : g) norm += v * v;
            assertTrue(norm > 0, algo + " gradient is zero");
        }
        Files.writeString(tasks, "{\"x\": [[0], [1]], \"y\": [300, 0]}\n");
        Run bad = run(
                "grad",
                "--config",
                textConfig.toString(),
                "--init",
                init.toString(),
                "--tasks",
                tasks.toString(),
                "--out",
                dir.resolve("bad.safetensors").toString(),
                "--backend",
                "cpu");
        assertEquals(1, bad.status());
        assertTrue(bad.err().contains("tasks.jsonl:1") && bad.err().contains("y[0]"), bad.err());
        assertEquals(1, bad.err().strip().lines().count(), "one line: " + bad.err());
    }

    @Test
    void aTimeLimitEndsTheRunAsItsLastStepWould() throws IOException {
        Path t = dir.resolve("timed");
        Run r = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                corpus.toString(),
                "--out",
                t.toString(),
                "--set",
                "steps=1000000",
                "--time-limit",
                "1s",
                "--samples",
                "2",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("time limit 1s reached at meta-step"), r.err());
        long step = TrainingCheckpoint.read(t.resolve("checkpoint.safetensors"), true)
                .step();
        assertTrue(step >= 1 && step < 1_000_000, "stopped at " + step);
        List<String> metrics = Files.readAllLines(t.resolve("metrics.jsonl"));
        assertTrue(
                metrics.get(metrics.size() - 1).contains("\"eval_nll\"")
                        && metrics.get(metrics.size() - 1).contains("\"step\":" + step),
                "the held-out evaluation at the last step: " + metrics.get(metrics.size() - 1));
        assertTrue(
                metrics.get(metrics.size() - 2).contains("\"step\":" + step + ","), "the last step's loss is logged");
        assertTrue(Files.exists(t.resolve("samples.txt")));

        // A bad value is bad usage: exit 2, one line naming the option and the value.
        Run bad = run(
                "train",
                "--config",
                textConfig.toString(),
                "--out",
                dir.resolve("t2").toString(),
                "--time-limit",
                "soon");
        assertEquals(2, bad.status());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
        Run huge = run(
                "train",
                "--config",
                textConfig.toString(),
                "--out",
                dir.resolve("t3").toString(),
                "--time-limit",
                "99999999999h");
        assertEquals(2, huge.status(), huge.err());
        assertTrue(huge.err().contains("longer than 100 years"), huge.err());
        assertTrue(bad.err().contains("--time-limit") && bad.err().contains("soon"), bad.err());
        assertEquals(java.time.Duration.ofSeconds(5400), TrainCommand.parseDuration("1h30m"));
        assertEquals(java.time.Duration.ofSeconds(90), TrainCommand.parseDuration("90s"));
        assertEquals(java.time.Duration.ofSeconds(90), TrainCommand.parseDuration("90"));
        assertEquals(java.time.Duration.ofMinutes(10), TrainCommand.parseDuration("PT10M"));
        assertEquals(java.time.Duration.ofMillis(1500), TrainCommand.parseDuration("1.5s"));
    }

    @Test
    void benchPrintsOneJsonLinePerCase() throws IOException {
        Config cfg = Config.load(textConfig);
        long p = cfg.model().layout().size();
        Run r = run(
                "bench",
                "--config",
                textConfig.toString(),
                "--batch",
                "2,3",
                "--inner-steps",
                "5",
                "--algorithm",
                "reptile,maml",
                "--repeats",
                "1",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, r.status(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(4, lines.size(), r.out());
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        int i = 0;
        for (String algo : new String[] {"reptile", "maml"})
            for (int b : new int[] {2, 3}) {
                com.fasterxml.jackson.databind.JsonNode line = json.readTree(lines.get(i++));
                assertEquals(algo, line.get("algorithm").asText());
                assertEquals(b, line.get("batch").asInt());
                assertEquals(5, line.get("inner_steps").asInt());
                assertTrue(line.get("ms_per_inner_step").asDouble() > 0, line.toString());
                assertTrue(line.get("ratio_to_copy").asDouble() > 0, line.toString());
                // Each task's parameters read twice and written once (float32); MAML adds its five passes.
                assertEquals(
                        (algo.equals("maml") ? 8 : 3) * b * p * 4,
                        line.get("min_bytes_per_step").asLong());
                assertEquals(algo.equals("maml"), line.has("maml_segment"), line.toString());
                assertTrue(
                        line.has("device") && line.has("task_steps_per_s") && line.has("peak_memory_bytes"),
                        line.toString());
            }
        assertEquals(
                5,
                BenchCommand.passes(org.reptilegen.core.Algorithm.FOMAML),
                "FOMAML also reads and writes its accumulator");
        Run bad = run("bench", "--config", textConfig.toString(), "--batch", "0", "--backend", "cpu");
        assertEquals(2, bad.status(), bad.err());
        assertTrue(bad.err().contains("--batch"), bad.err());
        // The cuda backend's variants: the cpu backend has none of them and runs each case once.
        Run variants = run(
                "bench",
                "--config",
                textConfig.toString(),
                "--batch",
                "2",
                "--inner-steps",
                "3",
                "--repeats",
                "1",
                "--graphs",
                "on,off",
                "--row-splits",
                "auto,2",
                "--fold-small-layers",
                "on,off",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, variants.status(), variants.err());
        assertEquals(1, variants.out().strip().lines().count(), variants.out());
        for (String[] opt : new String[][] {
            {"--fold-small-layers", "maybe"},
            {"--graphs", "yes"},
            {"--row-splits", "17"},
            {"--algorithm", "sgd"},
            {"--backend", "gpu"}
        }) {
            Run badValue = run("bench", "--config", textConfig.toString(), opt[0], opt[1], "--backend", "cpu");
            if (opt[0].equals("--backend")) badValue = run("bench", "--config", textConfig.toString(), opt[0], opt[1]);
            assertEquals(2, badValue.status(), String.join(" ", opt) + ": " + badValue.err());
            assertTrue(badValue.err().contains(opt[0]) && badValue.err().contains(opt[1]), badValue.err());
            assertEquals(1, badValue.err().strip().lines().count(), badValue.err());
        }
        if (org.reptilegen.engine.cuda.CudaEngine.unavailableReason() != null) {
            // Every case would fail the same way: one line, before any case runs.
            Run noGpu = run("bench", "--config", textConfig.toString(), "--batch", "2,3", "--backend", "cuda");
            assertEquals(1, noGpu.status());
            assertTrue(noGpu.out().isEmpty(), noGpu.out());
            assertTrue(noGpu.err().contains("--backend cuda"), noGpu.err());
            assertEquals(1, noGpu.err().strip().lines().count(), "one line: " + noGpu.err());
        }
    }

    @Test
    void doctorSaysWhatThisMachineHasAndRunsTheSmokeTest() {
        Run r = run("doctor", "--run");
        assertTrue(r.out().startsWith("OK    Java "), r.out());
        for (String line : r.out().strip().split("\n"))
            assertTrue(
                    line.startsWith("OK    ") || line.startsWith("FAIL  ") || line.startsWith("--    "),
                    "one status per line: " + line);
        if (org.reptilegen.engine.cuda.CudaEngine.unavailableReason() != null) {
            // Without a GPU: one line says so, the cpu smoke test runs, and only --require-gpu fails.
            assertEquals(0, r.status(), r.out());
            assertEquals(
                    1,
                    r.out().lines().filter(l -> l.startsWith("--    no GPU: ")).count(),
                    r.out());
            assertTrue(r.out().contains("OK    smoke test (cpu)"), r.out());
            Run strict = run("doctor", "--require-gpu");
            assertEquals(1, strict.status(), strict.out());
            assertTrue(strict.out().contains("FAIL  no GPU: ") && strict.out().contains("--gpus all"), strict.out());
        } else {
            assertEquals(0, r.status(), r.out());
            assertTrue(
                    r.out().contains("OK    GPU 0: ") && r.out().contains("OK    smoke test: replayed CUDA graphs"),
                    r.out());
        }
    }

    @Test
    void anOutputThatIsAnInputIsRefusedBeforeAnythingIsWritten() throws IOException {
        Path run = dir.resolve("keep");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                textConfig.toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                run.toString(),
                                "--set",
                                "steps=2",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        Path ck = run.resolve("checkpoint.safetensors"), metrics = run.resolve("metrics.jsonl");
        Path link = dir.resolve("link.safetensors");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, ck);
        byte[] ckBytes = Files.readAllBytes(ck), metricsBytes = Files.readAllBytes(metrics);
        for (String[] args : new String[][] {
            {"sample", "--checkpoint", ck.toString(), "--out", ck.toString(), "--backend", "cpu"},
            {"sample", "--checkpoint", ck.toString(), "--out", link.toString(), "--backend", "cpu"},
            {
                "grad",
                "--config",
                textConfig.toString(),
                "--init",
                ck.toString(),
                "--tasks",
                metrics.toString(),
                "--out",
                ck.toString()
            },
            {"plot", "--metrics", metrics.toString(), "--out", metrics.toString()}
        }) {
            Run r = run(args);
            assertEquals(1, r.status(), String.join(" ", args));
            assertTrue(r.err().contains("would destroy the input"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertTrue(java.util.Arrays.equals(ckBytes, Files.readAllBytes(ck)), "the checkpoint is untouched");
        assertTrue(java.util.Arrays.equals(metricsBytes, Files.readAllBytes(metrics)), "the metrics are untouched");
    }

    @Test
    void aRunDirectoryHeldByAnotherRunIsRefusedAndNamesItsProcess() throws IOException {
        Path held = dir.resolve("held");
        try (RunLock lock = RunLock.take(held)) {
            Run r = run(
                    "train",
                    "--config",
                    textConfig.toString(),
                    "--data",
                    corpus.toString(),
                    "--out",
                    held.toString(),
                    "--set",
                    "steps=1",
                    "--backend",
                    "cpu");
            assertEquals(1, r.status(), r.err());
            assertTrue(
                    r.err()
                            .contains("is in use by another run (process "
                                    + ProcessHandle.current().pid() + ")"),
                    r.err());
            Run resume = run("train", "--out", held.toString(), "--resume", "--backend", "cpu");
            assertEquals(1, resume.status(), resume.err());
            assertTrue(resume.err().contains("in use by another run"), resume.err());
        }
        // Released (as the system releases it when a process dies): the directory can be trained in.
        Run r = run(
                "train",
                "--config",
                textConfig.toString(),
                "--data",
                corpus.toString(),
                "--out",
                held.toString(),
                "--set",
                "steps=1",
                "--samples",
                "0",
                "--set",
                "eval_tasks=0",
                "--backend",
                "cpu");
        assertEquals(0, r.status(), r.err());
        // A run that fails before writing anything leaves no directory behind.
        Path none = dir.resolve("never");
        Run missing = run("train", "--out", none.toString(), "--resume", "--backend", "cpu");
        assertEquals(1, missing.status());
        assertTrue(!Files.exists(none), "an empty run directory was left");
    }

    @Test
    void negativeAndZeroCountsAreBadUsage() {
        String ck = dir.resolve("a").resolve("checkpoint.safetensors").toString();
        for (String[] args : new String[][] {
            {
                "train",
                "--config",
                textConfig.toString(),
                "--out",
                dir.resolve("neg").toString(),
                "--threads",
                "-1"
            },
            {
                "train",
                "--config",
                textConfig.toString(),
                "--out",
                dir.resolve("neg").toString(),
                "--samples",
                "-3"
            },
            {"sample", "--checkpoint", ck, "--count", "0"},
            {"eval", "--checkpoint", ck, "--tasks", "0"},
            {"info", "--config", textConfig.toString(), "--segment", "-2"},
            {"bench", "--config", textConfig.toString(), "--threads", "two"}
        }) {
            Run r = run(args);
            assertEquals(2, r.status(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(args[args.length - 2]) && r.err().contains(args[args.length - 1]), r.err());
        }
        Run hot = run("sample", "--checkpoint", ck, "--temperature", "Infinity", "--backend", "cpu");
        assertEquals(2, hot.status());
        assertTrue(hot.err().contains("--temperature") && hot.err().contains("positive and finite"), hot.err());
        Run lr = run(
                "grad",
                "--config",
                textConfig.toString(),
                "--init",
                ck,
                "--tasks",
                ck,
                "--out",
                dir.resolve("g.st").toString(),
                "--inner-lr",
                "Infinity");
        assertEquals(2, lr.status());
        assertTrue(lr.err().contains("--inner-lr") && lr.err().contains("positive and finite"), lr.err());
    }

    @Test
    void aFinishedRunOrAStepOutOfRangeIsOneClearErrorOnResume() throws IOException {
        Path run = dir.resolve("finished");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                textConfig.toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                run.toString(),
                                "--set",
                                "steps=3",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        Run again = run("train", "--out", run.toString(), "--resume", "--backend", "cpu");
        assertEquals(1, again.status());
        assertTrue(again.err().contains("at meta-step 3 of a run of 3: the run is finished"), again.err());
        Run fewer = run("train", "--out", run.toString(), "--resume", "--set", "steps=2", "--backend", "cpu");
        assertEquals(1, fewer.status());
        assertTrue(fewer.err().contains("at meta-step 3 of a run of 2"), fewer.err());
        assertEquals(metrics, Files.readAllLines(run.resolve("metrics.jsonl")), "the metrics are untouched");
        assertTrue(
                Files.readString(run.resolve("config.yaml")).contains("steps: 3"), "config.yaml keeps the run's steps");
    }

    @Test
    void aCheckpointHoldingNaNIsRefusedWithTheTensorsName() throws IOException {
        Path run = dir.resolve("nan");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                textConfig.toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                run.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        Path ck = run.resolve("checkpoint.safetensors");
        byte[] b = Files.readAllBytes(ck);
        long header = java.nio.ByteBuffer.wrap(b, 0, 8)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .getLong();
        java.nio.ByteBuffer.wrap(b, (int) (8 + header), 4)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putFloat(Float.NaN);
        Files.write(ck, b);
        for (String[] args : new String[][] {
            {"eval", "--checkpoint", ck.toString(), "--backend", "cpu"},
            {"sample", "--checkpoint", ck.toString(), "--backend", "cpu"},
            {"train", "--out", run.toString(), "--resume", "--set", "steps=2", "--backend", "cpu"},
            {
                "grad",
                "--config",
                textConfig.toString(),
                "--init",
                ck.toString(),
                "--tasks",
                corpus.toString(),
                "--out",
                dir.resolve("nan-grad.safetensors").toString(),
                "--backend",
                "cpu"
            }
        }) {
            Run r = run(args);
            assertEquals(1, r.status(), args[0]);
            assertTrue(r.err().contains("tensor ") && r.err().contains("holds NaN"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertTrue(!Files.exists(dir.resolve("nan-grad.safetensors")), "no NaN gradient is written");
    }

    @Test
    void imagesOfAnotherSizeAreRefusedBeforeTrainingNamingTheFile() throws IOException {
        Path odd = dir.resolve("odd");
        Files.createDirectories(odd);
        Files.copy(
                mnistDir.resolve("train-images-idx3-ubyte.gz"),
                odd.resolve("train-images-idx3-ubyte.gz"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int h : new int[] {0x803, 3, 20, 20})
            b.write(new byte[] {(byte) (h >>> 24), (byte) (h >>> 16), (byte) (h >>> 8), (byte) h});
        b.write(new byte[3 * 20 * 20]);
        try (GZIPOutputStream gz =
                new GZIPOutputStream(Files.newOutputStream(odd.resolve("t10k-images-idx3-ubyte.gz")))) {
            gz.write(b.toByteArray());
        }
        Path out = dir.resolve("odd-run");
        Run r = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                odd.toString(),
                "--out",
                out.toString(),
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(1, r.status());
        assertTrue(
                r.err().contains("t10k-images-idx3-ubyte.gz holds 20 x 20 images; the models take 28 x 28"), r.err());
        assertTrue(!Files.exists(out), "a run directory was left behind");
    }

    @Test
    void aRunCleansWhatAKilledRunLeftAndAFailedStartLeavesNoDirectory() throws IOException {
        Path run = dir.resolve("stale");
        Files.createDirectories(run);
        Path tmp = run.resolve(".checkpoint.safetensors.5eed.tmp"), metricsTmp = run.resolve(".metrics.jsonl.0a1b.tmp");
        Files.writeString(tmp, "half a checkpoint");
        Files.writeString(metricsTmp, "half the metrics");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                textConfig.toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                run.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        assertTrue(!Files.exists(tmp) && !Files.exists(metricsTmp), "temporaries of a killed run are removed");
        if (org.reptilegen.engine.cuda.CudaEngine.unavailableReason() != null) {
            Path none = dir.resolve("no-engine");
            Run r = run(
                    "train",
                    "--config",
                    textConfig.toString(),
                    "--data",
                    corpus.toString(),
                    "--out",
                    none.toString(),
                    "--backend",
                    "cuda");
            assertEquals(1, r.status());
            assertTrue(!Files.exists(none), "a run whose engine did not start left " + none);
        }
        Run emptyOut = run("train", "--config", textConfig.toString(), "--out", "", "--backend", "cpu");
        assertEquals(1, emptyOut.status());
        assertTrue(emptyOut.err().contains("--out is empty"), emptyOut.err());
        Run emptyConfig = run("info", "--config", "");
        assertEquals(1, emptyConfig.status());
        assertTrue(emptyConfig.err().contains("--config: is empty"), emptyConfig.err());
        Run noArgs = run();
        assertEquals(2, noArgs.status());
        assertTrue(noArgs.err().contains("Usage: reptile-gen"), noArgs.err());
    }

    @Test
    void aBatchBeyondTheHeapIsRefusedWithTheNumbersBeforeAnythingIsWritten() throws IOException {
        Path out = dir.resolve("huge");
        Run r = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                mnistDir.toString(),
                "--out",
                out.toString(),
                "--set",
                "meta_batch=1000000000",
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(1, r.status(), r.err());
        assertTrue(
                r.err().contains("meta_batch 1000000000 (tasks of 784 steps) needs about")
                        && r.err().contains("fit here"),
                r.err());
        assertTrue(!Files.exists(out), "a refused run left " + out);
        Path ck = dir.resolve("keep-for-huge");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                textConfig.toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                ck.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        Run s = run(
                "sample",
                "--checkpoint",
                ck.resolve("checkpoint.safetensors").toString(),
                "--count",
                "2000000000",
                "--backend",
                "cpu");
        assertEquals(1, s.status(), s.err());
        assertTrue(s.err().contains("--count 2000000000") && s.err().contains("of Java heap"), s.err());
        // bench: the case beyond the heap is its own line with the numbers, and the other cases run.
        Run b = run(
                "bench",
                "--config",
                textConfig.toString(),
                "--batch",
                "1000000000,2",
                "--inner-steps",
                "3",
                "--repeats",
                "1",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(1, b.status(), b.err());
        List<String> lines = b.out().strip().lines().toList();
        assertEquals(2, lines.size(), b.out());
        assertTrue(
                lines.get(0).contains("\"error\":\"--batch 1000000000 (tasks of 3 steps) needs about")
                        && lines.get(0).contains("fit here"),
                lines.get(0));
        assertTrue(lines.get(1).contains("\"ms_per_inner_step\""), lines.get(1));
    }

    @Test
    void fileSystemErrorsSayWhatIsWrongWithThePath() {
        assertEquals("x: permission denied", Main.describe(new java.nio.file.AccessDeniedException("x")));
        assertEquals("x: a loop of symbolic links", Main.describe(new java.nio.file.FileSystemLoopException("x")));
        assertEquals(
                "x: not a directory",
                Main.describe(new java.io.UncheckedIOException(new java.nio.file.NotDirectoryException("x"))));
        assertEquals("no such file: x", Main.describe(new java.nio.file.NoSuchFileException("x")));
        assertTrue(Main.describe(new OutOfMemoryError()).startsWith("out of memory"));
    }

    @Test
    void badInputGivesOneLineAndANonZeroExit() throws IOException {
        Run unknown = run(
                "train", "--config", "no-such-config", "--out", dir.resolve("u").toString());
        assertEquals(1, unknown.status());
        assertTrue(unknown.err().contains("no-such-config"));
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "task: text\nmodel:\n  - lstm: {dim: 4}\n");
        Run layer = run("info", "--config", bad.toString());
        assertEquals(1, layer.status());
        assertTrue(layer.err().contains("unknown layer 'lstm'"), layer.err());
        assertEquals(1, layer.err().strip().lines().count(), layer.err());
        Path notIdx = dir.resolve("notidx");
        Files.createDirectories(notIdx);
        Files.write(notIdx.resolve("train-images-idx3-ubyte"), new byte[] {0, 0, 8, 1, 0, 0, 0, 0});
        Run magic = run(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                notIdx.toString(),
                "--out",
                dir.resolve("n").toString(),
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(1, magic.status());
        assertTrue(magic.err().contains("magic"), magic.err());
        Run usage = run("train", "--no-such-option");
        assertEquals(2, usage.status());
    }
}
