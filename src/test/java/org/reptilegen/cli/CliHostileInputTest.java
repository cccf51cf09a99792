package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.cli.CliTest.Run;

/** Inputs a careless user or an adversary gives: each ends in one line and leaves nothing half done. */
class CliHostileInputTest {
    @TempDir
    static Path dir;

    static CliTest.Data data;

    @BeforeAll
    static void data() throws IOException {
        data = CliTest.makeData(dir);
    }

    static Run run(String... args) {
        return CliTest.run(args);
    }

    private static Run train(Path out, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of(
                "train",
                "--config",
                data.textConfig().toString(),
                "--data",
                data.corpus().toString(),
                "--out",
                out.toString(),
                "--samples",
                "0",
                "--backend",
                "cpu",
                "--threads",
                "1"));
        args.addAll(List.of(more));
        return run(args.toArray(String[]::new));
    }

    @Test
    void aCheckpointOfAnotherModelIsRefusedOnResume() throws IOException {
        Path own = dir.resolve("own"), other = dir.resolve("other");
        assertEquals(0, train(own, "--set", "steps=2").status());
        Path wider = dir.resolve("wider.yaml");
        Files.writeString(
                wider,
                Files.readString(data.textConfig())
                        .replace("out: 16}", "out: 32}")
                        .replace("in: 16,", "in: 32,"));
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                wider.toString(),
                                "--data",
                                data.corpus().toString(),
                                "--out",
                                other.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu",
                                "--threads",
                                "1")
                        .status());
        Files.copy(
                other.resolve("checkpoint.safetensors"),
                own.resolve("checkpoint.safetensors"),
                StandardCopyOption.REPLACE_EXISTING);
        byte[] metrics = Files.readAllBytes(own.resolve("metrics.jsonl")),
                config = Files.readAllBytes(own.resolve("config.yaml"));
        Run r = run("train", "--out", own.toString(), "--resume", "--set", "steps=4", "--backend", "cpu");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("holds another model") && r.err().contains("not this run's checkpoint"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(
                java.util.Arrays.equals(metrics, Files.readAllBytes(own.resolve("metrics.jsonl"))),
                "the metrics are untouched");
        assertTrue(
                java.util.Arrays.equals(config, Files.readAllBytes(own.resolve("config.yaml"))),
                "config.yaml is untouched");
    }

    private static Path sparse(Path file, long size) throws IOException {
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size); // no disk used
        }
        return file;
    }

    @Test
    void inputsLargerThanAnyOfTheirKindOrNotFilesEndWithOneErrorAtOnce() throws IOException {
        Path config = sparse(dir.resolve("huge.yaml"), org.reptilegen.util.BoundedRead.CONFIG + 1L);
        Run c = run("info", "--config", config.toString());
        assertEquals(1, c.status());
        assertTrue(c.err().contains("huge.yaml: is larger than 16.0 MiB, not a config file"), c.err());
        Path images = dir.resolve("huge-images");
        Files.createDirectories(images);
        sparse(images.resolve("train-images-idx3-ubyte"), org.reptilegen.util.BoundedRead.IDX + 1L);
        Run i = run(
                "train",
                "--config",
                data.mnistConfig().toString(),
                "--data",
                images.toString(),
                "--out",
                dir.resolve("hi").toString(),
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(1, i.status());
        assertTrue(i.err().contains("train-images-idx3-ubyte is larger than 1.00 GiB"), i.err());
        Path tasks = sparse(dir.resolve("huge.jsonl"), org.reptilegen.util.BoundedRead.TEXT + 1L);
        Path init = dir.resolve("init");
        assertEquals(0, train(init, "--set", "steps=1", "--set", "eval_tasks=0").status());
        Run t = run(
                "grad",
                "--config",
                data.textConfig().toString(),
                "--init",
                init.resolve("checkpoint.safetensors").toString(),
                "--tasks",
                tasks.toString(),
                "--out",
                dir.resolve("g.safetensors").toString(),
                "--backend",
                "cpu");
        assertEquals(1, t.status());
        assertTrue(t.err().contains("huge.jsonl is larger than 256.0 MiB"), t.err());
        Path device = dir.resolve("device-images");
        Files.createDirectories(device);
        Files.createSymbolicLink(device.resolve("train-images-idx3-ubyte"), Path.of("/dev/zero"));
        Run d = run(
                "train",
                "--config",
                data.mnistConfig().toString(),
                "--data",
                device.toString(),
                "--out",
                dir.resolve("hd").toString(),
                "--no-download",
                "--backend",
                "cpu");
        assertEquals(1, d.status());
        assertTrue(
                d.err().contains("train-images-idx3-ubyte is not a regular file (a device or a pipe), not an IDX file"),
                d.err());
        for (Run r : new Run[] {c, i, t, d})
            assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(
                !Files.exists(dir.resolve("hi")) && !Files.exists(dir.resolve("hd")),
                "a refused run left its directory");
    }

    @Test
    void aRunOfNoMetaStepsIsRefusedInsteadOfReportingALossOfNaN() {
        Path out = dir.resolve("no-steps");
        Run r = train(out, "--set", "steps=0");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("--set steps: expected a positive integer, got 0"), r.err());
        assertTrue(!Files.exists(out), "a refused run left its directory");
    }

    @Test
    void oddPathsWorkAndOnesTheFileSystemCannotNameAreBadUsage() throws IOException {
        String jnu = System.getProperty("sun.jnu.encoding", "UTF-8");
        Path odd;
        try {
            odd = dir.resolve("ü dir").resolve("-x ☃");
        } catch (java.nio.file.InvalidPathException e) {
            // This JVM runs in a locale that cannot name such files: the command line says so.
            Run r = run("eval", "--checkpoint", "ü ☃.safetensors");
            assertEquals(2, r.status());
            assertTrue(
                    r.err().contains("locale's encoding (" + jnu + ")")
                            && r.err().contains("UTF-8 locale"),
                    r.err());
            return;
        }
        Files.createDirectories(odd);
        Path corpus = Files.copy(data.corpus(), odd.resolve("cörpus ☃.txt"));
        Path out = odd.resolve("run ☃");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                data.textConfig().toString(),
                                "--data",
                                corpus.toString(),
                                "--out",
                                out.toString(),
                                "--set",
                                "steps=1",
                                "--samples",
                                "0",
                                "--backend",
                                "cpu")
                        .status());
        Path ck = out.resolve("checkpoint.safetensors");
        assertEquals(
                0,
                run("eval", "--checkpoint", ck.toString(), "--backend", "cpu").status());
        assertEquals(
                0,
                run(
                                "sample",
                                "--checkpoint",
                                ck.toString(),
                                "--count",
                                "2",
                                "--out",
                                odd.resolve("s ☃.txt").toString(),
                                "--backend",
                                "cpu")
                        .status());
        assertEquals(
                0,
                run(
                                "plot",
                                "--metrics",
                                out.resolve("metrics.jsonl").toString(),
                                "--out",
                                odd.resolve("-p.png").toString())
                        .status());
        Run nul = run("eval", "--checkpoint", "a\0b");
        assertEquals(2, nul.status());
        assertTrue(nul.err().contains("is not a path here"), nul.err());
        assertEquals(1, nul.err().strip().lines().count(), nul.err());
    }

    @Test
    void aCheckpointReadWhileARunReplacesItIsAlwaysAWholeOne() throws Exception {
        // sample and eval read the checkpoint a running train replaces: each read sees one complete file.
        org.reptilegen.config.Config cfg = org.reptilegen.config.Config.load(data.textConfig());
        int p = cfg.model().layout().size();
        Path ck = dir.resolve("replaced.safetensors");
        java.util.function.LongFunction<org.reptilegen.checkpoint.TrainingCheckpoint> at = step -> {
            double[] theta = new double[p];
            java.util.Arrays.fill(theta, step);
            return new org.reptilegen.checkpoint.TrainingCheckpoint(
                    cfg, org.reptilegen.core.TrainState.fresh(theta), step);
        };
        at.apply(1).write(ck);
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread writer = new Thread(() -> {
            for (long step = 2; !done.get(); step++) at.apply(step).write(ck);
        });
        writer.start();
        try {
            long last = 0;
            for (int i = 0; i < 60; i++) {
                org.reptilegen.checkpoint.TrainingCheckpoint c =
                        org.reptilegen.checkpoint.TrainingCheckpoint.read(ck, false);
                double[] theta = c.state().theta();
                for (double v : theta) assertEquals(c.step(), v, "a read mixed two checkpoints");
                assertTrue(c.step() >= last, "steps go forward");
                last = c.step();
            }
        } finally {
            done.set(true);
            writer.join();
        }
        try (var files = Files.list(dir)) {
            assertTrue(
                    files.noneMatch(f -> org.reptilegen.util.AtomicFiles.isTemporary(
                            f.getFileName().toString())),
                    "a temporary was left");
        }
    }

    @Test
    void samplesThatCannotBeHeldOrShownAreRefusedBeforeTrainingOrSampling() throws IOException {
        Path out = dir.resolve("many-samples");
        Run t = run(
                "train",
                "--config",
                data.textConfig().toString(),
                "--data",
                data.corpus().toString(),
                "--out",
                out.toString(),
                "--samples",
                "2000000000",
                "--backend",
                "cpu");
        assertEquals(1, t.status(), t.err());
        assertTrue(t.err().contains("--samples 2000000000") && t.err().contains("of Java heap"), t.err());
        assertTrue(!Files.exists(out), "a refused run left its directory");
        Path images = dir.resolve("images-run");
        assertEquals(
                0,
                run(
                                "train",
                                "--config",
                                data.mnistConfig().toString(),
                                "--data",
                                data.mnistDir().toString(),
                                "--out",
                                images.toString(),
                                "--samples",
                                "0",
                                "--set",
                                "eval_tasks=0",
                                "--no-download",
                                "--backend",
                                "cpu")
                        .status());
        Path png = dir.resolve("too-many.png");
        Run s = run(
                "sample",
                "--checkpoint",
                images.resolve("checkpoint.safetensors").toString(),
                "--count",
                "20000",
                "--out",
                png.toString(),
                "--backend",
                "cpu");
        assertEquals(1, s.status(), s.err());
        assertTrue(s.err().contains("--count 20000"), s.err());
        assertEquals(1, s.err().strip().lines().count(), s.err());
        assertTrue(!Files.exists(png));
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> org.reptilegen.task.Samples.requireOnePicture(20000, "--count"));
        assertTrue(e.getMessage().startsWith("--count 20000: one PNG grid holds at most 19600 images"), e.getMessage());
    }

    @Test
    void dataOfTheOtherKindIsSaidAtOnce() {
        Path out = dir.resolve("wrong-kind");
        Run text = run(
                "train",
                "--config",
                data.textConfig().toString(),
                "--data",
                data.mnistDir().toString(),
                "--out",
                out.toString(),
                "--backend",
                "cpu");
        assertEquals(1, text.status());
        assertTrue(text.err().contains("is a directory; a text model's data is a text file"), text.err());
        Run images = run(
                "train",
                "--config",
                data.mnistConfig().toString(),
                "--data",
                data.corpus().toString(),
                "--out",
                out.toString(),
                "--backend",
                "cpu");
        assertEquals(1, images.status());
        assertTrue(images.err().contains("corpus.txt is a file; an image model's data is a directory"), images.err());
        assertTrue(!Files.exists(out), "a refused run left its directory");
    }

    @Test
    void farMoreThreadsThanTasksCostNothing() {
        // The heap estimate and the workers count the threads a batch can use, not every one asked for.
        Path out = dir.resolve("threads");
        Run r = run(
                "train",
                "--config",
                data.textConfig().toString(),
                "--data",
                data.corpus().toString(),
                "--out",
                out.toString(),
                "--set",
                "steps=1",
                "--samples",
                "2",
                "--threads",
                "100000",
                "--backend",
                "cpu");
        assertEquals(0, r.status(), r.err());
        assertEquals(
                0,
                run(
                                "eval",
                                "--checkpoint",
                                out.resolve("checkpoint.safetensors").toString(),
                                "--threads",
                                "100000",
                                "--backend",
                                "cpu")
                        .status());
    }

    @Test
    void anOutputThatIsADirectoryIsRefusedBeforeAnyWork() throws IOException {
        Path init = dir.resolve("for-outputs");
        assertEquals(0, train(init, "--set", "steps=1", "--set", "eval_tasks=0").status());
        Path ck = init.resolve("checkpoint.safetensors"), target = dir.resolve("a-directory");
        Files.createDirectories(target);
        for (String[] args : new String[][] {
            {"sample", "--checkpoint", ck.toString(), "--out", target.toString(), "--backend", "cpu"},
            {"plot", "--metrics", init.resolve("metrics.jsonl").toString(), "--out", target.toString()},
            {
                "grad",
                "--config",
                data.textConfig().toString(),
                "--init",
                ck.toString(),
                "--tasks",
                data.corpus().toString(),
                "--out",
                target.toString(),
                "--backend",
                "cpu"
            }
        }) {
            Run r = run(args);
            assertEquals(1, r.status(), args[0]);
            assertTrue(
                    r.err().contains("--out " + target + " is a directory: give the name of a file to write"), r.err());
            args[Arrays.asList(args).indexOf("--out") + 1] =
                    dir.resolve("no-such-dir").resolve("out").toString();
            Run missing = run(args);
            assertEquals(1, missing.status(), args[0]);
            assertTrue(missing.err().contains("no-such-dir does not exist; make it first"), missing.err());
        }
        try (var files = Files.list(dir)) {
            assertTrue(
                    files.noneMatch(f -> org.reptilegen.util.AtomicFiles.isTemporary(
                            f.getFileName().toString())),
                    "a temporary was left");
        }
    }

    @Test
    void aTaskFileTheModelCannotReadIsRefusedNamingItsLine() throws IOException {
        Path init = dir.resolve("for-tasks");
        assertEquals(0, train(init, "--set", "steps=1", "--set", "eval_tasks=0").status());
        Path tasks = Files.writeString(
                dir.resolve("past-the-table.jsonl"),
                "{\"x\": [[0], [1]], \"y\": [65, 0]}\n{\"x\": [[0], [50]], \"y\": [65, 0]}\n");
        Path out = dir.resolve("past.safetensors");
        Run r = run(
                "grad",
                "--config",
                data.textConfig().toString(),
                "--init",
                init.resolve("checkpoint.safetensors").toString(),
                "--tasks",
                tasks.toString(),
                "--out",
                out.toString(),
                "--backend",
                "cpu");
        assertEquals(1, r.status());
        assertTrue(
                r.err().contains("past-the-table.jsonl:2: x[1]: input 0 is 50 but embed table 0 has rows 0..11"),
                r.err());
        assertTrue(!Files.exists(out));
    }
}
