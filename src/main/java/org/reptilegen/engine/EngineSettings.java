package org.reptilegen.engine;

import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.Precision;
import org.reptilegen.model.ModelSpec;

/**
 * What an engine computes: the model, the meta-gradient, the inner learning rate alpha (fixed, or
 * the initial value of learned rates, one per parameter tensor or per element), MAML's segment
 * length K (0 = ceil(sqrt(T))), the storage precision, the outer Adam and, for the CPU, the number
 * of worker threads (0 = every core).
 */
public record EngineSettings(
        ModelSpec model,
        Algorithm algorithm,
        double innerLr,
        int segment,
        Precision precision,
        Adam adam,
        int threads,
        InnerLr.Mode innerLrMode) {

    /** With a fixed inner learning rate. */
    public EngineSettings(
            ModelSpec model,
            Algorithm algorithm,
            double innerLr,
            int segment,
            Precision precision,
            Adam adam,
            int threads) {
        this(model, algorithm, innerLr, segment, precision, adam, threads, InnerLr.Mode.FIXED);
    }

    public int workerThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    /** Throws when learned rates come with an algorithm that gives them no gradient; every engine checks. */
    public void checkRates() {
        String why = innerLrMode != InnerLr.Mode.FIXED ? algorithm.refusesLearnedRates() : null;
        if (why != null) throw new IllegalArgumentException(why);
    }

    /** How learned rates map onto the parameters (a fixed rate when the mode is FIXED). */
    public InnerLrLayout rates() {
        return new InnerLrLayout(model.layout(), innerLrMode);
    }
}
