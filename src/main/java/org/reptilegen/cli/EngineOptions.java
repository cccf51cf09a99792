package org.reptilegen.cli;

import java.util.function.Consumer;
import org.reptilegen.config.Config;
import org.reptilegen.core.Adam;
import org.reptilegen.dist.DistributedEngine;
import org.reptilegen.dist.World;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.select.Engines;
import picocli.CommandLine.Option;

/** --backend and --threads, shared by every command that runs an engine. */
final class EngineOptions {
    @Option(
            names = "--backend",
            paramLabel = "cuda|cpu|auto",
            defaultValue = "auto",
            converter = Converters.BackendValue.class,
            description =
                    "Where to run: cuda, cpu, or auto (cuda when a GPU and the kernels are present, else cpu with a notice). Default: ${DEFAULT-VALUE}.")
    Engines.Backend backend;

    @Option(
            names = "--threads",
            paramLabel = "N",
            defaultValue = "0",
            converter = Converters.Count.class,
            description =
                    "Worker threads of the cpu backend (tasks run in parallel); 0 = every core. Default: ${DEFAULT-VALUE}.")
    int threads;

    static EngineSettings settings(Config cfg, int threads) {
        return new EngineSettings(
                cfg.model(),
                cfg.algorithm(),
                cfg.innerLr().init(),
                cfg.mamlSegment(),
                cfg.precision(),
                new Adam(cfg.outerLr(), cfg.beta1(), cfg.beta2(), cfg.eps()),
                threads,
                cfg.innerLr().mode());
    }

    /** Fails with create's one-line error when the chosen backend cannot run here at all. */
    void checkAvailable() {
        Engines.checkAvailable(backend);
    }

    Engine create(Config cfg) {
        return create(settings(cfg, threads));
    }

    Engine create(EngineSettings settings) {
        Consumer<String> notice = line -> System.err.println("note: " + line);
        Engine engine = Engines.create(settings, backend, notice);
        // Under MPI every command's engine runs its share of each batch on this rank.
        World world = World.current();
        return world == null ? engine : new DistributedEngine(engine, world);
    }
}
