package org.reptilegen.engine;

import org.reptilegen.meta.Adam;
import org.reptilegen.meta.Algorithm;
import org.reptilegen.model.ModelSpec;

/**
 * What an engine computes: the model, the meta-gradient, the inner learning rate alpha, MAML's
 * segment length K (0 = ceil(sqrt(T))), the storage precision, the outer Adam and, for the CPU, the
 * number of worker threads (0 = every core).
 */
public record EngineSettings(ModelSpec model, Algorithm algorithm, double innerLr, int segment,
                             Precision precision, Adam adam, int threads) {
    public int workerThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }
}
