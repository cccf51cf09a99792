package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.ParamLayout;

/**
 * What the nodes of a step plan are laid out in: the workspace whose arena holds their activations, the
 * kernels' functions, the model's parameter layout, and the row splits chosen for the fused backward
 * launches, in the order the layers were built.
 */
final class PlanContext {
    final Workspace w;
    final Launch.Functions fns;
    private final ParamLayout layout;
    final List<Integer> splitCounts = new ArrayList<>();

    PlanContext(Workspace w, Launch.Functions fns, ParamLayout layout) {
        this.w = w;
        this.fns = fns;
        this.layout = layout;
    }

    /** The offset of a parameter tensor in a task's row, by its name (the layout both engines read). */
    int offset(String name) {
        return layout.offset(name);
    }

    /** The offset of the first of these tensors, each of the others checked to follow the one before it. */
    int packed(String... names) {
        return layout.packed(names);
    }

    /** perTask floats for each task, named for the plan's listing. */
    CUdeviceptr floats(long perTask, String label) {
        return w.arena.floats(perTask * w.tasks, label);
    }

    /** A tangent's activations: only in a workspace for MAML, the one plan that reads them (null elsewhere). */
    CUdeviceptr tangentFloats(long perTask, String label) {
        return w.segment > 0 ? floats(perTask, label) : null;
    }

    /** ints set to zero when uploaded (arrival counts the launches set back to zero themselves). */
    CUdeviceptr zeroInts(int n, String label) {
        return w.arena.constInts(new int[n], label);
    }

    <B extends Launch.Builder<B>> Launch build(B b) {
        return b.build(fns);
    }
}
