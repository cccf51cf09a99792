package org.reptilegen.meta;

import org.reptilegen.engine.Engine;
import org.reptilegen.task.TaskSource;

/** README, The math, 6: the prequential NLL of held-out tasks, run in batches of the meta-batch size. */
public final class Evaluation {
    private Evaluation() {}

    /** Each of the first {@code count} tasks' NLL in nats. */
    public static double[] run(Engine engine, TaskSource tasks, int count, int batch) {
        double[] nll = new double[count];
        for (int from = 0; from < count; from += batch) {
            int n = Math.min(batch, count - from);
            double[] part = engine.evaluate(tasks.range(from, n));
            System.arraycopy(part, 0, nll, from, n);
        }
        return nll;
    }

    public static double bitsPerDim(double nll, int steps) {
        return nll / (steps * Math.log(2));
    }
}
