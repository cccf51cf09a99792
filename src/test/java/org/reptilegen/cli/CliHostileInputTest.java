package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
        List<String> args = new java.util.ArrayList<>(List.of("train", "--config", data.textConfig().toString(), "--data",
                data.corpus().toString(), "--out", out.toString(), "--samples", "0", "--backend", "cpu", "--threads", "1"));
        args.addAll(List.of(more));
        return run(args.toArray(String[]::new));
    }

    @Test
    void aCheckpointOfAnotherModelIsRefusedOnResume() throws IOException {
        Path own = dir.resolve("own"), other = dir.resolve("other");
        assertEquals(0, train(own, "--set", "steps=2").status());
        Path wider = dir.resolve("wider.yaml");
        Files.writeString(wider, Files.readString(data.textConfig()).replace("out: 16}", "out: 32}").replace("in: 16,", "in: 32,"));
        assertEquals(0, run("train", "--config", wider.toString(), "--data", data.corpus().toString(), "--out", other.toString(),
                "--set", "steps=1", "--samples", "0", "--backend", "cpu", "--threads", "1").status());
        Files.copy(other.resolve("checkpoint.safetensors"), own.resolve("checkpoint.safetensors"), StandardCopyOption.REPLACE_EXISTING);
        byte[] metrics = Files.readAllBytes(own.resolve("metrics.jsonl")), config = Files.readAllBytes(own.resolve("config.yaml"));
        Run r = run("train", "--out", own.toString(), "--resume", "--set", "steps=4", "--backend", "cpu");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("holds another model") && r.err().contains("not this run's checkpoint"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(java.util.Arrays.equals(metrics, Files.readAllBytes(own.resolve("metrics.jsonl"))), "the metrics are untouched");
        assertTrue(java.util.Arrays.equals(config, Files.readAllBytes(own.resolve("config.yaml"))), "config.yaml is untouched");
    }
}
