package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** relu, tanh or sigmoid with kernels of their own (after anything but a linear, which fuses them). */
final class ActivationNode extends PlanNode {
    private final int act;

    ActivationNode(PlanContext c, String name, LayerSpec.Activation.Kind k, int dim, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, dim, dim, x, xT);
        act = kind(k);
        y = floats(dim, "y");
        dx = floats(dim, "dx");
        yT = tangentFloats(dim, "yT");
        dxT = tangentFloats(dim, "dxT");
    }

    /** activation.cu's code for an activation. */
    static int kind(LayerSpec.Activation.Kind k) {
        return switch (k) {
            case RELU -> CudaKernels.ACT_RELU;
            case TANH -> CudaKernels.ACT_TANH;
            case SIGMOID -> CudaKernels.ACT_SIGMOID;
        };
    }

    private int count() {
        return Math.multiplyExact(w().tasks, in);
    }

    private int grid() {
        return blocks(count(), Kernels.ACTIVATION_FORWARD.blockX());
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        ops.add(c.build(Kernels.activationForward()
                .grid(grid(), 1)
                .kind(act)
                .count(count())
                .x(x)
                .y(y)
                .from(name + " forward")));
        if (tangent)
            ops.add(c.build(Kernels.activationForwardTangent()
                    .grid(grid(), 1)
                    .kind(act)
                    .count(count())
                    .x(x)
                    .y(y)
                    .xT(xT)
                    .yT(yT)
                    .from(name + " forward tangent")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(c.build(Kernels.activationBackward()
                .grid(grid(), 1)
                .kind(act)
                .count(count())
                .x(x)
                .y(y)
                .dy(dy)
                .dx(dx)
                .from(name + " backward")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        ops.add(c.build(Kernels.activationBackwardTangent()
                .grid(grid(), 1)
                .kind(act)
                .count(count())
                .x(x)
                .y(y)
                .xT(xT)
                .dy(dy)
                .dyT(dyT)
                .dx(dx)
                .dxT(dxT)
                .from(name + " backward tangent")));
    }
}
