package org.reptilegen.util;

/** Vector norms for comparing results of two engines. */
public final class Norms {
    private Norms() {}

    /** ||got - want|| / ||want|| (Euclidean norms). */
    public static double relativeError(double[] got, double[] want) {
        if (got.length != want.length)
            throw new IllegalArgumentException("vectors of " + got.length + " and " + want.length + " values");
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    }
}
