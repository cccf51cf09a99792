package org.reptilegen.engine.cuda;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcublas.cublasStatus;
import jcuda.jcudnn.JCudnn;
import jcuda.libraryPropertyType;
import org.reptilegen.util.JarLibraries;

/**
 * cuBLAS and cuDNN for JCublas2 12.6.0 and JCudnn 11.7.0, whose natives are linked against {@code libcublas.so.12}
 * and {@code libcudnn.so.8} with versioned symbols while the GPUs this project runs on have cuBLAS 13 and cuDNN 9.
 * For each, the jar holds a forwarding library (native/forwarder/forwarder.c, built by native/build-forwarders.sh)
 * with the old soname and version node, defining every function the JCuda native imports as a jump through a
 * table. Loading goes: the CUDA driver ({@link DriverLibrary}, which may be the simulated one), the forwarding
 * library from the jar, binding it (it opens the target library and fills its table; a function the target lacks
 * keeps a stub that returns the library's not-supported status), then the JCuda native, which the dynamic linker
 * resolves against the forwarding library because it already holds that soname.
 *
 * <p>The target is named by the system property before the environment variable ({@value #CUBLAS_PROPERTY} /
 * {@value #CUBLAS_ENV}, {@value #CUDNN_PROPERTY} / {@value #CUDNN_ENV}): a path, or a soname the dynamic linker
 * finds; unset, {@code libcublas.so.13} and {@code libcudnn.so.9}. A forwarding library is bound once per process:
 * naming the same library again (by another name) succeeds, another library is refused, since handles made by the
 * first would reach the second.
 *
 * <p>JCublas2's and JCudnn's exceptions stay off: their exception names a status but not the call, and with
 * cuDNN 9 bound the statuses are cuDNN 9's numbers, which JCudnn's cuDNN 8 names misread. The engine checks every
 * status with {@link #checkCublas} and {@link #checkCudnn}, which name the call and ask the bound library for the
 * status's text.
 */
final class NvidiaLibraries {
    private NvidiaLibraries() {}

    static final String CUBLAS_ENV = "REPTILE_GEN_CUBLAS",
            CUBLAS_PROPERTY = "reptilegen.cublas",
            CUDNN_ENV = "REPTILE_GEN_CUDNN",
            CUDNN_PROPERTY = "reptilegen.cudnn";

    /** What the forwarders' stubs return: CUBLAS_STATUS_NOT_SUPPORTED, and cuDNN 8's CUDNN_STATUS_NOT_SUPPORTED. */
    static final int CUBLAS_NOT_SUPPORTED = 15, CUDNN_NOT_SUPPORTED = 9;

    /** One of the two libraries: what differs between them, and whether it was loaded. */
    static final class Library {
        final String name, major, binding, nativeFrom, property, env, defaultTarget, forwarder, essential, install;
        private final Function<String, String> bind;
        private final Supplier<String> describe, missing;
        /** Loads the JCuda class and its native (over the forwarder) and turns its exceptions off. */
        private final Runnable loadBinding;

        private boolean forwarderLoaded, done;
        private String problem;

        private Library(
                String name,
                String major,
                String binding,
                String nativeFrom,
                String property,
                String env,
                String defaultTarget,
                String forwarder,
                String essential,
                String install,
                Function<String, String> bind,
                Supplier<String> describe,
                Supplier<String> missing,
                Runnable loadBinding) {
            this.name = name;
            this.major = major;
            this.binding = binding;
            this.nativeFrom = nativeFrom;
            this.property = property;
            this.env = env;
            this.defaultTarget = defaultTarget;
            this.forwarder = forwarder;
            this.essential = essential;
            this.install = install;
            this.bind = bind;
            this.describe = describe;
            this.missing = missing;
            this.loadBinding = loadBinding;
        }

        /** The library to bind to: the property, else the environment variable, else the default soname. */
        String target() {
            String p = System.getProperty(property);
            if (p != null && !p.isBlank()) return p;
            String e = System.getenv(env);
            return e == null || e.isBlank() ? defaultTarget : e;
        }

        /** Where the target's name came from, for messages: "-Dreptilegen.cublas", "REPTILE_GEN_CUBLAS" or null. */
        String namedBy() {
            String p = System.getProperty(property);
            if (p != null && !p.isBlank()) return "-D" + property;
            String e = System.getenv(env);
            return e == null || e.isBlank() ? null : env;
        }
    }

    static final Library CUBLAS = new Library(
            "cuBLAS",
            "13",
            "JCublas2",
            "jcuda loads it from the jcublas-natives jar on the class path",
            CUBLAS_PROPERTY,
            CUBLAS_ENV,
            "libcublas.so.13",
            "libreptilegen-cublas.so",
            "cublasCreate_v2",
            "install the CUDA 13 math libraries (cuda-libraries-13-0)",
            NvidiaLibraries::bindCublas,
            NvidiaLibraries::describeCublas,
            NvidiaLibraries::missingCublas,
            () -> {
                JCublas2.initialize();
                JCublas2.setExceptionsEnabled(false);
            });

    static final Library CUDNN = new Library(
            "cuDNN",
            "9",
            "JCudnn",
            "jcuda loads it from this jar's lib/, where the build copies it from the jcudnn-natives jar",
            CUDNN_PROPERTY,
            CUDNN_ENV,
            "libcudnn.so.9",
            "libreptilegen-cudnn.so",
            "cudnnCreate",
            "install cuDNN 9 for CUDA 13 (libcudnn9-cuda-13)",
            NvidiaLibraries::bindCudnn,
            NvidiaLibraries::describeCudnn,
            NvidiaLibraries::missingCudnn,
            () -> {
                JCudnn.initialize();
                JCudnn.setExceptionsEnabled(false);
            });

    /**
     * Null when JCublas2 can be called (its native loaded over the forwarding library, bound to a library that has
     * cublasCreate), else one line naming what is missing and how to get it. The first call loads; later calls
     * return the same answer.
     */
    static synchronized String cublasProblem() {
        return problem(CUBLAS);
    }

    /** As {@link #cublasProblem()}, for JCudnn and cuDNN. */
    static synchronized String cudnnProblem() {
        return problem(CUDNN);
    }

    /**
     * For doctor: "cuBLAS 13.1.0: libcublas.so.13 (its path) through the libcublas.so.12 forwarding library: 494 of
     * 494 functions forwarded, 0 missing", or the problem line.
     */
    static synchronized String cublasDescription() {
        String p = problem(CUBLAS);
        if (p != null) return p;
        return "cuBLAS " + cublasVersion() + ": " + describe(CUBLAS);
    }

    /** As {@link #cublasDescription()}, for cuDNN (version from cudnnGetVersion). */
    static synchronized String cudnnDescription() {
        String p = problem(CUDNN);
        if (p != null) return p;
        return "cuDNN " + cudnnVersion() + ": " + describe(CUDNN);
    }

    /** The functions of the JCuda native that the bound library lacks (they return not-supported); empty before binding. */
    static synchronized List<String> missing(Library l) {
        if (!l.forwarderLoaded) return List.of();
        String m = l.missing.get();
        return m.isEmpty() ? List.of() : Arrays.asList(m.split(" "));
    }

    /** Throws a {@link DeviceException} naming the call when status is not CUBLAS_STATUS_SUCCESS. */
    static void checkCublas(int status, String call) {
        if (status == cublasStatus.CUBLAS_STATUS_SUCCESS) return;
        throw new DeviceException(call + " failed: " + cublasStatus.stringFor(status) + lacks(CUBLAS, status, call));
    }

    /**
     * Throws a {@link DeviceException} naming the call when status is not CUDNN_STATUS_SUCCESS. The text comes from
     * the bound library's cudnnGetErrorString (cuDNN 9 numbers its statuses differently from JCudnn's constants),
     * except for the stubs' status.
     */
    static void checkCudnn(int status, String call) {
        if (status == 0) return;
        String text = status == CUDNN_NOT_SUPPORTED
                ? "CUDNN_STATUS_NOT_SUPPORTED (cuDNN 8's number)"
                : JCudnn.cudnnGetErrorString(status) + " (" + status + ")";
        throw new DeviceException(call + " failed: " + text + lacks(CUDNN, status, call));
    }

    private static String lacks(Library l, int status, String call) {
        int stub = l == CUBLAS ? CUBLAS_NOT_SUPPORTED : CUDNN_NOT_SUPPORTED;
        if (status != stub) return "";
        List<String> m = missing(l);
        return m.contains(call) || m.contains(call + "_v2")
                ? ": the " + l.name + " this process uses (" + l.target() + ") has no such function"
                : "";
    }

    private static String problem(Library l) {
        if (!l.done) {
            l.problem = load(l);
            l.done = true;
        }
        return l.problem;
    }

    private static String load(Library l) {
        String driver = DriverLibrary.ensureLoaded();
        if (driver != null) return l.name + " not loaded: " + driver;
        String target = l.target();
        String bound = bind(l, target);
        if (bound != null) return bound;
        try {
            l.loadBinding.run();
        } catch (LinkageError | RuntimeException e) {
            return l.binding + "'s native library did not load: " + linkError(e) + " (" + l.nativeFrom + ")";
        }
        List<String> m = missing(l);
        if (m.contains(l.essential)) {
            String named = l.namedBy();
            return l.name + ": " + target + (named == null ? "" : " (named by " + named + ")") + " is not " + l.name
                    + ": it lacks " + l.essential + " and " + (m.size() - 1) + " more of the functions " + l.binding
                    + " calls; name " + l.name + " " + l.major + " (" + l.defaultTarget + " or its path) with "
                    + (named == null ? l.env : named);
        }
        return null;
    }

    /**
     * Loads the forwarding library (once) and binds it to target; null on success, else one line. Tests call it
     * with other targets to see a second binding refused.
     */
    static synchronized String bind(Library l, String target) {
        String resource = JarLibraries.resource(l.forwarder);
        if (resource == null)
            return l.name + " is used through " + l.binding + " on Linux only, this is "
                    + System.getProperty("os.name");
        if (!l.forwarderLoaded) {
            try {
                if (!JarLibraries.load(resource, "reptilegen-" + l.forwarder.replace(".so", "")))
                    return l.name + " cannot be used: the jar has no " + resource.substring(1)
                            + " (the forwarding libraries were not built: it needs Linux x86-64, a C compiler and nm):"
                            + " rebuild the jar with gcc and binutils installed";
            } catch (IOException | LinkageError | SecurityException e) {
                return "the " + l.name + " forwarding library " + resource.substring(1) + " could not be loaded: " + e;
            }
            l.forwarderLoaded = true;
        }
        String m = l.bind.apply(target);
        if (m == null) return null;
        // The forwarder prefixes its own refusals; anything else is dlopen's error.
        if (m.startsWith("refused: ")) return l.name + ": " + m.substring("refused: ".length());
        String named = l.namedBy();
        String what = m.contains("No such file") ? " not found: " : " could not be loaded: ";
        String fix = named == null
                ? l.install + ", set LD_LIBRARY_PATH, or name the library with " + l.env
                : "name an existing " + l.name + " " + l.major
                        + " library (a path, or a soname the dynamic linker finds) with " + named;
        return l.name + what + m + (named == null ? "" : " (named by " + named + ")") + "; " + fix;
    }

    /** The forwarder's line, and what calls to the missing functions return. */
    private static String describe(Library l) {
        String d = l.describe.get();
        int missing = missing(l).size();
        if (missing == 0) return d;
        return d + " (they return "
                + (l == CUBLAS ? "CUBLAS_STATUS_NOT_SUPPORTED" : "CUDNN_STATUS_NOT_SUPPORTED, cuDNN 8's number")
                + ")";
    }

    /** "13.1.0" from cublasGetProperty (no GPU needed), else from a handle's cublasGetVersion, else "version unknown". */
    static String cublasVersion() {
        int[] major = new int[1], minor = new int[1], patch = new int[1];
        if (JCublas2.cublasGetProperty(libraryPropertyType.MAJOR_VERSION, major) == 0
                && JCublas2.cublasGetProperty(libraryPropertyType.MINOR_VERSION, minor) == 0
                && JCublas2.cublasGetProperty(libraryPropertyType.PATCH_LEVEL, patch) == 0)
            return major[0] + "." + minor[0] + "." + patch[0];
        // cublasGetVersion needs a handle, and a handle needs a GPU.
        cublasHandle h = new cublasHandle();
        if (JCublas2.cublasCreate(h) != 0) return "version unknown";
        try {
            int[] v = new int[1];
            if (JCublas2.cublasGetVersion(h, v) != 0) return "version unknown";
            return v[0] / 10000 + "." + v[0] / 100 % 100 + "." + v[0] % 100;
        } finally {
            JCublas2.cublasDestroy(h);
        }
    }

    /** "9.14.0" from cudnnGetVersion: cuDNN 9 numbers it major*10000 + minor*100 + patch, cuDNN 8 major*1000 + ... */
    static String cudnnVersion() {
        if (missing(CUDNN).contains("cudnnGetVersion")) return "version unknown";
        long v = JCudnn.cudnnGetVersion();
        if (v <= 0) return "version unknown";
        if (v >= 90000) return v / 10000 + "." + v / 100 % 100 + "." + v % 100;
        return v / 1000 + "." + v / 100 % 10 + "." + v % 100;
    }

    /**
     * The line that says why a JCuda native did not load. jcuda's LibUtils throws one UnsatisfiedLinkError whose
     * message holds both attempts' stack traces; the loader's own words are the first line after "as a resource".
     */
    static String linkError(Throwable e) {
        Throwable t = e;
        while (t instanceof ExceptionInInitializerError && t.getCause() != null) t = t.getCause();
        String m = String.valueOf(t.getMessage());
        List<String> lines = m.lines().toList();
        for (int i = 0; i + 1 < lines.size(); i++)
            if (lines.get(i).contains("as a resource"))
                return lines.get(i + 1).replaceFirst("^java\\.lang\\.UnsatisfiedLinkError: ", "");
        return lines.isEmpty() ? t.toString() : lines.get(0);
    }

    // The forwarding libraries' functions (native/forwarder/forwarder.c): bind returns null or one line (its own
    // refusals start with "refused: "), describe one line, missing the names the bound library lacks.

    private static native String bindCublas(String target);

    private static native String describeCublas();

    private static native String missingCublas();

    private static native String bindCudnn(String target);

    private static native String describeCudnn();

    private static native String missingCudnn();
}
