// Why this exists: the Java launchers of the cuda backend are generated from the kernels' own
// declarations, so every launch names its arguments as the .cu file does and no parameter list is
// copied by hand. The build runs it (java native/GenerateLaunchers.java KERNEL_DIR OUT_DIR) before
// compiling; it writes org/reptilegen/engine/cuda/Kernels.java under OUT_DIR.

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public class GenerateLaunchers {
    private static final Pattern KERNEL = Pattern.compile(
            "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s*)?(\\w+)\\s*\\(([^)]*)\\)");
    private static final Set<String> RESERVED = Set.of(
            "abstract",
            "assert",
            "boolean",
            "break",
            "byte",
            "case",
            "catch",
            "char",
            "class",
            "const",
            "continue",
            "default",
            "do",
            "double",
            "else",
            "enum",
            "extends",
            "final",
            "finally",
            "float",
            "for",
            "goto",
            "if",
            "implements",
            "import",
            "instanceof",
            "int",
            "interface",
            "long",
            "native",
            "new",
            "package",
            "private",
            "protected",
            "public",
            "return",
            "short",
            "static",
            "strictfp",
            "super",
            "switch",
            "synchronized",
            "this",
            "throw",
            "throws",
            "transient",
            "try",
            "void",
            "volatile",
            "while",
            "grid",
            "from",
            "set",
            "build",
            "put",
            "self");

    record Param(String type, String name) {
        String javaType() {
            if (type.endsWith("*")) return "CUdeviceptr";
            return switch (type) {
                case "int" -> "int";
                case "long long" -> "long";
                case "float" -> "float";
                case "double" -> "double";
                default ->
                    throw new IllegalArgumentException("no Java type for the kernel parameter type '" + type + "'");
            };
        }
    }

    record Kernel(String file, String name, String params, List<Param> parsed) {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: java GenerateLaunchers.java KERNEL_DIR OUT_DIR");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        List<Kernel> kernels = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f :
                    files.filter(p -> p.toString().endsWith(".cu")).sorted().toList()) {
                Matcher m = KERNEL.matcher(Files.readString(f));
                while (m.find()) {
                    String params = m.group(2).trim().replaceAll("\\s+", " ");
                    kernels.add(new Kernel(f.getFileName().toString(), m.group(1), params, parse(m.group(1), params)));
                }
            }
        }
        if (kernels.isEmpty()) throw new IllegalStateException("no kernels declared in " + dir);
        Path out = Path.of(args[1], "org", "reptilegen", "engine", "cuda", "Kernels.java");
        Files.createDirectories(out.getParent());
        String text = render(kernels);
        if (!Files.exists(out) || !Files.readString(out).equals(text)) Files.writeString(out, text);
    }

    static List<Param> parse(String kernel, String params) {
        List<Param> out = new ArrayList<>();
        if (params.isBlank()) return out;
        for (String part : params.split(",")) {
            String p = part.trim().replace(" *", "*");
            int cut = Math.max(p.lastIndexOf(' '), p.lastIndexOf('*'));
            if (cut < 0) throw new IllegalArgumentException(kernel + ": cannot read parameter '" + part.trim() + "'");
            String name = p.substring(cut + 1).trim();
            if (RESERVED.contains(name))
                throw new IllegalArgumentException(kernel + ": parameter name '" + name + "' is reserved in Java");
            out.add(new Param(p.substring(0, cut + 1).trim(), name));
        }
        return out;
    }

    static String constant(String name) {
        return name.toUpperCase();
    }

    static String className(String name) {
        StringBuilder b = new StringBuilder();
        for (String part : name.split("_"))
            b.append(Character.toUpperCase(part.charAt(0))).append(part.substring(1));
        return b.toString();
    }

    static String method(String name) {
        String c = className(name);
        return Character.toLowerCase(c.charAt(0)) + c.substring(1);
    }

    static String render(List<Kernel> kernels) {
        StringBuilder b = new StringBuilder();
        b.append(
                "// Generated from kernels/*.cu by native/GenerateLaunchers.java when the project builds: do not edit.\n");
        b.append("package org.reptilegen.engine.cuda;\n\n");
        b.append("import java.util.List;\n");
        b.append("import jcuda.driver.CUdeviceptr;\n\n");
        b.append(
                "/**\n * One typed launcher per kernel of kernels/*.cu: a builder whose setters are the kernel's parameters,\n");
        b.append(
                " * named and typed as the .cu file declares them; a launch is built only when every one is set.\n */\n");
        b.append("final class Kernels {\n    private Kernels() {}\n");
        for (Kernel k : kernels) {
            String cls = className(k.name());
            b.append("\n    /** ")
                    .append(k.file())
                    .append(": {@code ")
                    .append(k.name())
                    .append('(')
                    .append(k.params())
                    .append(")}. */\n");
            b.append("    static final KernelSig ")
                    .append(constant(k.name()))
                    .append(" = CudaKernels.sig(\"")
                    .append(k.name())
                    .append("\", \"")
                    .append(k.params())
                    .append("\");\n\n");
            b.append("    static ")
                    .append(cls)
                    .append(' ')
                    .append(method(k.name()))
                    .append("() {\n        return new ")
                    .append(cls)
                    .append("();\n    }\n\n");
            b.append("    static final class ")
                    .append(cls)
                    .append(" extends Launch.Builder<")
                    .append(cls)
                    .append("> {\n");
            b.append("        private ")
                    .append(cls)
                    .append("() {\n            super(")
                    .append(constant(k.name()))
                    .append(");\n        }\n");
            for (int i = 0; i < k.parsed().size(); i++) {
                Param p = k.parsed().get(i);
                b.append("\n        /** {@code ")
                        .append(p.type())
                        .append(' ')
                        .append(p.name())
                        .append("}. */\n");
                b.append("        ")
                        .append(cls)
                        .append(' ')
                        .append(p.name())
                        .append('(')
                        .append(p.javaType())
                        .append(" value) {\n            return put(")
                        .append(i)
                        .append(", value);\n        }\n");
            }
            b.append("    }\n");
        }
        b.append(
                "\n    /** Every kernel, in the order of the .cu files. */\n    static final List<KernelSig> ALL = List.of(");
        for (int i = 0; i < kernels.size(); i++) {
            b.append(i % 4 == 0 ? "\n            " : " ")
                    .append(constant(kernels.get(i).name()))
                    .append(i + 1 < kernels.size() ? "," : ");\n");
        }
        b.append("}\n");
        return b.toString();
    }
}
