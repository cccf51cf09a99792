package org.reptilegen.util;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import org.junit.jupiter.api.Test;

class IoErrorsTest {
    @Test
    void aFileSystemErrorSaysWhatIsWrongNotOnlyThePath() {
        // The exceptions' own messages are the path alone: "cannot read F: F" said nothing.
        assertEquals("permission denied", IoErrors.why(new AccessDeniedException("corpus.txt")));
        assertEquals("no such file or directory", IoErrors.why(new NoSuchFileException("corpus.txt")));
        assertEquals(
                "No space left on device",
                IoErrors.why(new FileSystemException("ck", null, "No space left on device")));
        assertEquals("Broken pipe", IoErrors.why(new IOException("Broken\n   pipe")));
        assertEquals(
                "runs/a (with runs/b): permission denied",
                IoErrors.describe(new AccessDeniedException("runs/a", "runs/b", null)));
    }
}
