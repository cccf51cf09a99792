package org.reptilegen.core;

/**
 * The inner-loop learning rate alpha (config key inner_lr; README, Configs): a fixed number, or a
 * trained parameter (Meta-SGD) starting at {@code init}, one per parameter tensor or one per element.
 */
public record InnerLr(Mode mode, double init) {

    public enum Mode {
        FIXED,
        PER_TENSOR,
        PER_ELEMENT
    }

    public InnerLr {
        if (mode == null) throw new IllegalArgumentException("inner learning rate mode is null");
        if (!(init > 0) || Double.isInfinite(init))
            throw new IllegalArgumentException("inner learning rate must be a positive number, got " + init);
    }

    public static InnerLr fixed(double alpha) {
        return new InnerLr(Mode.FIXED, alpha);
    }

    /** Whether alpha is trained along with theta. */
    public boolean learned() {
        return mode != Mode.FIXED;
    }
}
