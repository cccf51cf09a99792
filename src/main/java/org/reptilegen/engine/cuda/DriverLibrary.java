package org.reptilegen.engine.cuda;

import java.io.File;

/**
 * The CUDA driver this process uses: the system's {@code libcuda.so.1}, or the library named by the
 * environment variable {@value #ENV} (or the system property {@value #PROPERTY}), loaded before JCuda's
 * native library so that the dynamic linker gives JCuda that one. This is how the engine runs on the
 * project's simulated driver on machines without a GPU, and how a user picks one of several installed
 * drivers.
 */
final class DriverLibrary {
    private DriverLibrary() {}

    static final String ENV = "REPTILE_GEN_CUDA_DRIVER";
    static final String PROPERTY = "reptilegen.cuda.driver";

    private static boolean done;
    private static String problem;

    /** The library asked for (the property before the environment), or null for the system's driver. */
    static String named() {
        String p = System.getProperty(PROPERTY);
        if (p != null && !p.isBlank()) return p;
        String e = System.getenv(ENV);
        return e == null || e.isBlank() ? null : e;
    }

    /**
     * Loads the named driver once, before anything of JCuda; null when there is nothing to load or it
     * loaded, else one line saying why it did not. Must run before the first JCuda driver call.
     */
    static synchronized String ensureLoaded() {
        if (done) return problem;
        done = true;
        String path = named();
        if (path == null) return null;
        String source = System.getProperty(PROPERTY) != null
                        && !System.getProperty(PROPERTY).isBlank()
                ? "-D" + PROPERTY
                : ENV;
        File f = new File(path);
        if (!f.isFile()) {
            problem = "the CUDA driver named by " + source + " does not exist: " + path;
            return problem;
        }
        try {
            System.load(f.getAbsolutePath());
        } catch (UnsatisfiedLinkError | SecurityException e) {
            problem = "the CUDA driver named by " + source + " (" + path + ") could not be loaded: " + e.getMessage();
        }
        return problem;
    }
}
