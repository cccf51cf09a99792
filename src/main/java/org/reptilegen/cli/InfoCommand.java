package org.reptilegen.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.reptilegen.checkpoint.Checkpoint;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.engine.cpu.InnerLoops;
import org.reptilegen.engine.cuda.CudaEngine;
import org.reptilegen.engine.cuda.PlanListing;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.util.Bytes;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        mixinStandardHelpOptions = true,
        name = "info",
        description = "Lists a model's layers, parameter names, shapes and counts, from a config or a checkpoint.")
final class InfoCommand implements Callable<Integer> {
    static final class Source {
        @Option(names = "--config", paramLabel = "FILE|NAME", description = "A config file or built-in config name.")
        String config;

        @Option(names = "--checkpoint", paramLabel = "FILE", description = "A training checkpoint.")
        Path checkpoint;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(
            names = "--batch",
            paramLabel = "B",
            description = "Meta-batch size for the memory estimate. Default: the config's meta_batch.")
    Integer batch;

    @Option(
            names = "--inner-steps",
            paramLabel = "T",
            description = "Inner steps per task for the memory estimate. Default: the task's length.")
    Integer steps;

    @Option(
            names = "--plan",
            description =
                    "Also list the launches of one inner step on the cuda backend, in order: kernel, grid, what in the"
                            + " model launches it, what it reads and writes (no GPU needed).")
    boolean plan;

    @Option(
            names = "--segment",
            paramLabel = "K",
            converter = Converters.Count.class,
            description =
                    "MAML checkpoint interval for the memory estimate; 0 = ceil(sqrt(T)). Default: the config's maml_segment.")
    Integer segment;

    @Override
    public Integer call() {
        Config cfg;
        if (source.checkpoint != null) {
            Checkpoint.Loaded raw = Checkpoint.read(source.checkpoint, false);
            TrainingCheckpoint c = TrainingCheckpoint.read(source.checkpoint, false);
            cfg = c.config();
            System.out.printf(
                    "checkpoint: %s, meta-step %d, Adam step %s, %s%n",
                    source.checkpoint,
                    c.step(),
                    raw.metadata().getOrDefault("adam_step", "?"),
                    raw.hasOptimizerState() ? "with optimizer state" : "without optimizer state");
        } else {
            cfg = Config.resolve(source.config);
        }
        ModelSpec m = cfg.model();
        if (m.isBaseline()) return baselineInfo(cfg);
        String lr = cfg.innerLr().learned()
                ? "learned " + cfg.innerLr().mode().name().toLowerCase() + " from "
                        + cfg.innerLr().init()
                : Double.toString(cfg.innerLr().init());
        System.out.printf(
                "task: %s, algorithm: %s, meta-batch %d, inner lr %s%n",
                cfg.task().configName(), cfg.algorithm().configName(), cfg.metaBatch(), lr);
        System.out.println("layers:");
        printLayers(m.layers(), m.task().inputDim, "", "  ");
        ParamLayout layout = m.layout();
        System.out.println("parameters:");
        for (ParamLayout.Tensor t : layout.tensors())
            System.out.printf("  %-44s %-12s %,12d%n", t.name(), t.shapeString(), t.numel());
        System.out.printf(
                "total: %,d parameters (%s per task copy in float32)%n", layout.size(), Bytes.show(4L * layout.size()));
        int b = batch != null ? batch : cfg.metaBatch();
        int t = steps != null ? steps : cfg.taskLength();
        int k = segment != null ? segment : cfg.mamlSegment();
        int kk = MamlSegment.of(k, t);
        long perTask = InnerLoops.mamlBytesPerTask(layout.size(), t, k, 4);
        long cudaRows = CudaEngine.mamlRowsPerTask(t, k);
        System.out.printf(
                "memory, float32, B = %d tasks of T = %d steps: task copies %s; MAML with K = %d keeps %d vectors per task, %s in all"
                        + " (%d on the cuda backend, %s)%n",
                b,
                t,
                Bytes.show(4L * b * layout.size()),
                kk,
                perTask / (4L * layout.size()),
                Bytes.show((long) b * perTask),
                cudaRows,
                Bytes.show(cudaRows * b * 4L * layout.size()));
        if (plan)
            PlanListing.of(m, b, t, cfg.algorithm(), k, cfg.innerLr().learned()).forEach(System.out::println);
        return 0;
    }

    /** The lstm baseline: its sizes, how it trains, its parameters; no inner loop, so no MAML memory or cuda plan. */
    private int baselineInfo(Config cfg) {
        if (plan)
            throw new IllegalArgumentException(
                    "--plan: the lstm baseline has no step plan: on cuda it is a few cuDNN and cuBLAS calls per batch (README, The LSTM baseline)");
        var spec = cfg.model().baseline();
        System.out.printf(
                "task: %s, lstm baseline: %d layers of %d, embeddings of %d, stop_grad %s; trained by backpropagation through time,"
                        + " batch %d, Adam lr %s%n",
                cfg.task().configName(),
                spec.layers(),
                spec.hidden(),
                spec.embed(),
                spec.stopGrad(),
                cfg.metaBatch(),
                cfg.outerLr());
        ParamLayout layout = cfg.model().layout();
        System.out.println("parameters:");
        for (ParamLayout.Tensor t : layout.tensors())
            System.out.printf("  %-44s %-12s %,12d%n", t.name(), t.shapeString(), t.numel());
        System.out.printf("total: %,d parameters (%s in float32)%n", layout.size(), Bytes.show(4L * layout.size()));
        return 0;
    }

    private static int printLayers(List<LayerSpec> layers, int in, String prefix, String indent) {
        int w = in;
        for (int i = 0; i < layers.size(); i++) {
            LayerSpec l = layers.get(i);
            String name = prefix + "module_" + i;
            int out = l.outDim(w, name);
            ParamLayout.Builder b = new ParamLayout.Builder();
            l.declare(name, b);
            System.out.printf(
                    "%s%-20s %-15s %5d -> %-5d %,12d params%n",
                    indent, name, l.type(), w, out, b.build().size());
            if (l instanceof LayerSpec.Residual r) printLayers(r.layers(), w, name + ".", indent + "  ");
            if (l instanceof LayerSpec.GatedResidual g) printLayers(g.layers(), w, name + ".", indent + "  ");
            w = out;
        }
        return w;
    }
}
