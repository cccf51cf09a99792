package org.reptilegen.util;

import java.util.Locale;

/** Byte counts for messages: 1.50 GiB, 12.0 MiB, 3.0 KiB, 512 B. */
public final class Bytes {
    private Bytes() {}

    public static String show(long bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        if (bytes >= 1L << 10) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        return bytes + " B";
    }
}
