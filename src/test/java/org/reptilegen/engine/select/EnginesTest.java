package org.reptilegen.engine.select;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.Precision;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.select.Engines;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;

/** What keeps the auto and cuda backends off the GPU, apart from the GPU itself. */
class EnginesTest {
    private static final ModelSpec MODEL = new ModelSpec(TaskKind.MNIST, List.of(new LayerSpec.D2c(28), new LayerSpec.Linear(2, 1)));
    private static final Adam ADAM = new Adam(1e-3, 0.9, 0.99, 1e-8);

    @Test
    void everyAlgorithmRunsOnTheCudaBackend() {
        for (Algorithm a : Algorithm.values())
            assertNull(Engines.cudaUnsupported(new EngineSettings(MODEL, a, 0.1, 0, Precision.FLOAT32, ADAM, 1)), a.name());
    }

    @Test
    void learnedRatesRunOnTheCudaBackend() {
        for (Algorithm a : new Algorithm[]{Algorithm.FOMAML, Algorithm.MAML})
            for (InnerLr.Mode m : new InnerLr.Mode[]{InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT})
                assertNull(Engines.cudaUnsupported(new EngineSettings(MODEL, a, 0.1, 0, Precision.FLOAT32, ADAM, 1, m)), a + " " + m);
    }

    @Test
    void float64StaysOnTheCpu() {
        assertNotNull(Engines.cudaUnsupported(new EngineSettings(MODEL, Algorithm.MAML, 0.1, 0, Precision.FLOAT64, ADAM, 1)));
    }
}
