package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * One kernel launch with its grid and arguments, built once and replayed every step. Building it
 * checks that every parameter of the kernel's .cu list is set and its kind (pointer / int / long long /
 * float / double), so a mismatched launch fails when a plan is built, not silently on the GPU.
 */
final class Launch {
    final KernelSig sig;
    final int gridX, gridY;
    /** The arguments as given (CUdeviceptr, Integer, Long, Float, Double), so a plan can be replayed without a GPU. */
    final List<Object> args;
    /** What in the plan launched it (a layer's name and role), or "" where nothing more is known. */
    final String origin;

    private final CUfunction function;
    private final Pointer params;

    private Launch(
            KernelSig sig,
            CUfunction function,
            int gridX,
            int gridY,
            List<Object> args,
            Pointer params,
            String origin) {
        this.sig = sig;
        this.function = function;
        this.gridX = gridX;
        this.gridY = gridY;
        this.args = args;
        this.params = params;
        this.origin = origin;
    }

    /** The null pointer, for a pointer argument that selects nothing (a kernel checks it against null). */
    static final CUdeviceptr NULL = new CUdeviceptr();

    /** Resolves a kernel to its function on the device, or to nothing for a plan that is only measured. */
    interface Functions {
        CUfunction get(KernelSig sig);
    }

    /**
     * A launch of sig (its parameters ps) on a (gridX, gridY) grid with the kernel's own block shape.
     * Arguments: CUdeviceptr for pointers, Integer, Long, Float, Double for the scalars, in the .cu order.
     */
    private static Launch of(
            Functions functions,
            KernelSig sig,
            List<KernelSig.Param> ps,
            int gridX,
            int gridY,
            String origin,
            Object[] args) {
        if (gridX < 1 || gridY < 1 || gridY > 65535)
            throw new IllegalStateException(sig.name() + ": grid (" + gridX + ", " + gridY + ") is out of range");
        // One entry more than the kernel takes, left null: a driver reads only as many as the kernel
        // declares, and the simulated driver checks the count against this end.
        Pointer[] ptrs = new Pointer[args.length + 1];
        ptrs[args.length] = new Pointer();
        for (int i = 0; i < args.length; i++) {
            KernelSig.Param p = ps.get(i);
            Object a = args[i];
            ptrs[i] = switch (p.kind()) {
                case POINTER -> a instanceof CUdeviceptr d ? Pointer.to(d) : null;
                case INT -> a instanceof Integer v ? Pointer.to(new int[] {v}) : null;
                case LONG -> a instanceof Long v ? Pointer.to(new long[] {v}) : null;
                case FLOAT -> a instanceof Float v ? Pointer.to(new float[] {v}) : null;
                case DOUBLE -> a instanceof Double v ? Pointer.to(new double[] {v}) : null;
            };
            if (ptrs[i] == null)
                throw new IllegalStateException(sig.name() + ": argument " + i + " (" + p.type() + " " + p.name()
                        + ") got " + (a == null ? "null" : a.getClass().getSimpleName()));
        }
        return new Launch(sig, functions.get(sig), gridX, gridY, List.of(args), Pointer.to(ptrs), origin);
    }

    /**
     * A launch being put together: the generated launcher of each kernel ({@link Kernels}) sets its
     * arguments by their .cu names; {@link #build} checks that every one is set and makes the launch.
     */
    abstract static class Builder<B extends Builder<B>> {
        private final KernelSig sig;
        private final List<KernelSig.Param> params;
        private final Object[] args;
        private int gridX, gridY;
        private String origin = "";

        Builder(KernelSig sig) {
            this.sig = sig;
            this.params = sig.parse();
            this.args = new Object[params.size()];
        }

        @SuppressWarnings("unchecked")
        private B self() {
            return (B) this;
        }

        /** Sets argument i; the generated setters call it. */
        protected final B put(int i, Object value) {
            if (value == null)
                throw new IllegalStateException(
                        sig.name() + ": " + params.get(i).name() + " is null");
            args[i] = value;
            return self();
        }

        /**
         * Sets the argument of that name, for the groups of parameters several kernels share (an update's
         * scale, acc and accOn, a folded layer's arguments); its type is checked when the launch is built.
         */
        final B set(String name, Object value) {
            for (int i = 0; i < params.size(); i++) if (params.get(i).name().equals(name)) return put(i, value);
            throw new IllegalStateException(sig.name() + " has no parameter " + name);
        }

        /** The grid, in blocks of the kernel's own shape. */
        final B grid(int x, int y) {
            gridX = x;
            gridY = y;
            return self();
        }

        /** What in the plan makes this launch, for the plan's listing and for errors. */
        final B from(String what) {
            origin = what;
            return self();
        }

        final Launch build(Functions functions) {
            for (int i = 0; i < args.length; i++)
                if (args[i] == null)
                    throw new IllegalStateException(
                            sig.name() + ": " + params.get(i).name() + " is not set");
            return of(functions, sig, params, gridX, gridY, origin, args);
        }
    }

    /** Blocks needed to cover n items with per items each. */
    static int blocks(long n, int per) {
        long b = (n + per - 1) / per;
        if (b < 1) return 1;
        if (b > Integer.MAX_VALUE) throw new IllegalStateException("grid of " + b + " blocks is too large");
        return (int) b;
    }

    /**
     * The launch in words, for errors: the kernel, its grid and block, and its scalar arguments by name
     * (the offsets and sizes among them say which layer of the plan launched it).
     */
    String describe() {
        StringBuilder b = new StringBuilder(sig.name());
        if (!origin.isEmpty()) b.append(" (").append(origin).append(')');
        b.append(" on a (")
                .append(gridX)
                .append(", ")
                .append(gridY)
                .append(") grid of (")
                .append(sig.blockX())
                .append(", ")
                .append(sig.blockY())
                .append(") threads");
        List<KernelSig.Param> ps = sig.parse();
        String sep = " with ";
        for (int i = 0; i < ps.size(); i++) {
            if (ps.get(i).kind() == KernelSig.Kind.POINTER) continue;
            b.append(sep).append(ps.get(i).name()).append('=').append(args.get(i));
            sep = ", ";
        }
        return b.toString();
    }

    void run(CUstream stream) {
        JCudaDriver.cuLaunchKernel(function, gridX, gridY, 1, sig.blockX(), sig.blockY(), 1, 0, stream, params, null);
    }
}
