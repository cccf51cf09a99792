package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jcuda.JCudaVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.util.JarLibraries;

/**
 * The forwarding libraries that let JCublas2 and JCudnn run on cuBLAS 13 and cuDNN 9, without either: their ELF
 * shape against what the JCuda natives import, and the whole load chain bound to a library that has neither (the
 * JCuda natives load, and every call returns the not-supported status). A forwarding library binds once per
 * process, so the load chain runs in JVMs of its own ({@link NvidiaLibrariesProbe}) and this JVM stays unbound.
 */
class NvidiaLibrariesTest {
    @TempDir
    Path dir;

    /** The forwarder's resource, the JCuda native it serves (a class path resource), the soname it takes. */
    record Case(String forwarder, String jcudaNative, String soname) {}

    static final List<Case> CASES = List.of(
            new Case(
                    "libreptilegen-cublas.so",
                    "/lib/libJCublas2-" + JCudaVersion.get() + "-linux-x86_64.so",
                    "libcublas.so.12"),
            new Case(
                    "libreptilegen-cudnn.so",
                    "/lib/libJCudnn-" + JCudaVersion.get() + "-linux-x86_64.so",
                    "libcudnn.so.8"));

    static void assumeForwarders() {
        for (Case c : CASES) {
            String r = JarLibraries.resource(c.forwarder());
            assumeTrue(
                    r != null && NvidiaLibrariesTest.class.getResource(r) != null,
                    "the classes have no " + c.forwarder()
                            + " (built without a C compiler or nm, or not on Linux x86-64)");
        }
    }

    @Test
    void eachForwarderHasTheOldSonameAndDefinesExactlyWhatItsJCudaNativeImportsUnderThatVersion() throws Exception {
        assumeForwarders();
        assumeTrue(
                tool("readelf", "--version") != null && tool("nm", "--version") != null,
                "no readelf and nm (binutils) to read the libraries with");
        for (Case c : CASES) {
            Path fwd = extract(JarLibraries.resource(c.forwarder()), c.forwarder());
            Path nat = extract(c.jcudaNative(), c.jcudaNative().substring(5));
            Matcher so = Pattern.compile("Library soname: \\[([^]]*)]").matcher(tool("readelf", "-d", "-W", fwd));
            assertTrue(so.find(), c.forwarder() + " has no soname");
            assertEquals(c.soname(), so.group(1), c.forwarder());

            // The version definitions: the file's own (the soname), the node JCuda's native asks for, the JNI node.
            List<String> versions = new ArrayList<>();
            String verdef = tool("readelf", "-V", "-W", fwd);
            verdef = verdef.substring(verdef.indexOf("Version definition"));
            int end = verdef.indexOf("Version needs");
            Matcher v = Pattern.compile("Name: (\\S+)").matcher(end < 0 ? verdef : verdef.substring(0, end));
            while (v.find()) versions.add(v.group(1));
            assertEquals(List.of(c.soname(), c.soname(), "REPTILEGEN_FORWARDER"), versions, c.forwarder());

            Set<String> imports = symbols(tool("nm", "-D", "--undefined-only", nat), "@" + c.soname());
            Set<String> defined = symbols(tool("nm", "-D", "--defined-only", fwd), "@@" + c.soname());
            assertFalse(imports.isEmpty(), c.jcudaNative() + " imports nothing from " + c.soname());
            assertEquals(imports, defined, c.forwarder() + " against " + c.jcudaNative());
            Set<String> jni = symbols(tool("nm", "-D", "--defined-only", fwd), "@@REPTILEGEN_FORWARDER");
            String suffix = c.forwarder().contains("cublas") ? "Cublas" : "Cudnn";
            assertEquals(
                    new TreeSet<>(List.of(
                            "Java_org_reptilegen_engine_cuda_NvidiaLibraries_bind" + suffix,
                            "Java_org_reptilegen_engine_cuda_NvidiaLibraries_describe" + suffix,
                            "Java_org_reptilegen_engine_cuda_NvidiaLibraries_missing" + suffix)),
                    jni,
                    c.forwarder() + "'s other exports");
        }
    }

    /** The names in nm's output bound to exactly this version suffix ("@libcublas.so.12", "@@libcublas.so.12"). */
    static Set<String> symbols(String nm, String version) {
        Set<String> s = new TreeSet<>();
        for (String line : nm.split("\n")) {
            String[] f = line.trim().split("\\s+");
            String sym = f[f.length - 1];
            int at = sym.indexOf('@');
            if (at > 0 && sym.substring(at).equals(version)) s.add(sym.substring(0, at));
        }
        return s;
    }

    @Test
    void boundToALibraryWithoutCublasOrCudnnTheJCudaNativesLoadAndEveryCallIsNotSupported() throws Exception {
        assumeForwarders();
        Map<String, String> r =
                probe(Map.of(), List.of("-Dreptilegen.cublas=libm.so.6", "-Dreptilegen.cudnn=libm.so.6"), "libc.so.6");
        // JCublas2's and JCudnn's natives resolved every import against the forwarders, and the calls reach the stubs.
        assertEquals("15", r.get("cublasCreate"), r.toString());
        assertEquals("9", r.get("cudnnCreate"), r.toString());
        assertEquals(r.get("cublasProblem"), r.get("cublasProblemAgain"), "idempotent");
        assertTrue(
                r.get("cublasProblem")
                        .startsWith(
                                "cuBLAS: libm.so.6 (named by -Dreptilegen.cublas) is not cuBLAS: it lacks cublasCreate_v2"),
                r.get("cublasProblem"));
        assertTrue(r.get("cudnnProblem").contains("is not cuDNN: it lacks cudnnCreate"), r.get("cudnnProblem"));
        assertTrue(Integer.parseInt(r.get("cublasMissing")) > 400, r.toString());
        assertTrue(Integer.parseInt(r.get("cudnnMissing")) > 200, r.toString());
        // The same library again binds; another is refused, naming both.
        assertEquals("null", r.get("cublasSame"));
        assertEquals("null", r.get("cudnnSame"));
        for (String k : List.of("cublasOther", "cudnnOther")) {
            String m = r.get(k);
            assertTrue(m.contains("is bound to libm.so.6 (/") && m.contains("libc.so.6 needs a new process"), m);
        }
        assertTrue(
                r.get("cublasCheck")
                        .equals(
                                "cublasCreate failed: CUBLAS_STATUS_NOT_SUPPORTED: the cuBLAS this process uses (libm.so.6) has no such function"),
                r.get("cublasCheck"));
    }

    @Test
    void aLibraryThatIsNotThereIsOneLineNamingItAndTheFix() throws Exception {
        assumeForwarders();
        Map<String, String> r = probe(
                Map.of("REPTILE_GEN_CUDNN", dir.resolve("libcudnn.so.9").toString()),
                List.of("-Dreptilegen.cublas=" + dir.resolve("libcublas.so.13")),
                null);
        String cublas = r.get("cublasProblem");
        assertTrue(
                cublas.startsWith("cuBLAS not found: " + dir.resolve("libcublas.so.13")
                                + ": cannot open shared object file")
                        && cublas.endsWith("(named by -Dreptilegen.cublas); name an existing cuBLAS 13 library (a path,"
                                + " or a soname the dynamic linker finds) with -Dreptilegen.cublas"),
                cublas);
        assertTrue(
                r.get("cudnnProblem").startsWith("cuDNN not found: " + dir.resolve("libcudnn.so.9"))
                        && r.get("cudnnProblem").contains("(named by REPTILE_GEN_CUDNN)"),
                r.get("cudnnProblem"));
        assertEquals(cublas, r.get("cublasDescription"));
        // Unbound, the forwarders still satisfy the JCuda natives: calls fail, loading does not.
        assertEquals("15", r.get("cublasCreate"), r.toString());
        assertEquals("9", r.get("cudnnCreate"), r.toString());
        // Without a name, the default sonames; where this machine lacks them, the fix is to install them.
        Map<String, String> d = probe(Map.of(), List.of(), null);
        for (String[] k : new String[][] {
            {"cublasProblem", "libcublas.so.13", "cuda-libraries-13-0", "REPTILE_GEN_CUBLAS"},
            {"cudnnProblem", "libcudnn.so.9", "libcudnn9-cuda-13", "REPTILE_GEN_CUDNN"}
        }) {
            String m = d.get(k[0]);
            if (m.equals("null")) continue;
            if (m.contains(" not found: "))
                assertTrue(
                        m.contains(k[1]) && m.contains(k[2]) && m.contains("LD_LIBRARY_PATH") && m.contains(k[3]), m);
        }
    }

    @Test
    void withoutTheForwardersTheProblemSaysTheyWereNotBuilt() throws Exception {
        List<URL> urls = new ArrayList<>();
        for (Class<?> c : List.of(NvidiaLibraries.class, JCudaVersion.class, jcuda.jcublas.JCublas2.class))
            urls.add(c.getProtectionDomain().getCodeSource().getLocation());
        urls.add(jcuda.jcudnn.JCudnn.class.getProtectionDomain().getCodeSource().getLocation());
        try (URLClassLoader hidden =
                new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader()) {
                    @Override
                    public URL findResource(String name) {
                        return name.startsWith("native/") ? null : super.findResource(name);
                    }
                }) {
            Class<?> c = Class.forName(NvidiaLibraries.class.getName(), true, hidden);
            var problem = c.getDeclaredMethod("cublasProblem");
            problem.setAccessible(true);
            String p = (String) problem.invoke(null);
            assertNotNull(p);
            assertFalse(p.contains("\n"), p);
            if (JarLibraries.resource("x") != null)
                assertTrue(
                        p.startsWith("cuBLAS cannot be used: the jar has no native/")
                                && p.contains("libreptilegen-cublas.so")
                                && p.contains("were not built"),
                        p);
        }
    }

    @Test
    void aJCudaLoadFailureIsTheLoadersOwnLine() {
        String libUtils = String.join(
                "\n",
                "Error while loading native library \"JCublas2-12.6.0-linux-x86_64\"",
                "Operating system name: Linux",
                "---(start of nested stack traces)---",
                "Stack trace from the attempt to load the library as a file:",
                "java.lang.UnsatisfiedLinkError: no JCublas2-12.6.0-linux-x86_64 in java.library.path",
                "\tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2458)",
                "Stack trace from the attempt to load the library as a resource:",
                "java.lang.UnsatisfiedLinkError: /tmp/libJCublas2-12.6.0-linux-x86_64.so: libcublas.so.12: cannot open"
                        + " shared object file: No such file or directory",
                "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)",
                "---(end of nested stack traces)---");
        assertEquals(
                "/tmp/libJCublas2-12.6.0-linux-x86_64.so: libcublas.so.12: cannot open shared object file: No such file"
                        + " or directory",
                NvidiaLibraries.linkError(new ExceptionInInitializerError(new UnsatisfiedLinkError(libUtils))));
        assertEquals("short", NvidiaLibraries.linkError(new UnsatisfiedLinkError("short")));
    }

    // ---- helpers ----

    private Path extract(String resource, String name) throws IOException {
        try (InputStream in = NvidiaLibrariesTest.class.getResourceAsStream(resource)) {
            if (in == null) fail("no resource " + resource + " on the class path");
            Path f = dir.resolve(name);
            Files.copy(in, f);
            return f;
        }
    }

    /** The tool's standard output, or null when it cannot be run. */
    private static String tool(Object... command) {
        List<String> c = new ArrayList<>();
        for (Object o : command) c.add(o.toString());
        try {
            Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            return p.waitFor() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Runs {@link NvidiaLibrariesProbe} in a JVM of its own; its key=value lines. */
    static Map<String, String> probe(Map<String, String> env, List<String> jvm, String other)
            throws IOException, InterruptedException {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.add("-Xmx256m");
        c.addAll(jvm);
        c.add("-cp");
        c.add(System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
        c.add(NvidiaLibrariesProbe.class.getName());
        if (other != null) c.add(other);
        ProcessBuilder pb = new ProcessBuilder(c).redirectErrorStream(true);
        for (String v : List.of(NvidiaLibraries.CUBLAS_ENV, NvidiaLibraries.CUDNN_ENV, DriverLibrary.ENV))
            pb.environment().remove(v);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the probe did not end:\n" + out);
        }
        assertEquals(0, p.exitValue(), out);
        Map<String, String> r = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) r.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return r;
    }
}
