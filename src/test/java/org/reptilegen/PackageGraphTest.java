package org.reptilegen;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The packages of src/main/java form a layered graph: no package depends, through any chain, on one that
 * depends on it. A dependency is any mention of a class of another package of the project (an import or
 * a qualified name). The graph is printed, and written to target/package-graph.txt; print it alone with
 * {@code mvn -B -q surefire:test -Dtest=PackageGraphTest}.
 */
class PackageGraphTest {
    private static final Pattern PACKAGE = Pattern.compile("^package org\\.reptilegen\\.([\\w.]+);", Pattern.MULTILINE);
    private static final Pattern MENTION = Pattern.compile("org\\.reptilegen\\.([a-z][a-z0-9.]*?)\\.[A-Z]");

    static Map<String, Set<String>> graph(Path sources) throws IOException {
        Map<String, Set<String>> deps = new TreeMap<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                String s = Files.readString(f);
                Matcher pm = PACKAGE.matcher(s);
                if (!pm.find()) continue;
                String pkg = pm.group(1);
                Set<String> mine = deps.computeIfAbsent(pkg, k -> new TreeSet<>());
                Matcher m = MENTION.matcher(s);
                while (m.find()) if (!m.group(1).equals(pkg)) mine.add(m.group(1));
            }
        }
        return deps;
    }

    /** The strongly connected components of more than one package (Tarjan). */
    static List<Set<String>> cycles(Map<String, Set<String>> deps) {
        Map<String, Integer> index = new HashMap<>(), low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        List<Set<String>> out = new ArrayList<>();
        for (String v : deps.keySet()) if (!index.containsKey(v)) strong(v, deps, index, low, stack, out);
        return out;
    }

    private static void strong(
            String v,
            Map<String, Set<String>> deps,
            Map<String, Integer> index,
            Map<String, Integer> low,
            Deque<String> stack,
            List<Set<String>> out) {
        index.put(v, index.size());
        low.put(v, index.get(v));
        stack.push(v);
        for (String w : deps.getOrDefault(v, Set.of())) {
            if (!index.containsKey(w)) {
                strong(w, deps, index, low, stack, out);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (stack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            Set<String> comp = new TreeSet<>();
            String w;
            do {
                w = stack.pop();
                comp.add(w);
            } while (!w.equals(v));
            if (comp.size() > 1) out.add(comp);
        }
    }

    @Test
    void packagesFormALayeredGraph() throws IOException {
        Map<String, Set<String>> deps = graph(Path.of("src", "main", "java"));
        StringBuilder text = new StringBuilder();
        deps.forEach((p, d) ->
                text.append(p).append(" -> ").append(String.join(", ", d)).append('\n'));
        System.out.print(text);
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target", "package-graph.txt"), text);
        assertTrue(deps.size() > 5, "the sources were not found: " + deps);
        assertEquals(List.of(), cycles(deps), "packages that depend on each other:\n" + text);
    }

    @Test
    void theCheckFindsACycle() {
        Map<String, Set<String>> deps =
                new TreeMap<>(Map.of("a", Set.of("b"), "b", Set.of("c"), "c", Set.of("a"), "d", Set.of("a")));
        assertEquals(List.of(Set.of("a", "b", "c")), cycles(deps));
    }
}
