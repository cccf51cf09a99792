package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** layernorm; its plain forward or backward may run as a tail of a neighbour's kernel (the fusion pass). */
final class LayerNormNode extends PlanNode {
    final int gOff, bOff;
    final CUdeviceptr stats, tstats;
    /** Whether the plain forward or backward runs as a tail of a neighbour's kernel. */
    boolean forwardFolded, backwardFolded;

    LayerNormNode(PlanContext c, String name, int dim, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, dim, dim, x, xT);
        gOff = c.offset(LayerSpec.LayerNorm.gain(name));
        bOff = c.offset(LayerSpec.LayerNorm.bias(name));
        stats = floats(2, "stats");
        tstats = tangentFloats(2, "tangent stats");
        y = floats(dim, "y");
        dx = floats(dim, "dx");
        yT = tangentFloats(dim, "yT");
        dxT = tangentFloats(dim, "dxT");
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        if (forwardFolded && !tangent) return;
        Workspace w = w();
        ops.add(c.build(params(Kernels.layernormForward(), t.params())
                .grid(w.tasks, 1)
                .gOff(gOff)
                .bOff(bOff)
                .dim(in)
                .x(x)
                .stats(stats)
                .y(y)
                .from(name + " layernorm forward")));
        if (!tangent) return;
        ops.add(c.build(params(Kernels.layernormForwardTangent(), t.params())
                .grid(w.tasks, 1)
                .v(w.direction)
                .gOff(gOff)
                .bOff(bOff)
                .dim(in)
                .x(x)
                .xT(xT)
                .stats(stats)
                .tstats(tstats)
                .yT(yT)
                .from(name + " layernorm forward tangent")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        if (backwardFolded) return;
        ops.add(c.build(t.update()
                .on(params(Kernels.layernormBackwardUpdate(), t.params()))
                .grid(w().tasks, 1)
                .gOff(gOff)
                .bOff(bOff)
                .dim(in)
                .x(x)
                .stats(stats)
                .dy(dy)
                .dx(dx)
                .from(name + " layernorm backward")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        Workspace w = w();
        ops.add(c.build(t.adjoint()
                .on(params(Kernels.layernormBackwardTangent(), t.params()))
                .grid(w.tasks, 1)
                .v(w.direction)
                .gOff(gOff)
                .bOff(bOff)
                .dim(in)
                .x(x)
                .xT(xT)
                .stats(stats)
                .tstats(tstats)
                .dy(dy)
                .dyT(dyT)
                .dx(dx)
                .dxT(dxT)
                .from(name + " layernorm backward tangent")));
    }
}
