package org.reptilegen.engine.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * The small layers a big layer's plain kernels run (StepPlan's fusion pass sets them while the plan is
 * built; they do not change after): input, the embedding its forward reads from and its backward updates
 * (linear only); after, the layernorm its output feeds (forward tail); before, the one that feeds its
 * input (backward tail), each with its per-task arrival counts [B], zero when uploaded and set back to
 * zero by every launch. Absent, the kernels get null and skip the work.
 */
final class FoldedNeighbours {
    private final PlanContext c;
    final boolean linear;
    /** LOSS_NONE, or the loss the model's plain head forms in its backward (linear only). */
    int loss = CudaKernels.LOSS_NONE;

    EmbedNode input;
    LayerNormNode after, before;
    CUdeviceptr afterArrivals, beforeArrivals;
    /** The grid's arrival count [1] when this linear's backward is the step's last launch and advances the counter. */
    CUdeviceptr stepArrivals;

    FoldedNeighbours(PlanContext c, boolean linear) {
        this.c = c;
        this.linear = linear;
    }

    /** Whether anything is folded into the forward (linear_forward_folded instead of linear_forward). */
    boolean intoForward() {
        return input != null || after != null;
    }

    /** The linear kernels' step counter and embedding: step, emMeta, emTables, xs, inDim. */
    <B extends Launch.Builder<B>> B embed(B b) {
        b.set("step", c.w.step);
        if (input == null)
            return b.set("emMeta", Launch.NULL)
                    .set("emTables", 0)
                    .set("xs", Launch.NULL)
                    .set("inDim", 0);
        return b.set("emMeta", input.meta)
                .set("emTables", input.tables)
                .set("xs", c.w.xs)
                .set("inDim", input.in);
    }

    /** The linear backward's loss: loss, ys, nll (the target's losses). */
    <B extends Launch.Builder<B>> B loss(B b, Target t) {
        if (loss == CudaKernels.LOSS_NONE)
            return b.set("loss", loss).set("ys", Launch.NULL).set("nll", Launch.NULL);
        return b.set("loss", loss).set("ys", c.w.ys).set("nll", t.losses());
    }

    /** The forward kernels' layernorm tail: lnArrivals, lnG, lnB, lnStats, lnY. */
    <B extends Launch.Builder<B>> B layerNormForward(B b) {
        if (after == null)
            return b.set("lnArrivals", Launch.NULL)
                    .set("lnG", 0)
                    .set("lnB", 0)
                    .set("lnStats", Launch.NULL)
                    .set("lnY", Launch.NULL);
        return b.set("lnArrivals", afterArrivals)
                .set("lnG", after.gOff)
                .set("lnB", after.bOff)
                .set("lnStats", after.stats)
                .set("lnY", after.y);
    }

    /** The backward kernels' layernorm tail: lnArrivals, lnG, lnB, lnX, lnStats, lnDx. */
    <B extends Launch.Builder<B>> B layerNormBackward(B b) {
        if (before == null)
            return b.set("lnArrivals", Launch.NULL)
                    .set("lnG", 0)
                    .set("lnB", 0)
                    .set("lnX", Launch.NULL)
                    .set("lnStats", Launch.NULL)
                    .set("lnDx", Launch.NULL);
        return b.set("lnArrivals", beforeArrivals)
                .set("lnG", before.gOff)
                .set("lnB", before.bOff)
                .set("lnX", before.x)
                .set("lnStats", before.stats)
                .set("lnDx", before.dx);
    }

    /** The linear backward's stepArrivals. */
    <B extends Launch.Builder<B>> B stepAdvance(B b) {
        return b.set("stepArrivals", stepArrivals == null ? Launch.NULL : stepArrivals);
    }
}
