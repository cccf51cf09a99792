package org.reptilegen.plot;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.reptilegen.metrics.MetricsLog;
import org.reptilegen.metrics.MetricsLog.Series;
import org.reptilegen.util.AtomicFiles;
import org.reptilegen.util.IoErrors;

/**
 * Draws the meta-training loss curve of a metrics file ({@link MetricsLog#read}) as a PNG: the raw
 * curve light, an exponential moving average on top of it dark.
 */
public final class LossPlot {

    static {
        // Rendering runs on servers without a display; an explicit choice by the caller is kept.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    public static final int DEFAULT_WIDTH = 900;
    public static final int DEFAULT_HEIGHT = 540;
    public static final String DEFAULT_Y_LABEL = "loss (nats per task)";
    public static final String X_LABEL = "meta-step";

    private static final Color RAW = new Color(158, 194, 230);
    private static final Color SMOOTH = new Color(24, 90, 169);
    private static final Color GRID = new Color(232, 232, 232);
    private static final Color AXIS = new Color(90, 90, 90);
    private static final Color TEXT = new Color(40, 40, 40);
    private static final Color SUBTLE = new Color(110, 110, 110);

    private static final int LEFT = 84, RIGHT = 28, TOP = 62, BOTTOM = 62;

    private LossPlot() {}

    /** Plots {@code metricsJsonl} to {@code outPng} at the default size with the default loss label. */
    public static void plot(Path metricsJsonl, Path outPng, String title) {
        plot(metricsJsonl, outPng, title, DEFAULT_Y_LABEL, DEFAULT_WIDTH, DEFAULT_HEIGHT);
    }

    public static void plot(Path metricsJsonl, Path outPng, String title, String yLabel, int width, int height) {
        Series s = MetricsLog.read(metricsJsonl);
        writePng(render(s, title, yLabel, width, height), outPng);
    }

    /**
     * Exponential moving average, debiased so that it starts at the first value rather than at
     * zero. Its span grows with the number of points so that long runs get a readable trend.
     */
    static double[] smooth(double[] y) {
        double span = Math.min(500, Math.max(1, y.length / 100.0));
        double w = 1 - 1 / span;
        double[] out = new double[y.length];
        double acc = 0, weight = 0;
        for (int i = 0; i < y.length; i++) {
            acc = w * acc + (1 - w) * y[i];
            weight = w * weight + (1 - w);
            out[i] = acc / weight;
        }
        return out;
    }

    /** Nice axis ticks: a step of 1, 2 or 5 times a power of ten, bounds widened to whole steps. */
    record Ticks(double lo, double hi, double step) {
        static Ticks of(double min, double max, int target) {
            if (!(max > min)) {
                double pad = min == 0 ? 1 : Math.abs(min) * 0.1;
                min -= pad;
                max += pad;
            }
            double rough = (max - min) / target;
            double mag = Math.pow(10, Math.floor(Math.log10(rough)));
            double f = rough / mag;
            double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
            double step = nice * mag;
            double lo = Math.floor(min / step + 1e-9) * step;
            double hi = Math.ceil(max / step - 1e-9) * step;
            return new Ticks(lo, hi, step);
        }

        int count() {
            return (int) Math.round((hi - lo) / step) + 1;
        }

        double value(int i) {
            double v = lo + i * step;
            return Math.abs(v) < step * 1e-9 ? 0 : v;
        }

        /** Digits after the point that the step needs. */
        int decimals() {
            return Math.max(0, (int) -Math.floor(Math.log10(step) + 1e-9));
        }
    }

    /** Renders the plot; {@code title} and {@code yLabel} may be null. */
    public static BufferedImage render(Series s, String title, String yLabel, int width, int height) {
        if (width < 300 || height < 200)
            throw new IllegalArgumentException(
                    "plot size " + width + "x" + height + " is too small; use at least 300x200");
        if (s.size() == 0) throw new IllegalArgumentException("no points to plot");
        double[] xs = s.steps();
        double[] ys = s.losses();
        double[] sm = smooth(ys);

        Ticks xt = Ticks.of(xs[0], xs[xs.length - 1], 8);
        Ticks yt = Ticks.of(min(ys), Math.max(yTop(ys), max(sm)), 6);

        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);

            int x0 = LEFT, x1 = width - RIGHT, y0 = TOP, y1 = height - BOTTOM;
            Frame f = new Frame(x0, x1, y0, y1, xt, yt);
            Font tickFont = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            Font labelFont = new Font(Font.SANS_SERIF, Font.PLAIN, 13);

            // grid and tick labels
            g.setFont(tickFont);
            FontMetrics fm = g.getFontMetrics();
            g.setStroke(new BasicStroke(1f));
            for (int i = 0; i < xt.count(); i++) {
                double v = xt.value(i);
                double px = f.sx(v);
                g.setColor(GRID);
                g.draw(new Line2D.Double(px, y0, px, y1));
                g.setColor(AXIS);
                g.draw(new Line2D.Double(px, y1, px, y1 + 5));
                String label = stepLabel(v, xt);
                g.setColor(TEXT);
                g.drawString(label, (float) (px - fm.stringWidth(label) / 2.0), y1 + 8 + fm.getAscent());
            }
            for (int i = 0; i < yt.count(); i++) {
                double v = yt.value(i);
                double py = f.sy(v);
                g.setColor(GRID);
                g.draw(new Line2D.Double(x0, py, x1, py));
                g.setColor(AXIS);
                g.draw(new Line2D.Double(x0 - 5, py, x0, py));
                String label = String.format(Locale.ROOT, "%." + yt.decimals() + "f", v);
                g.setColor(TEXT);
                g.drawString(label, (float) (x0 - 8 - fm.stringWidth(label)), (float) (py + fm.getAscent() / 2.0 - 1));
            }

            // curves, clipped: the y range leaves out rare spikes so that the trend stays readable
            Shape oldClip = g.getClip();
            g.clipRect(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
            if (xs.length == 1) {
                g.setColor(SMOOTH);
                g.fill(new Ellipse2D.Double(f.sx(xs[0]) - 3.5, f.sy(ys[0]) - 3.5, 7, 7));
            } else {
                g.setColor(RAW);
                g.setStroke(new BasicStroke(1f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(f.path(xs, ys));
                g.setColor(SMOOTH);
                g.setStroke(new BasicStroke(2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
                g.draw(f.path(xs, sm));
            }
            g.setClip(oldClip);

            // frame
            g.setColor(AXIS);
            g.setStroke(new BasicStroke(1f));
            g.drawRect(x0, y0, x1 - x0, y1 - y0);

            // axis titles
            g.setFont(labelFont);
            fm = g.getFontMetrics();
            g.setColor(TEXT);
            g.drawString(X_LABEL, (x0 + x1 - fm.stringWidth(X_LABEL)) / 2f, height - 16f);
            String yl = yLabel == null ? DEFAULT_Y_LABEL : yLabel;
            AffineTransform saved = g.getTransform();
            g.rotate(-Math.PI / 2);
            g.drawString(yl, -(y0 + y1 + fm.stringWidth(yl)) / 2f, 22f);
            g.setTransform(saved);

            // title and a one-line summary
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            fm = g.getFontMetrics();
            String t = title == null ? "" : title;
            g.drawString(t, (width - fm.stringWidth(t)) / 2f, 26f);
            g.setFont(tickFont);
            fm = g.getFontMetrics();
            String summary = String.format(
                    Locale.ROOT,
                    "%d points; smoothed loss %s at step %s",
                    xs.length,
                    fmt(sm[sm.length - 1]),
                    stepText(xs[xs.length - 1]));
            g.setColor(SUBTLE);
            g.drawString(summary, (width - fm.stringWidth(summary)) / 2f, 46f);

            if (xs.length > 1) legend(g, x1, y0);
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void legend(Graphics2D g, int right, int top) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        String a = "raw", b = "smoothed (EMA)";
        int w = 34 + Math.max(fm.stringWidth(a), fm.stringWidth(b)) + 10;
        int h = 2 * fm.getHeight() + 10;
        int lx = right - w - 10, ly = top + 10;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(lx, ly, w, h);
        g.setColor(GRID.darker());
        g.setStroke(new BasicStroke(1f));
        g.drawRect(lx, ly, w, h);
        double r1 = ly + 5 + fm.getHeight() / 2.0, r2 = r1 + fm.getHeight();
        g.setColor(RAW);
        g.setStroke(new BasicStroke(1.5f));
        g.draw(new Line2D.Double(lx + 8, r1, lx + 28, r1));
        g.setColor(SMOOTH);
        g.setStroke(new BasicStroke(2.2f));
        g.draw(new Line2D.Double(lx + 8, r2, lx + 28, r2));
        g.setColor(TEXT);
        g.drawString(a, lx + 34, (float) (r1 + fm.getAscent() / 2.0 - 1));
        g.drawString(b, lx + 34, (float) (r2 + fm.getAscent() / 2.0 - 1));
    }

    /** Pixel mapping of the plot area. */
    private record Frame(int x0, int x1, int y0, int y1, Ticks xt, Ticks yt) {
        double sx(double v) {
            return x0 + (v - xt.lo()) / (xt.hi() - xt.lo()) * (x1 - x0);
        }

        double sy(double v) {
            return y1 - (v - yt.lo()) / (yt.hi() - yt.lo()) * (y1 - y0);
        }

        Path2D path(double[] xs, double[] ys) {
            Path2D.Double p = new Path2D.Double(Path2D.WIND_NON_ZERO, xs.length);
            p.moveTo(sx(xs[0]), sy(ys[0]));
            for (int i = 1; i < xs.length; i++) p.lineTo(sx(xs[i]), sy(ys[i]));
            return p;
        }
    }

    /**
     * Top of the raw values: the maximum, or for longer runs the 99th percentile so that a few
     * spikes do not flatten the curve. The caller also keeps the smoothed curve in view, which
     * keeps the starting loss visible.
     */
    private static double yTop(double[] y) {
        double[] sorted = y.clone();
        Arrays.sort(sorted);
        if (sorted.length < 50) return sorted[sorted.length - 1];
        return sorted[(int) Math.floor(0.99 * (sorted.length - 1))];
    }

    private static double max(double[] y) {
        double m = Double.NEGATIVE_INFINITY;
        for (double v : y) m = Math.max(m, v);
        return m;
    }

    private static double min(double[] y) {
        double m = Double.POSITIVE_INFINITY;
        for (double v : y) m = Math.min(m, v);
        return m;
    }

    /** Step tick labels: 20k rather than 20000 once the numbers get long. */
    private static String stepLabel(double v, Ticks t) {
        if (v == 0) return "0";
        if (t.step() >= 1e6 && Math.max(Math.abs(t.lo()), Math.abs(t.hi())) >= 1e7)
            return String.format(Locale.ROOT, "%.0fM", v / 1e6);
        if (t.step() >= 1e3 && Math.max(Math.abs(t.lo()), Math.abs(t.hi())) >= 1e4)
            return String.format(Locale.ROOT, "%.0fk", v / 1e3);
        return String.format(Locale.ROOT, "%." + t.decimals() + "f", v);
    }

    private static String stepText(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : fmt(v);
    }

    private static String fmt(double v) {
        double a = Math.abs(v);
        if (a != 0 && (a < 1e-3 || a >= 1e6)) return String.format(Locale.ROOT, "%.3g", v);
        if (a >= 100) return String.format(Locale.ROOT, "%.1f", v);
        return String.format(Locale.ROOT, "%.4g", v);
    }

    /** Writes through a temporary file in the same directory so that a reader never sees half a PNG. */
    static void writePng(BufferedImage img, Path out) {
        try {
            AtomicFiles.write(out, tmp -> {
                if (!ImageIO.write(img, "png", tmp.toFile()))
                    throw new PlotException("cannot write " + out + ": no PNG writer in this Java runtime");
            });
        } catch (IOException e) {
            throw new PlotException("cannot write " + out + ": " + IoErrors.why(e), e);
        }
    }
}
