package org.reptilegen.task;

/**
 * Task data that cannot be read: a missing or malformed file, an empty corpus, a failed download.
 * The message is one line that names the file, meant to be shown to the user as it is.
 */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
