package org.reptilegen.engine.cuda;

import java.util.Map;

/**
 * What the launches need to know about the kernels beyond their parameter lists (which {@link Kernels}
 * takes from the .cu files): block shapes, and the constants the kernels' #defines also state (a test
 * checks them against the sources).
 */
final class CudaKernels {
    private CudaKernels() {}

    /** The fatbin inside the jar. */
    static final String FATBIN_RESOURCE = "/kernels/reptile-gen.fatbin";

    /** The widest embedding linear_forward_folded gathers (LIN_EMBED_MAX). */
    static final int LINEAR_EMBED_MAX = 1024;
    /** Rows of W per linear forward block: one warp each. */
    static final int LINEAR_FORWARD_ROWS = 8;
    /** Columns of W per linear backward block. */
    static final int LINEAR_BACKWARD_COLS = 32;
    /** Hidden units per lstm_block forward block: one warp each. */
    static final int LSTM_FORWARD_UNITS = 8;
    /** Columns of z per lstm_block backward block. */
    static final int LSTM_BACKWARD_COLS = 32;
    /** The most classes sample_draw handles (its shared memory). */
    static final int SAMPLE_MAX_CLASSES = 256;

    /**
     * The block shape each kernel's thread mapping assumes, where it is not 256 x 1: the fused backward
     * kernels walk 32 columns with 8 row groups, the BCE loss runs 128 tasks a block, the step counter's
     * kernels one thread.
     */
    private static final Map<String, int[]> BLOCKS = Map.ofEntries(
            Map.entry("linear_backward_update", new int[] {32, 8}),
            Map.entry("linear_backward_tangent", new int[] {32, 8}),
            Map.entry("lstm_block_backward_update", new int[] {32, 8}),
            Map.entry("lstm_block_backward_tangent", new int[] {32, 8}),
            Map.entry("bce_loss_grad", new int[] {128, 1}),
            Map.entry("bce_loss_grad_tangent", new int[] {128, 1}),
            Map.entry("baseline_embed_grad", new int[] {128, 1}),
            Map.entry("step_set", new int[] {1, 1}),
            Map.entry("step_advance", new int[] {1, 1}),
            Map.entry("step_add", new int[] {1, 1}));

    /** A kernel as its .cu file declares it (the generated {@link Kernels}), with its block shape. */
    static KernelSig sig(String name, String params) {
        int[] block = BLOCKS.getOrDefault(name, new int[] {256, 1});
        return new KernelSig(name, params, block[0], block[1]);
    }

    /**
     * linear_forward's and linear_backward_update's modes, as the #defines in linear.cu; a linear followed
     * by an activation passes LIN_ACT plus the activation's kind.
     */
    static final int LIN_PLAIN = 0, LIN_SINE = 1, LIN_GATED = 2, LIN_ACT = 3;

    /** activation_forward's kinds, as the #defines in activation.cu. */
    static final int ACT_RELU = 0, ACT_TANH = 1, ACT_SIGMOID = 2;
    /** What a head linear's backward does about the loss (loss.cuh): nothing, or forms it itself. */
    static final int LOSS_NONE = 0, LOSS_BCE = 1, LOSS_SOFTMAX = 2;
}
