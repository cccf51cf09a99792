package org.reptilegen.cli;

import java.io.PrintStream;
import org.reptilegen.meta.Trainer;

/**
 * The training progress line: meta-step, running mean of the per-step loss, task-steps/s and ETA.
 * On a terminal it redraws one line; otherwise (logs, CI) it prints a line every twentieth of the run.
 * With a time limit, the run is as long as the limit or the steps, whichever ends first: the ETA and
 * the twentieths follow that.
 */
final class ProgressBar implements Trainer.Listener {
    private static final int WINDOW = 50, WIDTH = 24;
    private final PrintStream err;
    private final boolean terminal;
    private final double[] recent = new double[WINDOW];
    private final long startNanos = System.nanoTime();
    private final long limitNanos;
    private long firstStep = -1, seen, printedTwentieths;
    private boolean open;

    ProgressBar(PrintStream err, boolean terminal) {
        this(err, terminal, 0);
    }

    /** limitNanos: the run's time limit, 0 for none. */
    ProgressBar(PrintStream err, boolean terminal, long limitNanos) {
        this.err = err;
        this.terminal = terminal;
        this.limitNanos = limitNanos;
    }

    @Override
    public void step(long step, long total, double loss, double rate) {
        if (firstStep < 0) firstStep = step - 1;
        recent[(int) (seen++ % WINDOW)] = loss;
        int n = (int) Math.min(seen, WINDOW);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += recent[i];
        mean /= n;
        long elapsed = System.nanoTime() - startNanos;
        double perStep = elapsed / 1e9 / (step - firstStep);
        double left = perStep * (total - step);
        // The share of the run done: by steps, or by time when the limit comes first.
        double done = (double) step / Math.max(1, total);
        if (limitNanos > 0 && (limitNanos - elapsed) / 1e9 < left) {
            left = Math.max(0, (limitNanos - elapsed) / 1e9);
            done = Math.min(1, (double) elapsed / limitNanos);
        }
        String eta = duration(left);
        int filled = (int) Math.min(WIDTH, WIDTH * done);
        String bar = "#".repeat(filled) + "-".repeat(WIDTH - filled);
        String line = String.format(
                "meta-step %d/%d [%s] loss %.3f | %.0f task-steps/s | ETA %s", step, total, bar, mean, rate, eta);
        if (terminal) {
            err.print("\r" + line + "  ");
            open = true;
            if (step == total) finish();
        } else if (step == total || step == firstStep + 1 || (long) (20 * done) > printedTwentieths) {
            printedTwentieths = (long) (20 * done);
            err.println(line);
        }
    }

    @Override
    public void message(String line) {
        finish();
        err.println(line);
    }

    void finish() {
        if (open) err.println();
        open = false;
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return String.format("%dh%02dm", s / 3600, s / 60 % 60);
        if (s >= 60) return String.format("%dm%02ds", s / 60, s % 60);
        return s + "s";
    }
}
