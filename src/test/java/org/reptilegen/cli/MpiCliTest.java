package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.TrainingCheckpoint;

/**
 * The command line under {@code mpirun -np 2} and {@code -np 3} (oversubscribed: the ranks may outnumber
 * the cores) on the cpu backend, against the same command in one process: tiny-mnist in float64 storage on
 * images the test makes, a meta-batch of 7 that no rank count here divides. Needs mpirun and the jar's MPI
 * library (the build makes it where mpicc is found); without them the tests fail with what to install.
 */
@Tag("mpi")
class MpiCliTest {
    /** Relative distance (2-norm) allowed between theta of a run on N ranks and of one process, after 20 meta-steps. */
    static final double BOUND = 1e-5;

    @TempDir
    static Path dir;

    static Path mnist, single;
    static List<String> common;

    @BeforeAll
    static void reference() throws IOException {
        requireMpi();
        mnist = dir.resolve("mnist");
        Files.createDirectories(mnist);
        CliTest.writeImages(mnist.resolve("train-images-idx3-ubyte.gz"), 24, 2);
        CliTest.writeImages(mnist.resolve("t10k-images-idx3-ubyte.gz"), 6, 3);
        common = List.of(
                "--config",
                "tiny-mnist",
                "--set",
                "precision=float64",
                "--set",
                "meta_batch=7",
                "--set",
                "eval_tasks=3",
                "--set",
                "checkpoint_every=10",
                "--data",
                mnist.toString(),
                "--backend",
                "cpu",
                "--threads",
                "1",
                "--no-download",
                "--samples",
                "4");
        single = dir.resolve("single");
        CliTest.Run r = CliTest.run(train(single, "--set", "steps=20"));
        assertEquals(0, r.status(), r.err());
    }

    static String[] train(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("train"));
        a.addAll(common);
        a.addAll(List.of("--out", out.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /** mpirun and the MPI library are part of what the tests test: missing, they fail saying what to install. */
    static void requireMpi() {
        try {
            Process p = new ProcessBuilder("mpirun", "--version")
                    .redirectErrorStream(true)
                    .start();
            p.getInputStream().readAllBytes();
            if (p.waitFor() != 0) fail("mpirun --version failed");
        } catch (IOException | InterruptedException e) {
            fail(
                    "mpirun was not found: install an MPI (apt-get install openmpi-bin libopenmpi-dev; .ci/run does where it is missing)");
        }
        if (MpiCliTest.class.getResource("/native/linux-" + arch() + "/libreptilegen-mpi.so") == null)
            fail("the build made no MPI library (no mpicc): install libopenmpi-dev and rebuild");
    }

    static String arch() {
        String a = System.getProperty("os.arch");
        return a.equals("amd64") ? "x86_64" : a;
    }

    record Job(int status, String output) {}

    static List<String> command(int ranks, String... args) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> c = new ArrayList<>(List.of(
                "mpirun",
                "--oversubscribe",
                "-np",
                Integer.toString(ranks),
                java,
                "-Xmx1g",
                "-XX:+UseSerialGC",
                "-cp",
                cp,
                Main.class.getName()));
        c.addAll(List.of(args));
        return c;
    }

    static ProcessBuilder builder(List<String> command) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        // As root, Open MPI runs only when told twice; in containers without ptrace rights its shared memory copies
        // differently.
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        pb.environment().put("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
        return pb;
    }

    /** Runs to the end; a job that outlives timeout seconds is a hang, and fails the test. */
    static Job mpirun(int ranks, int timeout, String... args) throws IOException, InterruptedException {
        Process p = builder(command(ranks, args)).start();
        Output out = Output.of(p.getInputStream());
        if (!p.waitFor(timeout, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("mpirun -np " + ranks + " " + String.join(" ", args) + " still ran after " + timeout + " s:\n"
                    + out.text());
        }
        out.thread.join(10_000);
        return new Job(p.exitValue(), out.text());
    }

    /** A process's output, read as it comes so that the process never blocks on a full pipe. */
    static final class Output {
        final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Thread thread;

        static Output of(InputStream in) {
            Output o = new Output();
            o.thread = new Thread(() -> {
                byte[] b = new byte[8192];
                try {
                    for (int n; (n = in.read(b)) > 0; )
                        synchronized (o) {
                            o.bytes.write(b, 0, n);
                        }
                } catch (IOException closed) {
                    // The process ended.
                }
            });
            o.thread.setDaemon(true);
            o.thread.start();
            return o;
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }
    }

    static double[] theta(Path run) {
        return TrainingCheckpoint.read(run.resolve("checkpoint.safetensors"), false)
                .state()
                .theta();
    }

    /** ||a - b|| / ||b||. */
    static double relative(double[] a, double[] b) {
        double d = 0, n = 0;
        for (int i = 0; i < a.length; i++) {
            d += (a[i] - b[i]) * (a[i] - b[i]);
            n += b[i] * b[i];
        }
        return Math.sqrt(d / n);
    }

    static void assertWithinBound(Path run, String what) {
        double rel = relative(theta(run), theta(single));
        System.out.printf(
                "mpi: %s: theta after 20 meta-steps within %.2e of one process (relative 2-norm)%n", what, rel);
        assertTrue(rel <= BOUND, what + ": relative distance " + rel + " above " + BOUND);
    }

    @Test
    void twoAndThreeRanksEqualOneProcessAndRepeatThemselves() throws Exception {
        Path two = dir.resolve("two"), three = dir.resolve("three"), again = dir.resolve("three-again");
        Job j2 = mpirun(2, 180, train(two, "--set", "steps=20"));
        assertEquals(0, j2.status(), j2.output());
        assertTrue(j2.output().contains("rank 0 of 2") && j2.output().contains("rank 1 of 2"), j2.output());
        // Rank 0 alone prints progress and the end.
        assertEquals(1, count(j2.output(), "done: meta-step 20"), j2.output());
        assertWithinBound(two, "2 ranks");
        Job j3 = mpirun(3, 180, train(three, "--set", "steps=20"));
        assertEquals(0, j3.status(), j3.output());
        assertWithinBound(three, "3 ranks");
        Job j3b = mpirun(3, 180, train(again, "--set", "steps=20"));
        assertEquals(0, j3b.status(), j3b.output());
        assertArrayEquals(theta(three), theta(again), 0, "two runs on 3 ranks must be the same bits");
        // The tasks' losses are gathered, not summed: every metrics line, evaluation included, is the one process's.
        assertEquals(
                Files.readAllLines(single.resolve("metrics.jsonl")).size(),
                Files.readAllLines(three.resolve("metrics.jsonl")).size());
        assertEquals(lossesOf(single), lossesOf(three));
        assertTrue(Files.exists(three.resolve("samples.png")));
    }

    static List<String> lossesOf(Path run) throws IOException {
        List<String> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            Matcher m = Pattern.compile("\"(loss|eval_nll)\":([-0-9.eE]+)").matcher(l);
            if (m.find()) out.add(m.group(1) + " " + String.format("%.9g", Double.parseDouble(m.group(2))));
        }
        return out;
    }

    static int count(String s, String part) {
        int n = 0;
        for (int i = s.indexOf(part); i >= 0; i = s.indexOf(part, i + 1)) n++;
        return n;
    }

    @Test
    void resumesATwoRankCheckpointOnThreeRanks() throws Exception {
        Path run = dir.resolve("resumed");
        Job first = mpirun(2, 180, train(run, "--set", "steps=10"));
        assertEquals(0, first.status(), first.output());
        Job rest = mpirun(
                3,
                180,
                "train",
                "--out",
                run.toString(),
                "--resume",
                "--set",
                "steps=20",
                "--backend",
                "cpu",
                "--threads",
                "1",
                "--samples",
                "0");
        assertEquals(0, rest.status(), rest.output());
        assertTrue(rest.output().contains("resuming"), rest.output());
        assertWithinBound(run, "10 meta-steps on 2 ranks, then 10 on 3");
    }

    @Test
    void evalAndSampleSplitTheirTasks() throws Exception {
        Path ck = single.resolve("checkpoint.safetensors");
        CliTest.Run one =
                CliTest.run("eval", "--checkpoint", ck.toString(), "--tasks", "5", "--json", "--backend", "cpu");
        assertEquals(0, one.status(), one.err());
        Job e3 = mpirun(
                3,
                180,
                "eval",
                "--checkpoint",
                ck.toString(),
                "--tasks",
                "5",
                "--json",
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, e3.status(), e3.output());
        String line = one.out().strip();
        assertEquals(
                1,
                count(e3.output(), line),
                "eval on 3 ranks prints once what one process prints: " + line + "\n" + e3.output());

        Path png1 = dir.resolve("one.png"), png2 = dir.resolve("two.png");
        CliTest.Run s1 = CliTest.run(
                "sample", "--checkpoint", ck.toString(), "--count", "5", "--out", png1.toString(), "--backend", "cpu");
        assertEquals(0, s1.status(), s1.err());
        Job s2 = mpirun(
                2,
                180,
                "sample",
                "--checkpoint",
                ck.toString(),
                "--count",
                "5",
                "--out",
                png2.toString(),
                "--backend",
                "cpu",
                "--threads",
                "1");
        assertEquals(0, s2.status(), s2.output());
        assertArrayEquals(
                Files.readAllBytes(png1), Files.readAllBytes(png2), "samples drawn in shares are the one process's");
    }

    @Test
    void aKilledRankEndsTheJobAndTheRunResumesFromItsLastCheckpoint() throws Exception {
        Path run = dir.resolve("killed");
        Process p = builder(command(
                        2, train(run, "--set", "steps=100000", "--set", "checkpoint_every=3", "--set", "eval_tasks=0")))
                .start();
        Output out = Output.of(p.getInputStream());
        Path ck = run.resolve("checkpoint.safetensors");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        Matcher m = null;
        while (System.nanoTime() < deadline && p.isAlive()) {
            m = Pattern.compile("rank 1 of 2 on \\S+ \\(process (\\d+)").matcher(out.text());
            if (Files.exists(ck) && m.find()) break;
            m = null;
            Thread.sleep(200);
        }
        if (m == null) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("no checkpoint, or no line naming rank 1's process:\n" + out.text());
        }
        long pid = Long.parseLong(m.group(1));
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("the job still ran 60 s after rank 1 was killed:\n" + out.text());
        }
        out.thread.join(10_000);
        String text = out.text();
        assertNotEquals(0, p.exitValue(), text);
        assertTrue(
                text.contains("rank 1") && text.contains("signal 9"), "mpirun names the rank and the signal:\n" + text);
        // The last checkpoint is whole, and the job goes on from it on another number of ranks.
        long step = TrainingCheckpoint.read(ck, true).step();
        assertTrue(step >= 3 && step % 3 == 0, "checkpoint at meta-step " + step);
        Job rest = mpirun(
                3,
                180,
                "train",
                "--out",
                run.toString(),
                "--resume",
                "--set",
                "steps=" + (step + 2),
                "--backend",
                "cpu",
                "--threads",
                "1",
                "--samples",
                "0");
        assertEquals(0, rest.status(), rest.output());
        assertEquals(step + 2, TrainingCheckpoint.read(ck, true).step());
    }

    @Test
    void aRankThatFailsEndsTheJobWithOneLineNamingIt() throws Exception {
        // Rank 1 alone is given data that does not exist (two programs in one job: mpirun's colon syntax).
        Path run = dir.resolve("failed");
        List<String> c = command(1, train(run, "--set", "steps=50"));
        c.add(":");
        List<String> second = command(1, train(run, "--set", "steps=50"));
        c.addAll(second.subList(2, second.size()));
        int at = c.lastIndexOf(mnist.toString());
        c.set(at, dir.resolve("no-such-data").toString());
        Process p = builder(c).start();
        Output out = Output.of(p.getInputStream());
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("hung:\n" + out.text());
        }
        out.thread.join(10_000);
        String text = out.text();
        assertEquals(1, p.exitValue(), text);
        assertEquals(1, count(text, "reptile-gen train: rank 1 of 2: "), text);
        assertTrue(text.contains("no-such-data"), text);
        assertEquals(0, count(text, "reptile-gen train: rank 0"), text);
    }
}
