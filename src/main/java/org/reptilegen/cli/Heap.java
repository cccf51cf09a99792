package org.reptilegen.cli;

import org.reptilegen.engine.Engine;
import org.reptilegen.util.Bytes;

/** The one check of Java heap before a command allocates a batch: refused with the numbers, not an OutOfMemoryError. */
final class Heap {
    private Heap() {}

    /** Heap the JVM can still give. */
    static long available() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    /** A batch the heap cannot hold: its message has the numbers (needed, free, how many tasks fit). */
    static final class DoesNotFit extends IllegalArgumentException {
        DoesNotFit(String message) {
            super(message);
        }
    }

    /** Refuses tasks tasks of steps steps on engine when they need more heap than is left, saying how many fit. */
    static void requireFits(Engine engine, long tasks, int steps, String what) {
        long avail = available(), need = engine.heapBytes(tasks, steps);
        if (need <= avail) return;
        long lo = 0, hi = tasks;
        while (lo < hi) {
            long mid = (lo + hi + 1) / 2;
            if (engine.heapBytes(mid, steps) <= avail) lo = mid;
            else hi = mid - 1;
        }
        throw new DoesNotFit(what + " " + tasks + " (tasks of " + steps + " steps) needs about " + Bytes.show(need)
                + " of Java heap and " + Bytes.show(avail) + " is free: "
                + (lo > 0 ? "at most " + lo + " fit here" : "none fits here")
                + "; give the JVM more with java -Xmx...");
    }
}
