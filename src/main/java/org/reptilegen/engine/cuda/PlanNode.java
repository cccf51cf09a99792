package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUdeviceptr;

/**
 * One layer family's part of a step plan (the CPU engine's layer tree, node for node): it owns its output
 * y [B x out] and input gradient dx [B x in], reads its input x (the previous node's y), and appends its
 * launches for a {@link Target}. The tangents (xT, yT, dxT) exist only in a workspace for MAML.
 */
abstract class PlanNode {
    final PlanContext c;
    /** The layer's name in the parameter layout (module_2, module_3.module_1), for the listing and errors. */
    final String name;

    final int in, out;
    /** Input [B x in] and its tangent (null for the first layer, which reads the integer inputs). */
    final CUdeviceptr x, xT;
    /** Output, input gradient and their tangents, set once by each constructor. */
    CUdeviceptr y, dx, yT, dxT;

    PlanNode(PlanContext c, String name, int in, int out, CUdeviceptr x, CUdeviceptr xT) {
        this.c = c;
        this.name = name;
        this.in = in;
        this.out = out;
        this.x = x;
        this.xT = xT;
    }

    /** Appends the forward launches; with tangent, also those of yT along the workspace's direction. */
    abstract void forward(List<Launch> ops, Target t, boolean tangent);

    /** Appends the backward launches for the output gradient dy, applying t's update; leaves dx. */
    abstract void backward(List<Launch> ops, Target t, CUdeviceptr dy);

    /**
     * Appends the backward and its tangent for dy, dyT: leaves dx and dxT, applies t's adjoint update to the
     * layer's elements of lambda with their gradient and H v, and leaves the parameters alone.
     */
    abstract void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT);

    Workspace w() {
        return c.w;
    }

    /** perTask floats per task named after this node. */
    CUdeviceptr floats(long perTask, String what) {
        return c.floats(perTask, name + "." + what);
    }

    CUdeviceptr tangentFloats(long perTask, String what) {
        return c.tangentFloats(perTask, name + "." + what);
    }

    /** The builder's parameters p and P: the target's rows and their stride. */
    <B extends Launch.Builder<B>> B params(B b, CUdeviceptr rows) {
        return b.set("p", rows).set("P", c.w.paramStride);
    }
}
