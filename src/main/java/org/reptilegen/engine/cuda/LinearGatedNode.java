package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.CudaKernels.LIN_GATED;
import static org.reptilegen.engine.cuda.CudaKernels.LIN_PLAIN;

import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * linear(in, 2d) followed by gated, run as one linear in LIN_GATED mode: the linear's own output buffer
 * (and its tangent's) keeps the pre-activations [a; c], the pair's y is the gated output.
 */
final class LinearGatedNode extends PlanNode {
    final LinearNode linear;

    LinearGatedNode(PlanContext c, String name, int in, int out, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, in, out / 2, x, xT);
        linear = new LinearNode(c, name, in, out, LIN_PLAIN, x, xT);
        y = floats(this.out, "gated y");
        yT = tangentFloats(this.out, "gated yT");
        dx = linear.dx;
        dxT = linear.dxT;
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        ops.add(tangent ? linear.forwardTangentLaunch(t, y, yT, LIN_GATED) : linear.forwardLaunch(t, y, LIN_GATED));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(linear.backwardLaunch(t, dy, LIN_GATED));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        ops.add(linear.backwardTangentLaunch(t, dy, dyT, LIN_GATED));
    }
}
