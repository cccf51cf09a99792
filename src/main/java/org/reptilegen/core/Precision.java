package org.reptilegen.core;

/** How parameters are stored. Arithmetic on the CPU is float64 either way; float32 rounds every stored value. */
public enum Precision {
    FLOAT32,
    FLOAT64;

    public String configName() {
        return name().toLowerCase();
    }

    public static Precision parse(String s) {
        for (Precision p : values()) if (p.configName().equals(s)) return p;
        throw new IllegalArgumentException("unknown precision '" + s + "': use float32 or float64");
    }
}
