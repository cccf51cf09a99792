package org.reptilegen.plot;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

/** Binary images (sampled digits) as one PNG grid, white digits on black as in MNIST. */
public final class ImageGrid {
    private ImageGrid() {}

    /**
     * Writes images[i] (rows*cols values in raster order, 0 or 1) in a grid of up to {@code columns}
     * per row, each pixel drawn as a scale x scale block with a one-block gap between images.
     */
    public static void write(Path out, int[][] images, int rows, int cols, int columns, int scale) throws IOException {
        int n = images.length;
        int gridCols = Math.max(1, Math.min(columns, n));
        int gridRows = Math.max(1, (n + gridCols - 1) / gridCols);
        int cell = (cols + 1) * scale, cellH = (rows + 1) * scale;
        BufferedImage img =
                new BufferedImage(gridCols * cell + scale, gridRows * cellH + scale, BufferedImage.TYPE_BYTE_GRAY);
        var raster = img.getRaster();
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) raster.setSample(x, y, 0, 64);
        for (int i = 0; i < n; i++) {
            int ox = (i % gridCols) * cell + scale, oy = (i / gridCols) * cellH + scale;
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    int v = images[i][r * cols + c] != 0 ? 255 : 0;
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            raster.setSample(ox + c * scale + dx, oy + r * scale + dy, 0, v);
                }
        }
        LossPlot.writePng(img, out.toAbsolutePath());
    }
}
