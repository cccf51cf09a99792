package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** gated_residual: y = f(x) * sigmoid(W x + b) for the chain f of its inner layers and its gate linear. */
final class GatedResidualNode extends PlanNode {
    private final PlanNode[] inner;
    private final LinearNode gate;
    private final CUdeviceptr da, dgp, daT, dgpT;

    GatedResidualNode(
            PlanContext c,
            StepPlan.Fusion fusion,
            String name,
            List<LayerSpec> layers,
            int dim,
            CUdeviceptr x,
            CUdeviceptr xT) {
        super(c, name, dim, dim, x, xT);
        inner = fusion.chain(layers, name, dim, x, xT);
        gate = new LinearNode(c, LayerSpec.GatedResidual.gate(name), dim, dim, CudaKernels.LIN_PLAIN, x, xT);
        y = floats(dim, "y");
        da = floats(dim, "inner gradient");
        dgp = floats(dim, "gate gradient");
        dx = floats(dim, "dx");
        yT = tangentFloats(dim, "yT");
        daT = tangentFloats(dim, "inner gradient tangent");
        dgpT = tangentFloats(dim, "gate gradient tangent");
        dxT = tangentFloats(dim, "dxT");
    }

    private int count() {
        return Math.toIntExact((long) w().tasks * in);
    }

    private int grid() {
        return blocks(count(), Kernels.GATE_MUL_FORWARD.blockX());
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        for (PlanNode n : inner) n.forward(ops, t, tangent);
        gate.forward(ops, t, tangent);
        CUdeviceptr a = StepPlan.chainOut(inner, x, false);
        ops.add(c.build(Kernels.gateMulForward()
                .grid(grid(), 1)
                .count(count())
                .a(a)
                .gp(gate.y)
                .y(y)
                .from(name + " gate forward")));
        if (!tangent) return;
        ops.add(c.build(Kernels.gateMulForwardTangent()
                .grid(grid(), 1)
                .count(count())
                .a(a)
                .aT(StepPlan.chainOut(inner, xT, true))
                .gp(gate.y)
                .gpT(gate.yT)
                .yT(yT)
                .from(name + " gate forward tangent")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(c.build(Kernels.gateMulBackward()
                .grid(grid(), 1)
                .count(count())
                .a(StepPlan.chainOut(inner, x, false))
                .gp(gate.y)
                .dy(dy)
                .da(da)
                .dgp(dgp)
                .from(name + " gate backward")));
        CUdeviceptr innerDx = StepPlan.chainBackward(inner, ops, t, da);
        gate.backward(ops, t, dgp);
        ops.add(StepPlan.add(c, in, innerDx, gate.dx, dx, name + " gated_residual backward add"));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        ops.add(c.build(Kernels.gateMulBackwardTangent()
                .grid(grid(), 1)
                .count(count())
                .a(StepPlan.chainOut(inner, x, false))
                .aT(StepPlan.chainOut(inner, xT, true))
                .gp(gate.y)
                .gpT(gate.yT)
                .dy(dy)
                .dyT(dyT)
                .da(da)
                .daT(daT)
                .dgp(dgp)
                .dgpT(dgpT)
                .from(name + " gate backward tangent")));
        CUdeviceptr[] innerDx = StepPlan.chainBackwardTangent(inner, ops, t, da, daT);
        gate.backwardTangent(ops, t, dgp, dgpT);
        ops.add(StepPlan.add(c, in, innerDx[0], gate.dx, dx, name + " gated_residual backward add"));
        ops.add(StepPlan.add(c, in, innerDx[1], gate.dxT, dxT, name + " gated_residual backward add tangent"));
    }
}
