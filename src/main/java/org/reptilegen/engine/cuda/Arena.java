package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The device memory of one batch, carved from a single allocation at 256-byte aligned offsets, so a
 * batch's size is known before anything is allocated: a measuring arena (no base) hands out
 * placeholders and only adds up the bytes. Small constant tables to upload are queued until the real
 * arena exists.
 */
final class Arena {
    private static final long ALIGN = 256;
    private final CUdeviceptr base;
    private long used;
    private final List<Constant> constants = new ArrayList<>();

    /** A constant table to upload: where, and its values. */
    record Constant(CUdeviceptr at, int[] values) {}

    private Arena(CUdeviceptr base) {
        this.base = base;
    }

    static Arena measuring() {
        return new Arena(null);
    }

    static Arena over(CUdeviceptr base) {
        return new Arena(base);
    }

    long used() {
        return used;
    }

    private CUdeviceptr take(long bytes) {
        long off = (used + ALIGN - 1) / ALIGN * ALIGN;
        used = off + Math.max(bytes, 4);
        return base == null ? new CUdeviceptr() : base.withByteOffset(off);
    }

    CUdeviceptr floats(long n) {
        return take(n * Float.BYTES);
    }

    CUdeviceptr ints(long n) {
        return take(n * Integer.BYTES);
    }

    CUdeviceptr doubles(long n) {
        return take(n * Double.BYTES);
    }

    CUdeviceptr longs(long n) {
        return take(n * Long.BYTES);
    }

    /** ints holding the given values once the arena is real. */
    CUdeviceptr constInts(int[] values) {
        CUdeviceptr p = ints(values.length);
        constants.add(new Constant(p, values.clone()));
        return p;
    }

    /** The queued constant tables, for uploading them elsewhere than through a Device. */
    List<Constant> constants() {
        return List.copyOf(constants);
    }

    /** Copies the queued constant tables to the device. */
    void uploadConstants(Device dev) {
        if (base == null) return;
        for (Constant c : constants)
            dev.upload(c.at(), Pointer.to(c.values()), (long) c.values().length * Integer.BYTES, "layer tables");
    }
}
