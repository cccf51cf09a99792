package org.reptilegen.model;

/** The two task families (README, The math, 1), with the shape of their inputs and outputs. */
public enum TaskKind {
    /** Text lines: x = [position], y = a byte; softmax cross-entropy over 256 logits. */
    TEXT(1, 256),
    /** Binarized images: x = [row, col], y in {0, 1}; binary cross-entropy with one logit. */
    MNIST(2, 1);

    /** Rows and columns of an image task's images. */
    public static final int IMAGE_SIDE = 28;

    /** Integers per input x_t. */
    public final int inputDim;
    /** Width of the model's last layer. */
    public final int logits;

    TaskKind(int inputDim, int logits) {
        this.inputDim = inputDim;
        this.logits = logits;
    }

    /** Number of values y_t can take. */
    public int classes() {
        return this == TEXT ? 256 : 2;
    }

    public String configName() {
        return name().toLowerCase();
    }
}
