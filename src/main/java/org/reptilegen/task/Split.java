package org.reptilegen.task;

/** Which part of a data set: the tasks trained on, or the held-out ones used for evaluation. */
public enum Split {
    TRAIN,
    TEST;

    public static Split parse(String s) {
        if (s == null) throw new DataException("split is missing: use train or test");
        return switch (s) {
            case "train" -> TRAIN;
            case "test" -> TEST;
            default -> throw new DataException("unknown split '" + s + "': use train or test");
        };
    }

    public String configName() {
        return name().toLowerCase();
    }
}
