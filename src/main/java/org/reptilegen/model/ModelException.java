package org.reptilegen.model;

/** A model that cannot be built as described: unknown layer, bad argument, shapes that do not chain. */
public class ModelException extends IllegalArgumentException {
    public ModelException(String message) {
        super(message);
    }
}
