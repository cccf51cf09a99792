package org.reptilegen.core;

/** The order in which an image task visits its pixels: row by row, or a random permutation per image. */
public enum PixelOrder {
    RASTER,
    RANDOM;

    public static PixelOrder parse(String s) {
        if (s == null) throw new IllegalArgumentException("pixel order is missing: use raster or random");
        return switch (s) {
            case "raster" -> RASTER;
            case "random" -> RANDOM;
            default -> throw new IllegalArgumentException("unknown pixel order '" + s + "': use raster or random");
        };
    }

    public String configName() {
        return name().toLowerCase();
    }
}
