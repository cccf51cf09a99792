package org.reptilegen.metrics;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** metrics.jsonl: written, read and cut back for a resumed run by the one class that knows its lines. */
class MetricsLogTest {
    @TempDir
    Path dir;

    @Test
    void whatIsWrittenIsReadAndAResumeCutsItBackAtomically() throws IOException {
        Path m = dir.resolve(MetricsLog.FILE);
        List<String> notes = new ArrayList<>();
        try (MetricsLog log = MetricsLog.append(m, notes::add)) {
            for (int s = 1; s <= 4; s++) log.step(s, 10 - s, 0.5, 100, s * 0.1);
            log.evaluation(4, 2, 6.5, 0.4);
        }
        MetricsLog.Series s = MetricsLog.read(m);
        assertArrayEquals(new double[] {1, 2, 3, 4}, s.steps());
        assertArrayEquals(new double[] {9, 8, 7, 6}, s.losses());
        assertTrue(Files.readString(m).contains("\"eval_nll\":6.5"), Files.readString(m));
        // A line cut off by a crash, then a resume at meta-step 2: steps 1 and 2 stay, nothing else.
        Files.writeString(m, "{\"step\": 5, \"lo", java.nio.file.StandardOpenOption.APPEND);
        MetricsLog.keepUpTo(m, 2);
        List<String> lines = Files.readAllLines(m);
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).startsWith("{\"step\":2,\"loss\":8.0"), lines.get(1));
        try (var files = Files.list(dir)) {
            assertEquals(
                    List.of(MetricsLog.FILE),
                    files.map(p -> p.getFileName().toString()).toList(),
                    "no temporary left");
        }
        // Deleted during a run: said once, and the log goes on.
        try (MetricsLog log = MetricsLog.append(m, notes::add)) {
            Files.delete(m);
            log.step(3, 7, 0.5, 100, 0.3);
        }
        assertEquals(1, notes.size(), notes.toString());
        assertEquals(1, Files.readAllLines(m).size());
        MetricsLog.keepUpTo(m, 0);
        assertFalse(Files.exists(m), "a run resumed at meta-step 0 starts a new log");
    }

    @Test
    void readsPointsSortedAndLaterStepsWin() throws IOException {
        Path m = Files.writeString(
                dir.resolve("m.jsonl"),
                String.join(
                        "\n",
                        "{\"step\": 2, \"loss\": 5}",
                        "",
                        "{\"step\": 1, \"loss\": 9}",
                        "[1, 2]",
                        "{\"step\": \"3\", \"loss\": 1}",
                        "{\"step\": 3, \"loss\": NaN}",
                        "{\"step\": 2, \"loss\": 4}",
                        "{\"step\": 4, \"lo"));
        MetricsLog.Series s = MetricsLog.read(m);
        assertArrayEquals(new double[] {1, 2}, s.steps());
        assertArrayEquals(new double[] {9, 4}, s.losses());
    }

    @Test
    void errorsNameTheFile() throws IOException {
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "");
        MetricsException e = assertThrows(MetricsException.class, () -> MetricsLog.read(empty));
        assertTrue(e.getMessage().startsWith(empty + ": no data points"), e.getMessage());

        Path noLoss = Files.writeString(dir.resolve("noloss.jsonl"), "{\"step\": 1}\n{\"event\": \"x\"}\n");
        e = assertThrows(MetricsException.class, () -> MetricsLog.read(noLoss));
        assertTrue(e.getMessage().contains(noLoss + ": no data points"), e.getMessage());

        Path bad = Files.writeString(
                dir.resolve("bad.jsonl"), "{\"step\": 1, \"loss\": 2}\n{oops\n{\"step\": 2, \"loss\": 1}\n");
        e = assertThrows(MetricsException.class, () -> MetricsLog.read(bad));
        assertTrue(e.getMessage().startsWith(bad + " line 2: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());

        e = assertThrows(MetricsException.class, () -> MetricsLog.read(dir.resolve("missing.jsonl")));
        assertTrue(e.getMessage().contains("missing.jsonl") && e.getMessage().contains("no such file"), e.getMessage());
    }
}
