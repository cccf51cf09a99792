package org.reptilegen.config;

/** Floating-point width of the engine's arithmetic. Checkpoints are float32 either way. */
public enum Precision {
    FLOAT32,
    FLOAT64
}
