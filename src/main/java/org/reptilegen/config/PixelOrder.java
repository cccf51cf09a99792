package org.reptilegen.config;

/** The order in which an image's pixels form a task (README, The math, 1). */
public enum PixelOrder {
    /** Row-major, the same for every task. */
    RASTER,
    /** A fresh random permutation per task. */
    RANDOM
}
