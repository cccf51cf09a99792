package org.reptilegen.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void aWriteThatFailsHalfWayLeavesTheOldFileAndNoTemporary() throws IOException {
        Path target = dir.resolve("checkpoint.safetensors");
        AtomicFiles.write(target, tmp -> Files.writeString(tmp, "old"));
        // A full disk: the temporary gets half its bytes, then the write fails.
        IOException e = assertThrows(
                IOException.class,
                () -> AtomicFiles.write(target, tmp -> {
                    Files.writeString(tmp, "half of the n");
                    throw new IOException("No space left on device");
                }));
        assertEquals("No space left on device", e.getMessage());
        assertEquals("old", Files.readString(target));
        try (var files = Files.list(dir)) {
            assertEquals(
                    List.of("checkpoint.safetensors"),
                    files.map(p -> p.getFileName().toString()).toList());
        }
        assertTrue(AtomicFiles.isTemporary(".checkpoint.safetensors.5eed.tmp")
                && !AtomicFiles.isTemporary("checkpoint.safetensors"));
    }
}
