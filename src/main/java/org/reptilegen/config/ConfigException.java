package org.reptilegen.config;

/**
 * A config that cannot be used, reported as one line: {@code source: path: detail}.
 *
 * <p>{@code source} is where the text came from (a file name, {@code --set outer.lr}, or a
 * checkpoint), {@code path} the field inside it ({@code model[4].linear.out}, empty when the
 * whole source is at fault).
 */
public class ConfigException extends RuntimeException {
    private final String source;
    private final String path;
    private final String detail;

    public ConfigException(String source, String path, String detail) {
        super(source + ": " + (path.isEmpty() ? "" : path + ": ") + detail);
        this.source = source;
        this.path = path;
        this.detail = detail;
    }

    public String source() {
        return source;
    }

    public String path() {
        return path;
    }

    public String detail() {
        return detail;
    }
}
