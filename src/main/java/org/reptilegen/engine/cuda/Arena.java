package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The device memory of one batch, carved from a single allocation at 256-byte aligned offsets, so a
 * batch's size is known before anything is allocated: a measuring arena (no base) hands out
 * placeholders and only adds up the bytes. Small constant tables to upload are queued until the real
 * arena exists. Every piece is named, so a plan's listing can say what each launch reads and writes.
 */
final class Arena {
    private static final long ALIGN = 256;
    private final CUdeviceptr base;
    private long used;
    private final List<Constant> constants = new ArrayList<>();
    private final Map<CUdeviceptr, String> labels = new IdentityHashMap<>();

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

    private CUdeviceptr take(long bytes, String label) {
        long off = (used + ALIGN - 1) / ALIGN * ALIGN;
        used = off + Math.max(bytes, 4);
        CUdeviceptr p = base == null ? new CUdeviceptr() : base.withByteOffset(off);
        labels.put(p, label);
        return p;
    }

    CUdeviceptr floats(long n, String label) {
        return take(n * Float.BYTES, label);
    }

    CUdeviceptr ints(long n, String label) {
        return take(n * Integer.BYTES, label);
    }

    CUdeviceptr doubles(long n, String label) {
        return take(n * Double.BYTES, label);
    }

    CUdeviceptr longs(long n, String label) {
        return take(n * Long.BYTES, label);
    }

    /** The name a piece of this arena was given, or null for a pointer from elsewhere. */
    String label(CUdeviceptr p) {
        return labels.get(p);
    }

    /** ints holding the given values once the arena is real. */
    CUdeviceptr constInts(int[] values, String label) {
        CUdeviceptr p = ints(values.length, label);
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
