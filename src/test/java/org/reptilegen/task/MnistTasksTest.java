package org.reptilegen.task;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.core.PixelOrder;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

class MnistTasksTest {

    private static MnistTasks tasks(int count, int rows, int cols, PixelOrder order) {
        return new MnistTasks(
                "test images", new Idx.Images(count, rows, cols, IdxFiles.patternPixels(count, rows, cols)), order);
    }

    @Test
    void binarizesAtHalf() {
        assertEquals(0, MnistTasks.binarize(0));
        assertEquals(0, MnistTasks.binarize(127)); // 127/255 < 0.5
        assertEquals(1, MnistTasks.binarize(128));
        assertEquals(1, MnistTasks.binarize(255));
    }

    @Test
    void rasterOrderVisitsRowsThenColumns() {
        MnistTasks t = tasks(2, 3, 4, PixelOrder.RASTER);
        assertEquals(12, t.steps());
        TaskBatch b = t.range(1, 1);
        assertEquals(TaskKind.MNIST, b.kind());
        for (int step = 0; step < 12; step++) {
            assertArrayEquals(new int[] {step / 4, step % 4}, b.x()[0][step]);
            assertEquals(MnistTasks.binarize((31 + step * 7) % 256), b.y()[0][step]);
        }
        assertArrayEquals(t.binaryImage(1), b.y()[0]);
    }

    @Test
    void rangeBinarizesThePixelsOfTheFile(@TempDir Path dir) throws IOException {
        byte[] px = {0, 127, (byte) 128, (byte) 255};
        Path f = IdxFiles.write(dir, MnistFiles.TEST_IMAGES, IdxFiles.images(1, 2, 2, px));
        MnistTasks t = MnistTasks.load(dir, Split.TEST, PixelOrder.RASTER, false);
        assertEquals(f.toString(), t.source());
        assertArrayEquals(new int[] {0, 0, 1, 1}, t.range(0, 1).y()[0]);
    }

    @Test
    void randomOrderIsAPermutationThatKeepsPixelsWithTheirPositions() {
        MnistTasks t = tasks(5, 4, 5, PixelOrder.RANDOM);
        TaskBatch b = t.draw(Rng.of(1, Rng.STREAM_BATCH, 0), 8);
        for (int task = 0; task < b.size(); task++) {
            boolean[] seen = new boolean[20];
            boolean raster = true;
            for (int step = 0; step < 20; step++) {
                int[] x = b.x()[task][step];
                int p = x[0] * 5 + x[1];
                assertFalse(seen[p], "pixel visited twice");
                seen[p] = true;
                raster &= p == step;
            }
            assertFalse(raster, "a random order of 20 pixels should not come out as raster");
            // The image is recoverable: the pair (x, y) carries the pixel's own value.
            int[] image = new int[20];
            for (int step = 0; step < 20; step++)
                image[b.x()[task][step][0] * 5 + b.x()[task][step][1]] = b.y()[task][step];
            boolean matches = false;
            for (int i = 0; i < 5; i++) matches |= Arrays.equals(image, t.binaryImage(i));
            assertTrue(matches);
        }
    }

    @Test
    void drawIsReproducibleForAGivenRng() {
        for (PixelOrder order : PixelOrder.values()) {
            MnistTasks t = tasks(30, 3, 3, order);
            TaskBatch a = t.draw(Rng.of(9, Rng.STREAM_BATCH, 2), 10);
            TaskBatch b = t.draw(Rng.of(9, Rng.STREAM_BATCH, 2), 10);
            TaskBatch c = t.draw(Rng.of(9, Rng.STREAM_BATCH, 3), 10);
            assertTrue(Arrays.deepEquals(a.x(), b.x()));
            assertTrue(Arrays.deepEquals(a.y(), b.y()));
            assertFalse(Arrays.deepEquals(a.x(), c.x()) && Arrays.deepEquals(a.y(), c.y()));
        }
    }

    @Test
    void rangeOrderIsFixedPerIndex() {
        MnistTasks t = tasks(10, 3, 3, PixelOrder.RANDOM);
        TaskBatch all = t.range(0, 10);
        TaskBatch tail = t.range(6, 4);
        for (int i = 0; i < 4; i++) {
            assertTrue(Arrays.deepEquals(all.x()[6 + i], tail.x()[i]));
            assertArrayEquals(all.y()[6 + i], tail.y()[i]);
        }
        int[] order = t.rangeOrder(6);
        for (int step = 0; step < 9; step++)
            assertArrayEquals(new int[] {order[step] / 3, order[step] % 3}, all.x()[6][step]);
        assertFalse(Arrays.equals(t.rangeOrder(0), t.rangeOrder(1)));
    }

    @Test
    void rangeOutsideTheImagesIsAnError() {
        MnistTasks t = tasks(3, 2, 2, PixelOrder.RASTER);
        DataException e = assertThrows(DataException.class, () -> t.range(2, 2));
        assertTrue(e.getMessage().contains("test images"), e.getMessage());
    }
}
