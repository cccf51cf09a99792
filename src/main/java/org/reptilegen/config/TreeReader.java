package org.reptilegen.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Typed reads from a parsed YAML or JSON tree. Every failure is a {@link ConfigException} naming
 * the source and the field path, so a bad config is reported in one line a user can act on.
 */
final class TreeReader {
    final String source;

    TreeReader(String source) {
        this.source = source;
    }

    ConfigException fail(String path, String detail) {
        return new ConfigException(source, path, detail);
    }

    /** A short description of a value for "expected X, got Y". */
    static String describe(JsonNode n) {
        if (n == null || n.isMissingNode()) return "nothing";
        if (n.isObject()) return "a map";
        if (n.isArray()) return "a list";
        if (n.isTextual()) {
            String s = n.toString();
            return s.length() > 40 ? s.substring(0, 36) + "...\"" : s;
        }
        return n.asText();
    }

    static boolean absent(JsonNode n) {
        return n == null || n.isMissingNode() || n.isNull();
    }

    ObjectNode map(JsonNode n, String path, String expected) {
        if (n == null || !n.isObject()) throw fail(path, "expected " + expected + ", got " + describe(n));
        return (ObjectNode) n;
    }

    ArrayNode list(JsonNode n, String path, String expected) {
        if (n == null || !n.isArray()) throw fail(path, "expected " + expected + ", got " + describe(n));
        return (ArrayNode) n;
    }

    String text(JsonNode n, String path, String expected) {
        if (n == null || !n.isTextual()) throw fail(path, "expected " + expected + ", got " + describe(n));
        return n.textValue();
    }

    /**
     * Rejects keys outside {@code known}; {@code noun} says what they are ("key", "argument"),
     * {@code hint} (may be null) is shown when no known key is close to the unknown one.
     */
    void checkKeys(ObjectNode m, String path, List<String> known, String noun, String hint) {
        for (Iterator<String> it = m.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (known.contains(k)) continue;
            String suggestion = Suggest.didYouMean(k, known);
            if (suggestion.isEmpty() && hint != null) suggestion = " (" + hint + ")";
            throw fail(path, "unknown " + noun + " '" + k + "'" + suggestion);
        }
    }

    /** An integer {@code >= min}; numbers like 1e3 count when they are whole. */
    long integer(JsonNode n, String path, long min, long max) {
        String expected = min == 1
                ? "a positive integer"
                : min == 0 ? "an integer >= 0" : min == Long.MIN_VALUE ? "an integer" : "an integer >= " + min;
        if (n == null || !n.isNumber()) throw fail(path, "expected " + expected + ", got " + describe(n));
        long v;
        if (n.isIntegralNumber()) {
            if (!n.canConvertToLong())
                throw fail(path, "expected " + expected + " up to " + max + ", got " + n.asText());
            v = n.longValue();
        } else {
            double d = n.doubleValue();
            if (d != Math.rint(d) || Double.isInfinite(d))
                throw fail(path, "expected " + expected + ", got " + n.asText());
            if (Math.abs(d) > 9.0e18)
                throw fail(path, "expected " + expected + " up to " + max + ", got " + n.asText());
            v = (long) d;
        }
        if (v < min) throw fail(path, "expected " + expected + ", got " + n.asText());
        if (v > max) throw fail(path, "expected " + expected + " up to " + max + ", got " + n.asText());
        return v;
    }

    int intValue(JsonNode n, String path, int min) {
        return (int) integer(n, path, min, Integer.MAX_VALUE);
    }

    /** A finite number. */
    double number(JsonNode n, String path) {
        if (n == null || !n.isNumber()) throw fail(path, "expected a number, got " + describe(n));
        double d = n.doubleValue();
        if (!Double.isFinite(d)) throw fail(path, "expected a finite number, got " + n.asText());
        return d;
    }

    double positive(JsonNode n, String path) {
        double d = number(n, path);
        if (!(d > 0)) throw fail(path, "expected a positive number, got " + n.asText());
        return d;
    }

    /** One of an enum's constants, written in lower case in config files. */
    <E extends Enum<E>> E choice(JsonNode n, String path, E[] values) {
        List<String> names = new ArrayList<>();
        for (E e : values) names.add(name(e));
        String known = String.join(", ", names);
        String s = text(n, path, "one of " + known);
        for (E e : values) if (name(e).equals(s.toLowerCase(Locale.ROOT))) return e;
        String suggestion = Suggest.didYouMean(s, names);
        throw fail(path, "unknown value '" + s + "'" + (suggestion.isEmpty() ? " (known: " + known + ")" : suggestion));
    }

    static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }
}
