package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** embed: the first layer, looking its integer inputs up in its tables. */
final class EmbedNode extends PlanNode {
    /** Per table: its offset, rows, width and its columns' start in the output. */
    final CUdeviceptr meta;

    final int tables;
    /** Whether the linear after it runs its plain forward and backward (the fusion pass). */
    boolean folded;

    EmbedNode(PlanContext c, LayerSpec.Embed spec, String name) {
        super(c, name, spec.tables().size(), spec.outDim(spec.tables().size(), name), null, null);
        tables = spec.tables().size();
        int[] m = new int[4 * tables];
        int outOff = 0;
        for (int j = 0; j < tables; j++) {
            int[] t = spec.tables().get(j);
            m[4 * j] = c.offset(LayerSpec.Embed.table(name, j));
            m[4 * j + 1] = t[0];
            m[4 * j + 2] = t[1];
            m[4 * j + 3] = outOff;
            outOff += t[1];
        }
        meta = c.w.arena.constInts(m, name + ".tables");
        y = floats(out, "y");
        yT = tangentFloats(out, "yT");
    }

    private Launch gather(CUdeviceptr table, CUdeviceptr into, String what) {
        Workspace w = w();
        return c.build(params(Kernels.embedGatherForward(), table)
                .grid(blocks(out, Kernels.EMBED_GATHER_FORWARD.blockX()), w.tasks)
                .meta(meta)
                .tables(tables)
                .outWidth(out)
                .xs(w.xs)
                .inDim(in)
                .step(w.step)
                .B(w.tasks)
                .y(into)
                .from(name + " " + what));
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        if (folded && !tangent) return;
        ops.add(gather(t.params(), y, "embed forward"));
        // The output is linear in the tables: its tangent is the direction's rows.
        if (tangent) ops.add(gather(w().direction, yT, "embed forward tangent"));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        if (folded) return;
        Workspace w = w();
        ops.add(c.build(t.update()
                .on(params(Kernels.embedScatterUpdate(), t.params()))
                .grid(blocks(out, Kernels.EMBED_SCATTER_UPDATE.blockX()), w.tasks)
                .meta(meta)
                .tables(tables)
                .outWidth(out)
                .xs(w.xs)
                .inDim(in)
                .step(w.step)
                .B(w.tasks)
                .dy(dy)
                .from(name + " embed backward")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        // Linear in the tables, so no second-order term of its own: a looked-up row's g is dy, its H v dyT.
        Workspace w = w();
        ops.add(c.build(t.adjoint()
                .on(Kernels.embedScatterAdjoint())
                .grid(blocks(out, Kernels.EMBED_SCATTER_ADJOINT.blockX()), w.tasks)
                .P(w.paramStride)
                .meta(meta)
                .tables(tables)
                .outWidth(out)
                .xs(w.xs)
                .inDim(in)
                .step(w.step)
                .B(w.tasks)
                .dy(dy)
                .dyT(dyT)
                .from(name + " embed backward tangent")));
    }
}
