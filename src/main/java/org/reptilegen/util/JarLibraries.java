package org.reptilegen.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The small native libraries the build puts in the jar (NVTX ranges, MPI): where a platform's copy lives,
 * and loading it, which needs a file where the jar's entry is not one.
 */
public final class JarLibraries {
    private JarLibraries() {}

    /** The jar resource of library for this platform (native/linux-ARCH/NAME), or null off Linux, where none is built. */
    public static String resource(String library) {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        if (!os.startsWith("linux")) return null;
        String arch = System.getProperty("os.arch", "");
        arch = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return "/native/linux-" + arch + "/" + library;
    }

    /**
     * Copies the jar's resource to a temporary file (removed when the JVM exits) and loads it; false when the
     * jar has no such resource.
     */
    public static boolean load(String resource, String tempPrefix) throws IOException {
        try (InputStream in = JarLibraries.class.getResourceAsStream(resource)) {
            if (in == null) return false;
            Path file = Files.createTempFile(tempPrefix, ".so");
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            System.load(file.toAbsolutePath().toString());
            return true;
        }
    }
}
