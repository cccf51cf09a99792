package org.reptilegen.checkpoint;

/** A checkpoint that cannot be written or read; the message is one line and names the file. */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
