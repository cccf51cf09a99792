package org.reptilegen.engine.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * The row splits of a fused backward-and-update launch over a matrix of width columns (slabs of cols)
 * and rows rows, from the workspace's policy, and their scratch: the splits' column sums
 * [splits x 2 x B x width] (the Hessian-vector kernels keep two) and the arrival counts [B x slabs],
 * zero when uploaded and set back to zero by every launch (split_total in kernels/common.cuh); one
 * element each for one split, which never touches them. The update and the tangent launch of a node
 * share them: launches run one after another.
 */
final class Splits {
    final int slabs, count;
    final CUdeviceptr partial, arrivals;

    Splits(PlanContext c, String name, int width, int cols, int rows) {
        Workspace w = c.w;
        slabs = Launch.blocks(width, cols);
        count = w.options.rowSplits().splits((long) slabs * w.tasks, rows);
        c.splitCounts.add(count);
        partial = w.arena.floats(count > 1 ? 2L * count * w.tasks * width : 1, name + ".split sums");
        arrivals = c.zeroInts(count > 1 ? Math.multiplyExact(w.tasks, slabs) : 1, name + ".split arrivals");
    }

    int gridX() {
        return Math.multiplyExact(slabs, count);
    }

    /** The kernels' splits, partial and arrivals. */
    <B extends Launch.Builder<B>> B on(B b) {
        return b.set("splits", count).set("partial", partial).set("arrivals", arrivals);
    }
}
