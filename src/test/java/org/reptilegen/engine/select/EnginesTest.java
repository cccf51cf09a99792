package org.reptilegen.engine.select;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.Precision;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineException;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;

/** Choosing the engine for --backend: what keeps auto and cuda off the GPU, and what each choice gives. */
class EnginesTest {
    private static final ModelSpec MODEL =
            new ModelSpec(TaskKind.MNIST, List.of(new LayerSpec.D2c(28), new LayerSpec.Linear(2, 1)));
    private static final Adam ADAM = new Adam(1e-3, 0.9, 0.99, 1e-8);

    private static EngineSettings settings(Algorithm a, Precision p, InnerLr.Mode m) {
        return new EngineSettings(MODEL, a, 0.1, 0, p, ADAM, 1, m);
    }

    @Test
    void theCudaBackendTakesEveryAlgorithmAndLearnedRatesInFloat32Only() {
        for (Algorithm a : Algorithm.values()) {
            assertNull(Engines.cudaUnsupported(settings(a, Precision.FLOAT32, InnerLr.Mode.FIXED)), a.name());
            String why = Engines.cudaUnsupported(settings(a, Precision.FLOAT64, InnerLr.Mode.FIXED));
            assertTrue(why != null && why.contains("float32"), a + " in float64: " + why);
        }
        for (Algorithm a : new Algorithm[] {Algorithm.FOMAML, Algorithm.MAML})
            for (InnerLr.Mode m : new InnerLr.Mode[] {InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT})
                assertNull(Engines.cudaUnsupported(settings(a, Precision.FLOAT32, m)), a + " " + m);
    }

    @Test
    void theCpuBackendRunsTheSettingsItIsGiven() {
        for (Algorithm a : Algorithm.values())
            try (Engine e =
                    Engines.create(settings(a, Precision.FLOAT64, InnerLr.Mode.FIXED), Engines.Backend.CPU, n -> {
                        throw new AssertionError("no notice for an explicit cpu: " + n);
                    })) {
                assertInstanceOf(CpuEngine.class, e);
                assertEquals(a, e.settings().algorithm());
                assertEquals(Precision.FLOAT64, e.settings().precision());
            }
    }

    @Test
    void autoFallsBackToTheCpuWithOneNoticeThatSaysWhy() {
        List<String> notices = new ArrayList<>();
        try (Engine e = Engines.create(
                settings(Algorithm.MAML, Precision.FLOAT64, InnerLr.Mode.FIXED), Engines.Backend.AUTO, notices::add)) {
            assertInstanceOf(CpuEngine.class, e);
        }
        assertEquals(1, notices.size(), notices.toString());
        String why = CudaEngine.unavailableReason();
        assertTrue(
                notices.get(0).startsWith("using the cpu backend: ")
                        && notices.get(0).contains(why != null ? why : "float32"),
                notices.get(0));
    }

    @Test
    void cudaRefusesWhatItCannotRunWithOneLine() {
        EngineException e = assertThrows(
                EngineException.class,
                () -> Engines.create(
                        settings(Algorithm.REPTILE, Precision.FLOAT64, InnerLr.Mode.FIXED),
                        Engines.Backend.CUDA,
                        n -> {}));
        assertTrue(e.getMessage().contains("--backend cuda"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }
}
