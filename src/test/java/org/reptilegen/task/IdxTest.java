package org.reptilegen.task;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxTest {

    @Test
    void readsImages(@TempDir Path dir) throws IOException {
        byte[] px = IdxFiles.patternPixels(3, 2, 4);
        px[5] = (byte) 200;
        Path f = IdxFiles.write(dir, "img", IdxFiles.images(3, 2, 4, px));
        Idx.Images im = Idx.readImages(f);
        assertEquals(3, im.count());
        assertEquals(2, im.rows());
        assertEquals(4, im.cols());
        assertArrayEquals(px, im.pixels());
        assertEquals(200, im.pixel(0, 1, 1));
        assertEquals((2 * 31 + 6 * 7) % 256, im.pixel(2, 1, 2));
    }

    @Test
    void readsGzippedFilesWhateverTheirName(@TempDir Path dir) throws IOException {
        byte[] px = IdxFiles.patternPixels(2, 3, 3);
        Path f = IdxFiles.write(dir, "images.bin", IdxFiles.gzip(IdxFiles.images(2, 3, 3, px)));
        assertArrayEquals(px, Idx.readImages(f).pixels());
        Path l = IdxFiles.write(dir, "labels", IdxFiles.gzip(IdxFiles.labels(new byte[] {3, 1, (byte) 250})));
        assertArrayEquals(new int[] {3, 1, 250}, Idx.readLabels(l));
    }

    @Test
    void aPlainFileNamedGzIsReadAsPlain(@TempDir Path dir) throws IOException {
        byte[] px = IdxFiles.patternPixels(1, 2, 2);
        Path f = IdxFiles.write(dir, "x.gz", IdxFiles.images(1, 2, 2, px));
        assertArrayEquals(px, Idx.readImages(f).pixels());
    }

    @Test
    void badMagicSaysWhatWasFoundAndExpected(@TempDir Path dir) throws IOException {
        Path labels = IdxFiles.write(dir, "labels", IdxFiles.labels(new byte[] {1, 2}));
        DataException e = assertThrows(DataException.class, () -> Idx.readImages(labels));
        String m = e.getMessage();
        assertTrue(m.contains(labels.toString()), m);
        assertTrue(m.contains("0x00000801 (2049)"), m);
        assertTrue(m.contains("0x00000803 (2051)"), m);

        Path junk = IdxFiles.write(dir, "junk", "hello world, not idx".getBytes());
        DataException e2 = assertThrows(DataException.class, () -> Idx.readLabels(junk));
        assertTrue(e2.getMessage().contains("bad magic"), e2.getMessage());
        assertTrue(e2.getMessage().contains("0x00000801 (2049)"), e2.getMessage());
    }

    @Test
    void truncatedFileSaysExpectedAndPresentBytes(@TempDir Path dir) throws IOException {
        byte[] full = IdxFiles.images(2, 3, 3, IdxFiles.patternPixels(2, 3, 3));
        Path f = IdxFiles.write(dir, "short", Arrays.copyOf(full, full.length - 5));
        DataException e = assertThrows(DataException.class, () -> Idx.readImages(f));
        String m = e.getMessage();
        assertTrue(m.contains(f.toString()), m);
        assertTrue(m.contains("truncated"), m);
        assertTrue(m.contains("expected " + full.length + " bytes"), m);
        assertTrue(m.contains("found " + (full.length - 5) + " bytes"), m);

        Path header = IdxFiles.write(dir, "header", Arrays.copyOf(full, 10));
        DataException e2 = assertThrows(DataException.class, () -> Idx.readImages(header));
        assertTrue(e2.getMessage().contains("header of 16 bytes, found 10 bytes"), e2.getMessage());

        Path gz = IdxFiles.write(dir, "short.gz", IdxFiles.gzip(Arrays.copyOf(full, full.length - 5)));
        DataException e3 = assertThrows(DataException.class, () -> Idx.readImages(gz));
        assertTrue(e3.getMessage().contains("after gunzip"), e3.getMessage());
    }

    @Test
    void brokenGzipIsNamed(@TempDir Path dir) throws IOException {
        byte[] gz = IdxFiles.gzip(IdxFiles.images(4, 5, 5, IdxFiles.patternPixels(4, 5, 5)));
        Path f = IdxFiles.write(dir, "cut.gz", Arrays.copyOf(gz, gz.length / 2));
        DataException e = assertThrows(DataException.class, () -> Idx.readImages(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("gzip"), e.getMessage());
    }

    @Test
    void missingFileIsNamed(@TempDir Path dir) {
        Path f = dir.resolve("absent");
        DataException e = assertThrows(DataException.class, () -> Idx.readImages(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
    }
}
