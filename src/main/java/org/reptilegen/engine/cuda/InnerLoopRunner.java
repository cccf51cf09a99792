package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUgraphExec;

/**
 * Runs the launches of inner loops on the device: a plain loop of T steps, and MAML's forward and reverse
 * sweeps. With graphs (the default) it records blocks of steps once and replays them, so a step costs
 * one launch per block instead of one per kernel; the results are the same either way, only the host's
 * launch overhead differs. Not while every launch is waited for (the debug switch).
 */
final class InnerLoopRunner {
    /** Steps recorded into one graph: long enough that replays cost little host time, short enough to record fast. */
    static final int STEPS_PER_GRAPH = 16;

    private final Device dev;
    private boolean graphs = true;

    InnerLoopRunner(Device dev) {
        this.dev = dev;
    }

    void useGraphs(boolean on) {
        graphs = on;
    }

    /** Whether to record and replay graphs now: not while every launch is waited for. */
    private boolean replayGraphs() {
        return graphs && !dev.syncEachLaunch;
    }

    private void run(List<Launch> launches) {
        for (Launch l : launches) dev.run(l);
    }

    /**
     * Runs the launches of one inner step {@code steps} times. With keep, step is a plan the workspace
     * keeps, and its recording is kept too, for the next meta-step (and outside a timed region: bench
     * times the replays, not the recording); otherwise it is recorded for this call only.
     */
    void steps(Workspace w, List<Launch> step, int steps, boolean keep) {
        int blocks = replayGraphs() ? steps / STEPS_PER_GRAPH : 0;
        if (blocks >= 2) {
            Runnable record = () -> {
                for (int t = 0; t < STEPS_PER_GRAPH; t++) run(step);
            };
            if (keep) {
                CUgraphExec exec = w.graph(List.of("steps", step), record);
                for (int k = 0; k < blocks; k++) dev.replay(exec);
            } else {
                CUgraphExec exec = dev.capture(record);
                try {
                    for (int k = 0; k < blocks; k++) dev.replay(exec);
                    dev.sync("the inner loop");
                } finally {
                    dev.destroy(exec);
                }
            }
        } else {
            blocks = 0;
        }
        for (int t = blocks * STEPS_PER_GRAPH; t < steps; t++) run(step);
    }

    /**
     * MAML's forward inner loop: a checkpoint of the task copies before every K steps. With graphs, the
     * K steps of a full segment are recorded once and replayed after each checkpoint.
     */
    void mamlForward(Workspace w, List<Launch> step, int steps, int k) {
        int full = steps / k, rest = steps % k;
        if (replayGraphs() && full >= 2) {
            CUgraphExec exec = w.graph(List.of("MAML forward segment", step, k), () -> {
                for (int t = 0; t < k; t++) run(step);
            });
            for (int seg = 0; seg < full; seg++) {
                dev.run(w.checkpoint(seg));
                dev.replay(exec);
            }
        } else {
            for (int seg = 0; seg < full; seg++) {
                dev.run(w.checkpoint(seg));
                for (int t = 0; t < k; t++) run(step);
            }
        }
        if (rest > 0) {
            dev.run(w.checkpoint(full));
            for (int t = 0; t < rest; t++) run(step);
        }
    }

    /**
     * MAML's reverse sweep, last segment first. Every segment of a full K steps runs the same body after
     * its own entry (checkpoint and counter), so with graphs the body is recorded once and replayed; a
     * shorter last segment is launched directly.
     */
    void mamlReverse(Workspace w, int steps, int k, float alpha) {
        int full = steps / k, rest = steps % k;
        if (rest > 0) run(w.mamlSegmentReverse(full, steps, alpha));
        List<Launch> body = w.mamlSegmentBody(k, alpha);
        if (replayGraphs() && full >= 2) {
            // The body is rebuilt on each call but its launches depend only on k and alpha (in this workspace).
            CUgraphExec exec = w.graph(List.of("MAML reverse segment", k, alpha), () -> run(body));
            for (int seg = full - 1; seg >= 0; seg--) {
                run(w.mamlSegmentEntry(seg));
                dev.replay(exec);
            }
        } else {
            for (int seg = full - 1; seg >= 0; seg--) {
                run(w.mamlSegmentEntry(seg));
                run(body);
            }
        }
    }
}
