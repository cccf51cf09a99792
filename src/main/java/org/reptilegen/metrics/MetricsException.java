package org.reptilegen.metrics;

/** A metrics file that cannot be read or written; the message names the file. */
public final class MetricsException extends RuntimeException {
    public MetricsException(String message) {
        super(message);
    }

    public MetricsException(String message, Throwable cause) {
        super(message, cause);
    }
}
