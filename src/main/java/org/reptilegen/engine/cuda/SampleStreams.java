package org.reptilegen.engine.cuda;

import org.reptilegen.util.Rng;

/**
 * The random numbers of sampling, as sample.cu draws them: sample i's stream is the CPU engine's
 * {@code Rng.of(seed, Rng.STREAM_SAMPLE, i)}, and its t-th uniform is that stream's t-th nextDouble().
 * The device needs only each stream's start state, computed here.
 */
final class SampleStreams {
    private SampleStreams() {}

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    /** The start state of {@code Rng.of(seed, STREAM_SAMPLE, sample)}. */
    static long start(long seed, long sample) {
        long s = Rng.mix(seed ^ 0x5DEECE66DL);
        s = Rng.mix(s ^ Rng.mix(Rng.STREAM_SAMPLE + GOLDEN));
        return Rng.mix(s ^ Rng.mix(sample + GOLDEN));
    }

    /** The uniform of step t, as stream_uniform in sample.cu computes it. */
    static double uniform(long start, int t) {
        return (Rng.mix(start + (t + 1L) * GOLDEN) >>> 11) * 0x1.0p-53;
    }

    /** Samples first..first + count - 1 at a temperature: refused in one line unless count, first >= 0 and 0 < T < inf. */
    static void checkRequest(int first, int count, double temperature) {
        if (first < 0 || count < 0) throw new IllegalArgumentException("samples " + first + ".." + (first + count - 1));
        if (!(temperature > 0) || Double.isInfinite(temperature))
            throw new IllegalArgumentException("temperature must be positive and finite, got " + temperature);
    }
}
