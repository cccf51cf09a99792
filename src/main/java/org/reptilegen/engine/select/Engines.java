package org.reptilegen.engine.select;

import java.util.function.Consumer;
import org.reptilegen.baseline.BaselineEngine;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineException;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.engine.cuda.LstmBaselineCuda;

/** Picks the engine for a --backend choice: cuda, cpu, or auto (cuda where it can run, else cpu with a notice). */
public final class Engines {
    private Engines() {}

    public enum Backend {
        AUTO,
        CUDA,
        CPU;

        public static Backend parse(String s) {
            for (Backend b : values()) if (b.name().equalsIgnoreCase(s)) return b;
            throw new IllegalArgumentException("unknown backend '" + s + "': use cuda, cpu or auto");
        }
    }

    /** What the cuda backend does not do yet for these settings, or null when it does all of it. */
    static String cudaUnsupported(EngineSettings s) {
        return CudaEngine.unsupported(s);
    }

    /** Throws the error create gives for a backend that cannot run here at all (cuda without a driver, a GPU or the kernels). */
    public static void checkAvailable(Backend backend) {
        if (backend != Backend.CUDA) return;
        String why = CudaEngine.unavailableReason();
        if (why != null) throw new EngineException("--backend cuda: " + why);
    }

    /** The lstm baseline: on cuDNN and cuBLAS where they and a GPU are, else on the cpu. */
    private static Engine baseline(EngineSettings settings, Backend backend, Consumer<String> notice) {
        if (backend == Backend.CPU) return new BaselineEngine(settings);
        String why = CudaEngine.unavailableReason();
        if (why == null) why = LstmBaselineCuda.unsupported(settings);
        if (why == null) why = LstmBaselineCuda.librariesProblem();
        if (why == null) return new LstmBaselineCuda(settings);
        if (backend == Backend.CUDA) throw new EngineException("--backend cuda: " + why);
        notice.accept("using the cpu backend: " + why);
        return new BaselineEngine(settings);
    }

    public static Engine create(EngineSettings settings, Backend backend, Consumer<String> notice) {
        if (settings.model().isBaseline()) return baseline(settings, backend, notice);
        switch (backend) {
            case CPU:
                return new CpuEngine(settings);
            case CUDA: {
                checkAvailable(backend);
                String why = cudaUnsupported(settings);
                if (why != null) throw new EngineException("--backend cuda: " + why);
                return new CudaEngine(settings);
            }
            default: {
                String why = CudaEngine.unavailableReason();
                if (why == null) why = cudaUnsupported(settings);
                if (why != null) {
                    notice.accept("using the cpu backend: " + why);
                    return new CpuEngine(settings);
                }
                return new CudaEngine(settings);
            }
        }
    }
}
