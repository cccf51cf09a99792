package org.reptilegen.core;

import org.reptilegen.model.TaskKind;

/**
 * B tasks of one meta-batch: task b is the sequence of pairs (x[b][t], y[b][t]), t = 0..T_b-1.
 * x[b][t] holds {@link TaskKind#inputDim} integers; y[b][t] is a class index (a byte for text,
 * 0/1 for binary images). Tasks of one batch may differ in length (the grad command's files).
 */
public record TaskBatch(TaskKind kind, int[][][] x, int[][] y) {

    public TaskBatch {
        if (x.length != y.length) throw new IllegalArgumentException("x has " + x.length + " tasks, y has " + y.length);
        for (int b = 0; b < x.length; b++) {
            if (x[b].length != y[b].length)
                throw new IllegalArgumentException(
                        "task " + b + ": x has " + x[b].length + " steps, y has " + y[b].length);
            for (int t = 0; t < x[b].length; t++) {
                if (x[b][t].length != kind.inputDim)
                    throw new IllegalArgumentException("task " + b + " step " + t + ": x has " + x[b][t].length
                            + " integers, a " + kind.configName() + " task has " + kind.inputDim);
                if (y[b][t] < 0 || y[b][t] >= kind.classes())
                    throw new IllegalArgumentException(
                            "task " + b + " step " + t + ": y = " + y[b][t] + " is outside 0.." + (kind.classes() - 1));
            }
        }
    }

    public int size() {
        return x.length;
    }

    public int steps(int b) {
        return x[b].length;
    }

    /** The longest task's length. */
    public int maxSteps() {
        int m = 0;
        for (int[][] xb : x) m = Math.max(m, xb.length);
        return m;
    }

    /** Java heap a batch of tasks tasks of steps steps takes, about: an int[inputDim] per step, and y. */
    public static long heapBytes(org.reptilegen.model.TaskKind kind, long tasks, long steps) {
        long perInput = 16 + ((4L * kind.inputDim + 7) / 8) * 8;
        return tasks * (64 + steps * (perInput + 4 + 4));
    }

    /** Tasks [from, to) as a batch of their own. */
    public TaskBatch slice(int from, int to) {
        return new TaskBatch(
                kind, java.util.Arrays.copyOfRange(x, from, to), java.util.Arrays.copyOfRange(y, from, to));
    }
}
