package org.reptilegen.meta;

/** Training produced a NaN or infinite loss; the run stops and keeps its last good checkpoint. */
public class NonFiniteLossException extends RuntimeException {
    public NonFiniteLossException(String message) {
        super(message);
    }
}
