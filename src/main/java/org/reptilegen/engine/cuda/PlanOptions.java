package org.reptilegen.engine.cuda;

/**
 * Choices in how a step plan's launches are laid out that change how fast it runs, not what it computes
 * (up to the order of float additions): the row splits of the fused backward kernels, and whether the
 * small layers next to a linear or lstm_block (layernorm, embedding, loss) run inside that layer's kernels
 * instead of in launches of their own (StepPlan.foldSmallLayers). {@code bench} compares them in one run.
 */
record PlanOptions(RowSplits rowSplits, boolean smallLayersFolded) {
    /** One block per slab, small layers folded: the plan the tests lay out unless they say otherwise. */
    static final PlanOptions DEFAULT = new PlanOptions(RowSplits.NONE, true);

    PlanOptions {
        if (rowSplits == null) throw new IllegalArgumentException("no row splits");
    }

    static PlanOptions of(RowSplits rowSplits) {
        return new PlanOptions(rowSplits, true);
    }

    PlanOptions withRowSplits(RowSplits splits) {
        return new PlanOptions(splits, smallLayersFolded);
    }

    PlanOptions withSmallLayersFolded(boolean on) {
        return new PlanOptions(rowSplits, on);
    }
}
