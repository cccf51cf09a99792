package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.reptilegen.util.Rng;

/** The device's sampling uniforms are the CPU engine's, number for number. */
class SampleStreamsTest {
    @Test
    void uniformsMatchTheCpuStreams() {
        for (long seed : new long[] {0, 1, 42, -7, Long.MAX_VALUE}) {
            for (int i : new int[] {0, 1, 5, 1000}) {
                Rng r = Rng.of(seed, Rng.STREAM_SAMPLE, i);
                long start = SampleStreams.start(seed, i);
                for (int t = 0; t < 50; t++) assertEquals(r.nextDouble(), SampleStreams.uniform(start, t), 0.0);
            }
        }
    }
}
