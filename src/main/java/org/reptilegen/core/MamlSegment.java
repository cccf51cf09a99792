package org.reptilegen.core;

/**
 * Second-order MAML's checkpoint interval K (config key maml_segment): the task copies are kept every K
 * inner steps and each segment is recomputed in the reverse sweep. The one rule every engine and command
 * uses.
 */
public final class MamlSegment {
    private MamlSegment() {}

    /** K for T steps: the setting, at most T, or ceil(sqrt(T)) for a setting of 0; at least 1. */
    public static int of(int setting, int steps) {
        int t = Math.max(steps, 1);
        return setting > 0 ? Math.min(setting, t) : Math.max(1, (int) Math.ceil(Math.sqrt(t)));
    }
}
