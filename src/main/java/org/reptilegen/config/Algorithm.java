package org.reptilegen.config;

/** How the meta-gradient is formed (SPEC section 4). */
public enum Algorithm {
    /** theta minus the mean of the adapted parameters. */
    REPTILE,
    /** First-order MAML: the sum of the inner gradients along each task's trajectory. */
    FOMAML,
    /** Second-order MAML: differentiates through every inner step, Hessian terms included. */
    MAML
}
