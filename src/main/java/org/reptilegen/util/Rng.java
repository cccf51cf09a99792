package org.reptilegen.util;

/**
 * A counter-based random stream: every stream is named by a seed and a path of integers
 * (for instance seed, STREAM_BATCH, meta-step), so a run's randomness is a function of
 * (seed, meta-step) alone. That makes resumed runs bit-for-bit equal to uninterrupted ones and
 * lets the GPU draw the same numbers from the same counters. Mixing is SplitMix64.
 */
public final class Rng {
    public static final int STREAM_INIT = 1;
    public static final int STREAM_BATCH = 2;
    public static final int STREAM_ORDER = 3;
    public static final int STREAM_SAMPLE = 4;

    private long state;

    private Rng(long state) {
        this.state = state;
    }

    /** The stream named by seed and path. */
    public static Rng of(long seed, long... path) {
        long s = mix(seed ^ 0x5DEECE66DL);
        for (long p : path) s = mix(s ^ mix(p + 0x9E3779B97F4A7C15L));
        return new Rng(s);
    }

    /** SplitMix64's finaliser. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public long nextLong() {
        state += 0x9E3779B97F4A7C15L;
        return mix(state);
    }

    /** Uniform in [0, 1) with 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform in [0, n). */
    public int nextInt(int n) {
        if (n <= 0) throw new IllegalArgumentException("n must be positive");
        return (int) Math.floorMod(nextLong() >>> 1, (long) n);
    }

    /** Standard normal (Box-Muller, one value per call). */
    public double nextGaussian() {
        double u1 = nextDouble(), u2 = nextDouble();
        if (u1 < 1e-300) u1 = 1e-300;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
    public int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
