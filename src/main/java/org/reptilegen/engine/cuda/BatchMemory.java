package org.reptilegen.engine.cuda;

import java.util.List;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.util.Bytes;

/**
 * The device memory of the current batch: one {@link Workspace}, kept while batches of its shape come
 * (a meta-step reuses its buffers and its recorded graphs), laid out again when the shape or the plan's
 * options change. Device memory is checked before anything is allocated: a batch that does not fit is
 * one error with the numbers and the largest batch that does.
 */
final class BatchMemory {
    /** Device memory left free beyond what a batch measures, for the driver and fragmentation. */
    private static final long MARGIN = 64L << 20;

    static final int MAX_TASKS = 65535;

    private final Device dev;
    private final ModelSpec model;
    private final boolean learnedLr;
    private PlanOptions options;
    private Workspace ws;

    BatchMemory(Device dev, ModelSpec model, boolean learnedLr) {
        this.dev = dev;
        this.model = model;
        this.learnedLr = learnedLr;
        this.options = PlanOptions.of(autoRowSplits());
    }

    /** The last workspace laid out (a meta-step's results are read from it), or null. */
    Workspace current() {
        return ws;
    }

    PlanOptions options() {
        return options;
    }

    /** Lays the next batch out with these options: the current one is freed if they differ. */
    void replan(PlanOptions next) {
        if (next.equals(options)) return;
        options = next;
        if (ws != null) {
            dev.enter();
            dev.sync("freeing the batch for a new plan");
            ws.close();
            ws = null;
        }
    }

    /** Row splits chosen per launch for this GPU: its multiprocessors, and the fewest blocks of any fused backward kernel that fit on one. */
    RowSplits autoRowSplits() {
        int perSm = Integer.MAX_VALUE;
        for (KernelSig k : List.of(
                Kernels.LINEAR_BACKWARD_UPDATE,
                Kernels.LSTM_BLOCK_BACKWARD_UPDATE,
                Kernels.LINEAR_BACKWARD_TANGENT,
                Kernels.LSTM_BLOCK_BACKWARD_TANGENT)) perSm = Math.min(perSm, dev.residentBlocks(k));
        return RowSplits.auto(dev.multiprocessors, perSm);
    }

    /** The row splits' setting, and once a batch is laid out what each fused backward launch got (e.g. "auto: 1,3,3,1"). */
    String rowSplits() {
        return options.rowSplits().describe() + (ws == null ? "" : ": " + ws.plan.splitCounts());
    }

    private Workspace.Shape shape(int tasks, int steps, boolean accumulate, int segment) {
        return Workspace.shape(model, tasks, steps)
                .accumulating(accumulate)
                .maml(segment)
                .learnedLr(learnedLr)
                .options(options);
    }

    /** The workspace for this shape, reusing the current one when it fits; checks device memory first. */
    Workspace workspace(int tasks, int steps, boolean accumulate, int segment) {
        if (tasks > MAX_TASKS)
            throw new IllegalArgumentException(
                    "the cuda backend runs at most " + MAX_TASKS + " tasks at once, asked for " + tasks);
        int cap = Math.max(steps, 1);
        if (ws != null
                && ws.tasks == tasks
                && ws.steps >= cap
                && (ws.accumulates || !accumulate)
                && (segment == 0 || ws.segment == segment)) return ws;
        if (ws != null) {
            dev.sync("freeing the previous batch");
            ws.close();
            ws = null;
        }
        Workspace.Shape shape = shape(tasks, cap, accumulate, segment);
        long need = shape.bytes();
        long free = dev.memInfo()[0];
        if (need + MARGIN > free) {
            long perTask = perTask(cap, accumulate, segment);
            int fit = fit(free, cap, accumulate, segment);
            String maml = segment == 0
                    ? ""
                    : " (MAML with segments of " + segment + " steps: " + CudaEngine.mamlRowsPerTask(cap, segment)
                            + " copies of the parameters per task)";
            throw new DeviceException(
                    "a batch of " + tasks + " tasks of " + cap + " steps" + maml + " needs " + Bytes.show(need)
                            + " of device memory (" + Bytes.show(perTask) + " per task) but " + Bytes.show(free)
                            + " is free on "
                            + dev.name + ": at most " + fit + " tasks fit; use --batch " + fit + " or less");
        }
        ws = shape.allocate(dev, need);
        return ws;
    }

    private long perTask(int steps, boolean accumulate, int segment) {
        return shape(2, steps, accumulate, segment).bytes()
                - shape(1, steps, accumulate, segment).bytes();
    }

    /** How many tasks fit in free bytes. */
    private int fit(long free, int steps, boolean accumulate, int segment) {
        long per = perTask(steps, accumulate, segment);
        long fixed = shape(1, steps, accumulate, segment).bytes() - per;
        long n = (free - MARGIN - fixed) / Math.max(per, 1);
        return (int) Math.max(0, Math.min(n, MAX_TASKS));
    }

    /** Tasks per chunk for evaluation and sampling, which may split a batch the device cannot hold at once. */
    int chunkSize(int tasks, int steps) {
        int cap = Math.max(steps, 1);
        if (ws != null && ws.tasks == tasks && ws.steps >= cap) return tasks;
        long free = dev.memInfo()[0] + (ws == null ? 0 : ws.bytes());
        int fit = fit(free, cap, false, 0);
        if (fit < 1)
            throw new DeviceException("not even one task of " + cap + " steps fits in the " + Bytes.show(free)
                    + " of device memory free on " + dev.name);
        return Math.min(tasks, fit);
    }

    /** Frees the batch's memory and graphs, best effort. */
    void close(Cleanup c) {
        if (ws != null) ws.close(c);
        ws = null;
    }
}
