package org.reptilegen.engine.cuda;

/**
 * How many blocks share the rows of each column slab in the fused backward-and-update kernels
 * (split_total in kernels/common.cuh): a fixed number, or one chosen per launch for the device.
 *
 * <p>The choice models a memory-bound launch of N equal blocks on a device that holds C of them at
 * once (multiprocessors times the blocks the driver fits on each, at least the 4 the kernels are
 * compiled for): full waves move data at
 * the device's bandwidth, and a last wave of fewer blocks than the roughly 7/8 C it takes to keep that
 * bandwidth busy costs as long as such a wave would. It takes the number of splits (each split at
 * least 256 rows) with the least time per byte, the fewest on a tie. The model is a guess until
 * measured: {@code bench --row-splits 1,2,3,4,auto} compares the choices on a GPU in one run.
 */
record RowSplits(int multiprocessors, int blocksPerMultiprocessor, int fixed) {
    /** One block per slab: the kernels' plain form. */
    static final RowSplits NONE = new RowSplits(0, 0, 1);

    static final int MAX_SPLITS = 16;
    /**
     * Rows a split keeps at the least (32 per row group of a block, 4 batches of loads): with fewer, a
     * block's fixed latencies (staging the deltas, adding the splits' sums) outweigh the bytes it moves.
     */
    static final int MIN_ROWS_PER_SPLIT = 256;
    /**
     * Blocks of one backward kernel resident per multiprocessor when the driver does not say: the kernels
     * are compiled for at least this many (BWD_MIN_BLOCKS in kernels/common.cuh).
     */
    static final int BLOCKS_PER_MULTIPROCESSOR = 4;

    RowSplits {
        if (fixed < 0 || fixed > MAX_SPLITS)
            throw new IllegalArgumentException("row splits must be 1 to " + MAX_SPLITS + ", got " + fixed);
        if (fixed == 0 && multiprocessors < 1)
            throw new IllegalArgumentException("automatic row splits need the multiprocessor count");
    }

    static RowSplits fixed(int splits) {
        return new RowSplits(0, 0, splits);
    }

    /** Chosen per launch for a device with this many multiprocessors, 4 blocks resident on each. */
    static RowSplits auto(int multiprocessors) {
        return auto(multiprocessors, BLOCKS_PER_MULTIPROCESSOR);
    }

    /** As {@link #auto(int)} with the resident blocks per multiprocessor the driver reports (4 when below 1). */
    static RowSplits auto(int multiprocessors, int blocksPerMultiprocessor) {
        return new RowSplits(
                multiprocessors, blocksPerMultiprocessor > 0 ? blocksPerMultiprocessor : BLOCKS_PER_MULTIPROCESSOR, 0);
    }

    /** Splits for a launch of slabBlocks blocks (slabs times tasks) over rows rows. */
    int splits(long slabBlocks, int rows) {
        if (fixed > 0) return Math.max(1, Math.min(fixed, rows));
        int max = Math.max(1, Math.min(MAX_SPLITS, rows / MIN_ROWS_PER_SPLIT));
        long resident = (long) multiprocessors * blocksPerMultiprocessor;
        long busy = resident * 7 / 8;
        int best = 1;
        double bestCost = Double.MAX_VALUE;
        for (int s = 1; s <= max; s++) {
            long n = slabBlocks * s;
            long full = n / resident, rest = n % resident;
            double cost = (double) (full * resident + (rest > 0 ? Math.max(rest, busy) : 0)) / n;
            if (cost < bestCost - 1e-9) {
                bestCost = cost;
                best = s;
            }
        }
        return best;
    }

    /** As the bench and the messages show it. */
    String describe() {
        return fixed > 0 ? Integer.toString(fixed) : "auto";
    }
}
