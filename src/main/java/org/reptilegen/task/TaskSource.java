package org.reptilegen.task;

import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.Rng;

/**
 * A fixed collection of tasks of one kind, all of the same length T. Training draws random
 * meta-batches; evaluation walks the collection in order.
 */
public interface TaskSource {

    TaskKind kind();

    /** Number of tasks available. */
    int size();

    /** T, the number of pairs (x_t, y_t) in every task. */
    int steps();

    /**
     * {@code batch} tasks drawn uniformly at random with replacement. Every random choice
     * (which task, and its pixel order where the order is random) comes from {@code rng}, so the
     * batch is a function of the rng's stream alone.
     */
    TaskBatch draw(Rng rng, int batch);

    /**
     * Tasks {@code from .. from+count-1} in order. The result depends only on the indices, so two
     * evaluations of the same range see the same tasks.
     */
    TaskBatch range(int from, int count);
}
