package org.reptilegen.engine;

import java.util.function.Consumer;
import org.reptilegen.engine.cpu.CpuEngine;

/** Picks the engine for a --backend choice: cuda, cpu, or auto (cuda where it can run, else cpu with a notice). */
public final class Engines {
    private Engines() {}

    public enum Backend {
        AUTO, CUDA, CPU;

        public static Backend parse(String s) {
            for (Backend b : values()) if (b.name().equalsIgnoreCase(s)) return b;
            throw new IllegalArgumentException("unknown backend '" + s + "': use cuda, cpu or auto");
        }
    }

    /** Why the cuda backend cannot run here, or null when it can. */
    public static String cudaUnavailableReason() {
        return "the cuda backend is not part of this build";
    }

    public static Engine create(EngineSettings settings, Backend backend, Consumer<String> notice) {
        switch (backend) {
            case CPU:
                return new CpuEngine(settings);
            case CUDA: {
                String why = cudaUnavailableReason();
                if (why != null) throw new EngineException("--backend cuda: " + why);
                throw new EngineException("--backend cuda: not available");
            }
            default: {
                String why = cudaUnavailableReason();
                if (why != null) notice.accept("using the cpu backend: " + why);
                return new CpuEngine(settings);
            }
        }
    }
}
