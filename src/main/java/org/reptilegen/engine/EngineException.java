package org.reptilegen.engine;

/** An engine that cannot run as asked: no device, out of memory, a batch that does not fit. */
public class EngineException extends RuntimeException {
    public EngineException(String message) {
        super(message);
    }

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
