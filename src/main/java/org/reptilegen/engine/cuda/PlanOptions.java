package org.reptilegen.engine.cuda;

/**
 * Choices in how a step plan's launches are laid out that change how fast it runs, not what it computes
 * (up to the order of float additions): the row splits of the fused backward kernels, and whether a
 * layernorm next to a linear or lstm_block runs inside that layer's kernels (layernorm.cuh's tails)
 * instead of in launches of its own. {@code bench} compares them in one run.
 */
record PlanOptions(RowSplits rowSplits, boolean layerNormTails) {
    /** One block per slab, layernorm tails on: the plan the tests lay out unless they say otherwise. */
    static final PlanOptions DEFAULT = new PlanOptions(RowSplits.NONE, true);

    PlanOptions {
        if (rowSplits == null) throw new IllegalArgumentException("no row splits");
    }

    static PlanOptions of(RowSplits rowSplits) {
        return new PlanOptions(rowSplits, true);
    }

    PlanOptions withRowSplits(RowSplits splits) {
        return new PlanOptions(splits, layerNormTails);
    }

    PlanOptions withLayerNormTails(boolean on) {
        return new PlanOptions(rowSplits, on);
    }
}
