package org.reptilegen.util;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * What an I/O error means, in words, for messages that name the file themselves ("cannot read F: " +
 * why(e)). The file system's own exceptions carry little more than the path, which alone says nothing.
 */
public final class IoErrors {
    private IoErrors() {}

    /** What went wrong, without the path: "permission denied", "No space left on device", ... */
    public static String why(IOException e) {
        if (e instanceof NoSuchFileException) return "no such file or directory";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof FileAlreadyExistsException) return "already exists";
        if (e instanceof NotDirectoryException) return "not a directory";
        if (e instanceof DirectoryNotEmptyException) return "a directory that is not empty";
        if (e instanceof FileSystemLoopException) return "a loop of symbolic links";
        if (e instanceof FileSystemException f)
            return f.getReason() != null
                    ? oneLine(f.getReason())
                    : "cannot be used (" + f.getClass().getSimpleName() + ")";
        return e.getMessage() == null ? e.getClass().getSimpleName() : oneLine(e.getMessage());
    }

    /** A file-system error as the path (and the other path, for a move) and what is wrong with it. */
    public static String describe(FileSystemException f) {
        return f.getFile() + (f.getOtherFile() != null ? " (with " + f.getOtherFile() + ")" : "") + ": " + why(f);
    }

    /** A message on one line of reasonable length: parsers' messages run over several. */
    public static String oneLine(String s) {
        if (s == null) return "";
        String t = s.replaceAll("\\s+", " ").trim();
        return t.length() > 200 ? t.substring(0, 200) + "..." : t;
    }
}
