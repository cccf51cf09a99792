package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;

/** d2c: the first layer, the integer inputs scaled to [-1, 1]. */
final class D2cNode extends PlanNode {
    private final float scale;

    D2cNode(PlanContext c, String name, int in, int n) {
        super(c, name, in, in, null, null);
        scale = (float) (2.0 / n);
        y = floats(in, "y");
        yT = tangentFloats(in, "yT");
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        Workspace w = w();
        ops.add(c.build(Kernels.d2cForward()
                .grid(blocks((long) w.tasks * in, Kernels.D2C_FORWARD.blockX()), 1)
                .scale(scale)
                .inDim(in)
                .xs(w.xs)
                .step(w.step)
                .B(w.tasks)
                .y(y)
                .from(name + " d2c forward")));
        // Integer inputs do not move along a parameter direction.
        if (tangent) ops.add(StepPlan.zero(c, yT, in, name + " d2c forward tangent"));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        // No parameters, and the first layer: nothing upstream needs its input gradient.
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {}
}
