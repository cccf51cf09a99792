package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** residual: y = f(x) + x for the chain f of its inner layers. */
final class ResidualNode extends PlanNode {
    private final PlanNode[] inner;

    ResidualNode(
            PlanContext c,
            StepPlan.Fusion fusion,
            String name,
            List<LayerSpec> layers,
            int dim,
            CUdeviceptr x,
            CUdeviceptr xT) {
        super(c, name, dim, dim, x, xT);
        inner = fusion.chain(layers, name, dim, x, xT);
        y = floats(dim, "y");
        dx = floats(dim, "dx");
        yT = tangentFloats(dim, "yT");
        dxT = tangentFloats(dim, "dxT");
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        for (PlanNode n : inner) n.forward(ops, t, tangent);
        ops.add(StepPlan.add(c, in, StepPlan.chainOut(inner, x, false), x, y, name + " residual add"));
        if (tangent)
            ops.add(StepPlan.add(c, in, StepPlan.chainOut(inner, xT, true), xT, yT, name + " residual add tangent"));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        CUdeviceptr innerDx = StepPlan.chainBackward(inner, ops, t, dy);
        ops.add(StepPlan.add(c, in, innerDx, dy, dx, name + " residual backward add"));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        CUdeviceptr[] innerDx = StepPlan.chainBackwardTangent(inner, ops, t, dy, dyT);
        ops.add(StepPlan.add(c, in, innerDx[0], dy, dx, name + " residual backward add"));
        ops.add(StepPlan.add(c, in, innerDx[1], dyT, dxT, name + " residual backward add tangent"));
    }
}
