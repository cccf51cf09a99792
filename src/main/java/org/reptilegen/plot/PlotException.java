package org.reptilegen.plot;

/** A plot that cannot be made; the message is one line and names the file. */
public class PlotException extends RuntimeException {
    public PlotException(String message) {
        super(message);
    }

    public PlotException(String message, Throwable cause) {
        super(message, cause);
    }
}
