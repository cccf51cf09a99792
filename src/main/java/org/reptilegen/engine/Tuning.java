package org.reptilegen.engine;

/**
 * The knobs of an engine that lays out device launches (the cuda engine), for bench's variants and for
 * profiling; the results do not depend on them. {@link Engine#tuning()} gives it where an engine has one.
 */
public interface Tuning {
    /** Replay the inner loop as recorded graphs (on) or launch kernel by kernel. */
    void useGraphs(boolean on);

    /** Blocks sharing each column slab's rows in the fused backward kernels: 0 chooses per launch, 1 to 16 fixes it. */
    void useRowSplits(int splits);

    /** Run the small layers next to a big one inside its kernels (on) or in launches of their own. */
    void foldSmallLayers(boolean on);

    /** The row splits in use, e.g. "auto: 1,3,3,1". */
    String rowSplits();

    /** Starts (on) or stops what a profiler launched with capture off records; false when refused. */
    boolean profilerCapture(boolean on);
}
