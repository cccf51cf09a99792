package org.reptilegen.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The checks every command makes of the files it will write, before it writes anything. */
final class Outputs {
    private Outputs() {}

    /** Refuses an empty path (it would mean the current directory): what names what to give instead. */
    static void notEmpty(String option, Path out, String what) {
        if (out != null && out.toString().isBlank())
            throw new IllegalArgumentException(option + " is empty: give " + what);
    }

    /**
     * Refuses, before any work, an output that is a directory or whose directory does not exist, or that
     * is one of the command's inputs (the same file, also through a link or under another name): inputs
     * alternate an option's name and its path (null when not given).
     */
    static void notAnInput(String outOption, Path out, Object... inputs) {
        if (out == null) return;
        notEmpty(outOption, out, "a file to write");
        if (Files.isDirectory(out))
            throw new IllegalArgumentException(
                    outOption + " " + out + " is a directory: give the name of a file to write");
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent))
            throw new IllegalArgumentException(outOption + " " + out + ": "
                    + (Files.exists(parent)
                            ? parent + " is not a directory"
                            : "directory " + parent + " does not exist; make it first"));
        if (!Files.exists(out)) return; // a file about to be made is none of the inputs
        for (int i = 0; i + 1 < inputs.length; i += 2) {
            Path in = (Path) inputs[i + 1];
            if (in == null || !Files.exists(in)) continue;
            boolean same;
            try {
                same = Files.isSameFile(out, in);
            } catch (IOException e) {
                same = false;
            }
            if (same)
                throw new IllegalArgumentException(outOption + " " + out + " is the " + inputs[i] + " file (" + in
                        + "): writing it would destroy the input; choose another " + outOption);
        }
    }
}
