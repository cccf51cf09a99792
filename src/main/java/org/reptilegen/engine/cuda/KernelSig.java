package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * A kernel of kernels/*.cu: its name, its parameter list exactly as the .cu file declares it (the
 * generated {@link Kernels} takes it from the sources), and the block shape its thread mapping assumes.
 * Launches check their arguments against the parameter list, so a mismatch fails when a plan is built.
 */
record KernelSig(String name, String params, int blockX, int blockY) {

    /** One parameter's kind as passed from Java: a device pointer, int, long long, float or double. */
    enum Kind {
        POINTER,
        INT,
        LONG,
        FLOAT,
        DOUBLE
    }

    /** One declared parameter. */
    record Param(String type, String name, Kind kind) {}

    /** The parameters, parsed from the C declaration. */
    List<Param> parse() {
        List<Param> out = new ArrayList<>();
        if (params.isBlank()) return out;
        for (String part : params.split(",")) {
            String p = part.trim().replaceAll("\\s+", " ").replace(" *", "*");
            int cut = Math.max(p.lastIndexOf(' '), p.lastIndexOf('*'));
            if (cut < 0) throw new IllegalStateException(name + ": cannot read parameter '" + part.trim() + "'");
            String type = p.substring(0, cut + 1).trim();
            String pname = p.substring(cut + 1).trim();
            out.add(new Param(type, pname, kindOf(type)));
        }
        return out;
    }

    static Kind kindOf(String type) {
        if (type.endsWith("*")) return Kind.POINTER;
        return switch (type) {
            case "int" -> Kind.INT;
            case "long long" -> Kind.LONG;
            case "float" -> Kind.FLOAT;
            case "double" -> Kind.DOUBLE;
            default -> throw new IllegalStateException("no Java mapping for the kernel parameter type '" + type + "'");
        };
    }
}
