package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.model.ModelSpec;

/**
 * The launches of one inner step as the cuda backend lays them out, in words, without a GPU: for each
 * launch in order its kernel, its grid and block, what in the model launches it, and the buffers it
 * reads (the kernel's const pointers) and writes (the others, which it may also read).
 * {@code reptile-gen info --plan} prints it.
 */
public final class PlanListing {
    private PlanListing() {}

    /**
     * The plain inner step of B tasks of T steps for the algorithm (FOMAML's sums the gradients, learned
     * rates add their update), and for MAML (segments of mamlSegment steps, 0: ceil(sqrt(T))) also one
     * Hessian-vector step of the reverse sweep; small layers folded and one block per column slab, as the
     * engine lays it out by default.
     */
    public static List<String> of(
            ModelSpec spec, int tasks, int steps, Algorithm algorithm, int mamlSegment, boolean learnedRates) {
        boolean fomaml = algorithm == Algorithm.FOMAML;
        int segment = algorithm == Algorithm.MAML ? MamlSegment.of(mamlSegment, steps) : 0;
        Workspace w = Workspace.shape(spec, tasks, steps)
                .accumulating(fomaml)
                .maml(segment)
                .learnedLr(learnedRates)
                .measuring();
        List<String> out = new ArrayList<>();
        List<Launch> step = w.trainStep(1e-3f, fomaml);
        out.add("inner step (" + algorithm.configName() + "), B = " + tasks + " tasks: " + step.size() + " launches");
        list(out, w, step);
        if (segment > 0) {
            List<Launch> hvp = w.plan.hvpStep(w.states[0], 1e-3);
            out.add("Hessian-vector step of MAML's reverse sweep: " + hvp.size() + " launches");
            list(out, w, hvp);
        }
        out.add("device memory for the batch: " + org.reptilegen.util.Bytes.show(w.bytes())
                + " (activations, task copies" + (fomaml ? ", gradient sums" : "")
                + (segment > 0 ? ", MAML's checkpoints and states" : "") + ", inputs for T = " + steps + ")");
        return out;
    }

    private static void list(List<String> out, Workspace w, List<Launch> launches) {
        int i = 1;
        for (Launch l : launches) {
            out.add(String.format(
                    "%3d  %-30s grid (%d, %d) x (%d, %d)  %s",
                    i++, l.sig.name(), l.gridX, l.gridY, l.sig.blockX(), l.sig.blockY(), l.origin));
            Set<String> reads = new LinkedHashSet<>(), writes = new LinkedHashSet<>();
            List<KernelSig.Param> ps = l.sig.parse();
            for (int a = 0; a < ps.size(); a++) {
                if (ps.get(a).kind() != KernelSig.Kind.POINTER || l.args.get(a) == Launch.NULL) continue;
                String label = w.arena.label((CUdeviceptr) l.args.get(a));
                if (label == null) label = ps.get(a).name();
                (ps.get(a).type().startsWith("const ") ? reads : writes).add(label);
            }
            out.add("       reads  " + (reads.isEmpty() ? "-" : String.join(", ", reads)));
            out.add("       writes " + (writes.isEmpty() ? "-" : String.join(", ", writes)));
        }
    }
}
