package org.reptilegen.task;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

class TextTasksTest {

    @Test
    void encodePadsWithZeros() {
        assertArrayEquals(new int[] {'a', 'b', 0, 0, 0}, TextTasks.encode("ab", 5));
        assertArrayEquals(new int[] {0, 0, 0}, TextTasks.encode("", 3));
    }

    @Test
    void encodeCutsToMaxLenMinusOneSoTheEndMarkerAlwaysFollows() {
        assertArrayEquals(new int[] {'a', 'b', 'c', 0}, TextTasks.encode("abcdefg", 4));
        assertArrayEquals(new int[] {'a', 'b', 'c', 0}, TextTasks.encode("abc", 4));
        assertEquals(128, TextTasks.encode("x".repeat(500), TextTasks.DEFAULT_MAX_LEN).length);
    }

    @Test
    void encodeUsesUtf8BytesAsUnsignedValues() {
        // "é" is C3 A9, "€" is E2 82 AC.
        assertArrayEquals(new int[] {'a', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0, 0}, TextTasks.encode("aé€", 8));
    }

    @Test
    void encodeMayCutInsideAMultiByteCharacter() {
        assertArrayEquals(new int[] {'a', 0xE2, 0x82, 0}, TextTasks.encode("a€", 4));
        assertEquals("a\uFFFD", TextTasks.decode(TextTasks.encode("a€", 4)));
        assertEquals("aé€", TextTasks.decode(TextTasks.encode("aé€", 10)));
    }

    @Test
    void linesDropBreaksCarriageReturnsAndEmptyLines() {
        byte[] data = "one\r\n\ntwo\n\r\n  \t \n\t\r\n three".getBytes(StandardCharsets.UTF_8);
        List<String> got = new ArrayList<>();
        for (byte[] l : TextTasks.lines(data)) got.add(new String(l, StandardCharsets.UTF_8));
        assertEquals(List.of("one", "two", " three"), got, "lines of white space alone are no tasks");
    }

    @Test
    void everyTenthNonEmptyLineIsHeldOut() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 25; i++) sb.append("line").append(i).append(i % 3 == 0 ? "\n\n" : "\n");
        byte[] data = sb.toString().getBytes(StandardCharsets.UTF_8);
        TextTasks train = TextTasks.fromBytes("t.txt", data, 16, Split.TRAIN);
        TextTasks test = TextTasks.fromBytes("t.txt", data, 16, Split.TEST);
        assertEquals(23, train.size());
        assertEquals(2, test.size());
        assertEquals("line9", TextTasks.decode(test.line(0)));
        assertEquals("line19", TextTasks.decode(test.line(1)));
        assertEquals("line0", TextTasks.decode(train.line(0)));
        assertEquals("line10", TextTasks.decode(train.line(9)));
    }

    @Test
    void rangeGivesPositionsAndBytes() {
        TextTasks tasks = TextTasks.fromBytes("t.txt", "hi\nyo\n".getBytes(StandardCharsets.UTF_8), 4, Split.TRAIN);
        TaskBatch batch = tasks.range(1, 1);
        assertEquals(TaskKind.TEXT, batch.kind());
        assertEquals(4, tasks.steps());
        assertArrayEquals(new int[] {'y', 'o', 0, 0}, batch.y()[0]);
        for (int t = 0; t < 4; t++) assertArrayEquals(new int[] {t}, batch.x()[0][t]);
        DataException e = assertThrows(DataException.class, () -> tasks.range(1, 2));
        assertTrue(e.getMessage().contains("t.txt"), e.getMessage());
    }

    @Test
    void drawIsReproducibleFromTheRng() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 50; i++) sb.append("line ").append(i).append('\n');
        TextTasks tasks = TextTasks.fromBytes("t.txt", sb.toString().getBytes(StandardCharsets.UTF_8), 12, Split.TRAIN);
        TaskBatch a = tasks.draw(Rng.of(7, Rng.STREAM_BATCH, 3), 20);
        TaskBatch b = tasks.draw(Rng.of(7, Rng.STREAM_BATCH, 3), 20);
        TaskBatch c = tasks.draw(Rng.of(7, Rng.STREAM_BATCH, 4), 20);
        assertEquals(20, a.size());
        assertArrayEquals(a.y(), b.y());
        assertFalse(java.util.Arrays.deepEquals(a.y(), c.y()));
    }

    @Test
    void loadsAFileAndTheBuiltInCorpus(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("lines.txt");
        Files.writeString(f, "alpha\nbeta\n");
        TextTasks tasks = TextTasks.load(f, 8, Split.TRAIN);
        assertEquals(2, tasks.size());
        assertEquals("beta", TextTasks.decode(tasks.line(1)));

        TextTasks builtIn = TextTasks.load(null, TextTasks.DEFAULT_MAX_LEN, Split.TRAIN);
        TextTasks builtInTest = TextTasks.loadBuiltIn(TextTasks.DEFAULT_MAX_LEN, Split.TEST);
        assertTrue(builtIn.size() > 100);
        assertTrue(builtInTest.size() > 10);
        assertEquals(128, builtIn.steps());
    }

    @Test
    void missingAndEmptyFilesAreNamed(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nope.txt");
        DataException e1 = assertThrows(DataException.class, () -> TextTasks.load(missing, 128, Split.TRAIN));
        assertTrue(e1.getMessage().contains(missing.toString()), e1.getMessage());

        Path blank = dir.resolve("blank.txt");
        Files.writeString(blank, "\n\r\n\n");
        DataException e2 = assertThrows(DataException.class, () -> TextTasks.load(blank, 128, Split.TRAIN));
        assertTrue(e2.getMessage().contains(blank.toString()), e2.getMessage());
        assertTrue(e2.getMessage().contains("no non-empty lines"), e2.getMessage());

        Path few = dir.resolve("few.txt");
        Files.writeString(few, "a\nb\n");
        DataException e3 = assertThrows(DataException.class, () -> TextTasks.load(few, 128, Split.TEST));
        assertTrue(e3.getMessage().contains(few.toString()), e3.getMessage());
    }

    @Test
    void aFileLargerThanAnyCorpusEndsWithAnErrorAtOnce(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path big = dir.resolve("big.txt");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(org.reptilegen.util.BoundedRead.TEXT + 10L); // sparse: no disk used
        }
        DataException e = org.junit.jupiter.api.Assertions.assertThrows(
                DataException.class, () -> TextTasks.load(big, 16, Split.TRAIN));
        org.junit.jupiter.api.Assertions.assertTrue(
                e.getMessage().contains("big.txt is larger than 256.0 MiB"), e.getMessage());
    }
}
