package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.Checkpoint;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.cli.CliTest.Run;
import org.reptilegen.config.Config;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.util.Norms;
import org.reptilegen.util.Rng;

/**
 * The command line with --backend cuda against --backend cpu, end to end: train (its losses step by step
 * and the parameters it ends with), sample, eval, grad for each algorithm, and bench. The cuda backend
 * stores float32 and the cpu backend, with precision float32, rounds what it stores to float32 but
 * computes in float64: per-step losses, evaluation and gradients agree to {@link #BOUND} (relative),
 * the trained parameters' change to {@link #TRAINED_BOUND}. Runs on a GPU and on the simulated driver.
 */
@Tag("gpu")
class CliOnCudaTest {
    static final double BOUND = 1e-4;
    /**
     * Six Adam steps normalise each gradient element, so an element whose gradient is near zero moves by
     * up to the learning rate on rounding alone; over the whole change of theta that stays this small.
     */
    static final double TRAINED_BOUND = 1e-3;

    @TempDir
    static Path dir;

    static Path corpus, textConfig, mnistDir, mnistConfig;

    @BeforeEach
    void needsTheCudaEngine() {
        String why = CudaEngine.unavailableReason();
        assumeTrue(why == null, "cuda backend unavailable: " + why);
    }

    @BeforeAll
    static void data() throws IOException {
        CliTest.Data d = CliTest.makeData(dir);
        corpus = d.corpus();
        textConfig = d.textConfig();
        mnistDir = d.mnistDir();
        mnistConfig = d.mnistConfig();
    }

    private static Run ok(String... args) {
        Run r = CliTest.run(args);
        assertEquals(0, r.status(), String.join(" ", args) + ": " + r.err());
        return r;
    }

    private static List<Double> losses(Path run) throws IOException {
        List<Double> out = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = json.readTree(line);
            if (n.has("loss")) out.add(n.get("loss").asDouble());
        }
        return out;
    }

    private static void assertRelClose(double want, double got, double bound, String what) {
        assertEquals(want, got, bound * Math.abs(want), what);
    }

    @Test
    void trainSampleAndEvalOnCudaGiveTheCpusResults() throws IOException {
        Path[] runs = new Path[2];
        String[] backends = {"cpu", "cuda"};
        for (int i = 0; i < 2; i++) {
            runs[i] = dir.resolve("text-" + backends[i]);
            Run r = ok(
                    "train",
                    "--config",
                    textConfig.toString(),
                    "--data",
                    corpus.toString(),
                    "--out",
                    runs[i].toString(),
                    "--samples",
                    "2",
                    "--backend",
                    backends[i],
                    "--threads",
                    "1");
            assertTrue(r.err().contains("done: meta-step 6"), r.err());
        }
        List<Double> cpu = losses(runs[0]), cuda = losses(runs[1]);
        assertEquals(6, cpu.size());
        assertEquals(cpu.size(), cuda.size());
        for (int t = 0; t < cpu.size(); t++)
            assertRelClose(cpu.get(t), cuda.get(t), BOUND, "loss of meta-step " + (t + 1));
        TrainingCheckpoint a = TrainingCheckpoint.read(runs[0].resolve("checkpoint.safetensors"), true);
        TrainingCheckpoint b = TrainingCheckpoint.read(runs[1].resolve("checkpoint.safetensors"), true);
        assertEquals(6, b.step());
        Config cfg = Config.load(textConfig);
        double[] init =
                org.reptilegen.model.ParamInit.draw(cfg.model().layout(), Rng.of(cfg.seed(), Rng.STREAM_INIT), true);
        double e = Norms.relativeError(
                minus(b.state().theta(), init), minus(a.state().theta(), init));
        assertTrue(e < TRAINED_BOUND, "the change of theta over six meta-steps: relative error " + e);

        // One checkpoint, both backends: the same samples (same random numbers), the same evaluation.
        String ck = runs[0].resolve("checkpoint.safetensors").toString();
        Run sCpu = ok("sample", "--checkpoint", ck, "--count", "4", "--seed", "9", "--backend", "cpu");
        Run sCuda = ok("sample", "--checkpoint", ck, "--count", "4", "--seed", "9", "--backend", "cuda");
        // On the simulated driver (host float arithmetic) every draw is the cpu backend's; on a GPU a draw
        // may land within rounding of a class boundary, and a sample may hold a newline byte.
        if (System.getProperty("reptilegen.cuda.driver", "").endsWith("cuda-sim/libcuda.so.1")) {
            assertEquals(sCpu.out(), sCuda.out(), "the samples of the cpu backend");
        } else {
            List<String> want = sCpu.out().lines().toList(),
                    got = sCuda.out().lines().toList();
            int same = 0;
            for (int i = 0; i < Math.min(want.size(), got.size()); i++)
                if (want.get(i).equals(got.get(i))) same++;
            assertTrue(same >= want.size() - 2, same + " of " + want.size() + " lines equal the cpu backend's");
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode eCpu = json.readTree(ok(
                        "eval",
                        "--checkpoint",
                        ck,
                        "--data",
                        corpus.toString(),
                        "--tasks",
                        "4",
                        "--json",
                        "--backend",
                        "cpu")
                .out());
        JsonNode eCuda = json.readTree(ok(
                        "eval",
                        "--checkpoint",
                        ck,
                        "--data",
                        corpus.toString(),
                        "--tasks",
                        "4",
                        "--json",
                        "--backend",
                        "cuda")
                .out());
        assertRelClose(
                eCpu.get("bits_per_dim").asDouble(), eCuda.get("bits_per_dim").asDouble(), BOUND, "bits per dim");
    }

    private static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    @Test
    void imagesTrainAndSampleToPngOnCuda() throws IOException {
        Path m = dir.resolve("mnist-cuda");
        ok(
                "train",
                "--config",
                mnistConfig.toString(),
                "--data",
                mnistDir.toString(),
                "--out",
                m.toString(),
                "--samples",
                "2",
                "--no-download",
                "--backend",
                "cuda");
        assertTrue(javax.imageio.ImageIO.read(m.resolve("samples.png").toFile()) != null);
        Run ev = ok(
                "eval",
                "--checkpoint",
                m.resolve("checkpoint.safetensors").toString(),
                "--data",
                mnistDir.toString(),
                "--tasks",
                "2",
                "--no-download",
                "--backend",
                "cuda");
        assertTrue(ev.out().contains("bits per dim"), ev.out());
    }

    @Test
    void gradOnCudaIsTheCpusGradient() throws IOException {
        Config cfg = Config.load(textConfig);
        double[] theta = org.reptilegen.model.ParamInit.draw(cfg.model().layout(), Rng.of(3), false);
        for (int i = 0; i < theta.length; i++) theta[i] = (float) theta[i];
        Path init = dir.resolve("init.safetensors");
        Checkpoint.writeParams(init, cfg.model().layout(), theta, true, null);
        Path tasks = dir.resolve("tasks.jsonl");
        Files.writeString(
                tasks,
                "{\"x\": [[0], [1], [2], [3]], \"y\": [104, 105, 33, 0]}\n{\"x\": [[0], [1]], \"y\": [111, 0]}\n");
        for (String algo : new String[] {"reptile", "fomaml", "maml"}) {
            double[][] g = new double[2][];
            String[] backends = {"cpu", "cuda"};
            for (int i = 0; i < 2; i++) {
                Path out = dir.resolve("g-" + algo + "-" + backends[i] + ".safetensors");
                ok(
                        "grad",
                        "--config",
                        textConfig.toString(),
                        "--init",
                        init.toString(),
                        "--tasks",
                        tasks.toString(),
                        "--algo",
                        algo,
                        "--out",
                        out.toString(),
                        "--backend",
                        backends[i]);
                g[i] = Checkpoint.read(out, false).params(cfg.model().layout());
            }
            double e = Norms.relativeError(g[1], g[0]);
            assertTrue(e < BOUND, algo + ": the cuda backend's gradient, relative error " + e);
        }
    }

    @Test
    void doctorFindsTheGpuAndPassesItsSmokeTest() {
        Run r = ok("doctor", "--run", "--require-gpu");
        assertTrue(
                r.out().contains("OK    GPU 0: ") && r.out().contains("OK    the cuda backend starts on GPU 0"),
                r.out());
        assertTrue(
                r.out().contains("OK    smoke test: a small LSTM's meta-gradients on cuda equal the cpu backend's"),
                r.out());
        assertTrue(r.out().contains("OK    smoke test: replayed CUDA graphs"), r.out());
        // cuBLAS and cuDNN: the simulated ones next to the simulated driver (pom.xml names them).
        assertTrue(r.out().contains("OK    cuBLAS ") && r.out().contains("OK    cuDNN "), r.out());
        assertTrue(r.out().contains("OK    smoke test: cuBLAS SGEMM"), r.out());
        assertTrue(!r.out().contains("FAIL"), r.out());
    }

    @Test
    void benchTimesTheCudaEngineAndNamesItsDevice() throws IOException {
        Run r = ok(
                "bench",
                "--config",
                textConfig.toString(),
                "--batch",
                "2",
                "--inner-steps",
                "20",
                "--algorithm",
                "reptile,maml",
                "--graphs",
                "on,off",
                "--repeats",
                "1",
                "--backend",
                "cuda");
        List<String> lines = r.out().strip().lines().toList();
        assertEquals(4, lines.size(), r.out());
        ObjectMapper json = new ObjectMapper();
        String driver = System.getProperty("reptilegen.cuda.driver", "");
        for (String l : lines) {
            JsonNode n = json.readTree(l);
            assertTrue(n.get("ms_per_inner_step").asDouble() > 0, l);
            assertTrue(n.get("engine").asText().startsWith("cuda"), l);
            // On the simulated driver the times are the host's, and the device's name says so.
            if (driver.endsWith("cuda-sim/libcuda.so.1"))
                assertTrue(n.get("device").asText().contains("simulated"), l);
        }
        assertArrayEquals(new boolean[] {true, false, true, false}, new boolean[] {
            json.readTree(lines.get(0)).get("cuda_graphs").asBoolean(),
            json.readTree(lines.get(1)).get("cuda_graphs").asBoolean(),
            json.readTree(lines.get(2)).get("cuda_graphs").asBoolean(),
            json.readTree(lines.get(3)).get("cuda_graphs").asBoolean()
        });
    }
    /** The lstm baseline on cuDNN and cuBLAS: train, eval, sample and bench as on the cpu backend. */
    @Test
    void theLstmBaselineTrainsEvaluatesSamplesAndBenchesOnCudaAsOnCpu() throws IOException {
        String why = org.reptilegen.engine.cuda.LstmBaselineCuda.librariesProblem();
        assumeTrue(why == null, "cuDNN or cuBLAS unavailable: " + why);
        Path cfg = dir.resolve("baseline.yaml");
        Files.writeString(
                cfg,
                String.join(
                        "\n",
                        "task: mnist",
                        "model: {lstm_baseline: {embed: 4, hidden: 8, layers: 2, stop_grad: false}}",
                        "meta_batch: 3",
                        "outer: {lr: 1.0e-2}",
                        "steps: 4",
                        "eval_tasks: 2",
                        ""));
        Path[] runs = new Path[2];
        String[] backends = {"cpu", "cuda"};
        for (int i = 0; i < 2; i++) {
            runs[i] = dir.resolve("baseline-" + backends[i]);
            ok(
                    "train",
                    "--config",
                    cfg.toString(),
                    "--data",
                    mnistDir.toString(),
                    "--out",
                    runs[i].toString(),
                    "--samples",
                    "2",
                    "--no-download",
                    "--backend",
                    backends[i]);
        }
        List<Double> cpu = losses(runs[0]), cuda = losses(runs[1]);
        assertEquals(4, cpu.size());
        assertEquals(cpu.size(), cuda.size());
        for (int t = 0; t < cpu.size(); t++)
            assertRelClose(cpu.get(t), cuda.get(t), BOUND, "loss of training step " + (t + 1));
        assertTrue(javax.imageio.ImageIO.read(runs[1].resolve("samples.png").toFile()) != null);
        Config c = Config.load(cfg);
        double[] init =
                org.reptilegen.model.ParamInit.draw(c.model().layout(), Rng.of(c.seed(), Rng.STREAM_INIT), true);
        TrainingCheckpoint a = TrainingCheckpoint.read(runs[0].resolve("checkpoint.safetensors"), true);
        TrainingCheckpoint b = TrainingCheckpoint.read(runs[1].resolve("checkpoint.safetensors"), true);
        double e = Norms.relativeError(
                minus(b.state().theta(), init), minus(a.state().theta(), init));
        assertTrue(e < TRAINED_BOUND, "the change of theta over four steps: relative error " + e);
        ObjectMapper json = new ObjectMapper();
        String ck = runs[0].resolve("checkpoint.safetensors").toString();
        double[] bpd = new double[2];
        for (int i = 0; i < 2; i++)
            bpd[i] = json.readTree(ok(
                                    "eval",
                                    "--checkpoint",
                                    ck,
                                    "--data",
                                    mnistDir.toString(),
                                    "--tasks",
                                    "2",
                                    "--no-download",
                                    "--json",
                                    "--backend",
                                    backends[i])
                            .out())
                    .get("bits_per_dim")
                    .asDouble();
        assertRelClose(bpd[0], bpd[1], BOUND, "bits per dim");
        Run r = ok("bench", "--config", cfg.toString(), "--batch", "2", "--repeats", "1", "--backend", "cuda");
        for (String l : r.out().strip().lines().toList())
            assertTrue(json.readTree(l).get("engine").asText().startsWith("cuda lstm baseline"), l);
    }
}
