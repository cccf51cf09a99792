package org.reptilegen.plot;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossPlotTest {

    @TempDir
    Path dir;

    /** A noisy decaying curve like a meta-training run, with other records mixed in. */
    static String metrics(int steps) {
        SplittableRandom r = new SplittableRandom(3);
        StringBuilder sb = new StringBuilder();
        sb.append("{\"event\": \"start\", \"config\": {\"task\": \"mnist\"}}\n");
        for (int s = 1; s <= steps; s++) {
            double loss = 90 + 450 * Math.exp(-s / 300.0) + 8 * r.nextGaussian();
            if (s == 700) loss = 2000; // a spike must not flatten the plot
            sb.append(String.format(Locale.ROOT, "{\"step\": %d, \"loss\": %.4f, \"lr\": 0.0001}%n", s, loss));
            if (s % 500 == 0) sb.append(String.format(Locale.ROOT, "{\"step\": %d, \"eval_nll\": 95.1}%n", s));
        }
        return sb.toString();
    }

    @Test
    void writesAReadablePng() throws IOException {
        Path m = Files.writeString(dir.resolve("metrics.jsonl"), metrics(3000));
        Path png = dir.resolve("loss.png");
        LossPlot.plot(m, png, "mnist-lstm, Reptile");
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, "a PNG ImageIO can read");
        assertEquals(LossPlot.DEFAULT_WIDTH, img.getWidth());
        assertEquals(LossPlot.DEFAULT_HEIGHT, img.getHeight());
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y += 3)
            for (int x = 0; x < img.getWidth(); x += 3) colours.add(img.getRGB(x, y) & 0xffffff);
        assertTrue(colours.size() > 20, "not blank: " + colours.size() + " colours");
        assertEquals(0xffffff, img.getRGB(2, 2) & 0xffffff, "white background");
        assertEquals(List.of("loss.png", "metrics.jsonl"), listing(dir), "no temporary files left");
    }

    @Test
    void customSizeAndLabel() throws IOException {
        Path m = Files.writeString(
                dir.resolve("m.jsonl"), "{\"step\": 0, \"loss\": 1.5}\n{\"step\": 1, \"loss\": 1.25}\n");
        Path png = dir.resolve("small.png");
        LossPlot.plot(m, png, null, "bits per dim", 640, 400);
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(640, img.getWidth());
        assertEquals(400, img.getHeight());
    }

    @Test
    void ticksAreRound() {
        LossPlot.Ticks t = LossPlot.Ticks.of(83.2, 547.9, 6);
        assertEquals(100, t.step());
        assertEquals(0, t.lo());
        assertEquals(600, t.hi());
        LossPlot.Ticks s = LossPlot.Ticks.of(1, 2999, 8);
        assertEquals(500, s.step());
        assertEquals(0, s.lo());
        assertEquals(3000, s.hi());
        LossPlot.Ticks flat = LossPlot.Ticks.of(0.5, 0.5, 6);
        assertTrue(flat.hi() > flat.lo());
        assertEquals(2, LossPlot.Ticks.of(0.01, 0.07, 6).decimals());
    }

    @Test
    void smoothingStartsAtTheFirstValue() {
        double[] s = LossPlot.smooth(new double[] {10, 10, 10, 10});
        for (double v : s) assertEquals(10, v, 1e-12);
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(x -> x.getFileName().toString()).sorted().toList();
        }
    }
}
