package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;

/** gated with kernels of its own (after anything but a linear, which fuses it). */
final class GatedNode extends PlanNode {
    GatedNode(PlanContext c, String name, int in, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, in, in / 2, x, xT);
        y = floats(out, "y");
        dx = floats(in, "dx");
        yT = tangentFloats(out, "yT");
        dxT = tangentFloats(in, "dxT");
    }

    private int grid() {
        return blocks((long) w().tasks * out, Kernels.GATED_FORWARD.blockX());
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        int b = w().tasks;
        ops.add(c.build(
                Kernels.gatedForward().grid(grid(), 1).d(out).B(b).x(x).y(y).from(name + " forward")));
        if (tangent)
            ops.add(c.build(Kernels.gatedForwardTangent()
                    .grid(grid(), 1)
                    .d(out)
                    .B(b)
                    .x(x)
                    .xT(xT)
                    .yT(yT)
                    .from(name + " forward tangent")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(c.build(Kernels.gatedBackward()
                .grid(grid(), 1)
                .d(out)
                .B(w().tasks)
                .x(x)
                .dy(dy)
                .dx(dx)
                .from(name + " backward")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        ops.add(c.build(Kernels.gatedBackwardTangent()
                .grid(grid(), 1)
                .d(out)
                .B(w().tasks)
                .x(x)
                .xT(xT)
                .dy(dy)
                .dyT(dyT)
                .dx(dx)
                .dxT(dxT)
                .from(name + " backward tangent")));
    }
}
