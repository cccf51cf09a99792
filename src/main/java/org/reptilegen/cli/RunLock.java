package org.reptilegen.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A run directory held by one training process for the run's life: an operating-system lock on
 * DIR/.lock, which the system drops when the process ends in any way (kill -9 leaves nothing stuck),
 * with the holder's process id in the file so that a second run can say who holds it. The file stays
 * (deleting it would let two processes lock two different files).
 */
final class RunLock implements AutoCloseable {
    static final String FILE = ".lock";

    private final FileChannel channel;
    private final FileLock lock;
    private final Path dir;
    private final boolean created;

    private RunLock(FileChannel channel, FileLock lock, Path dir, boolean created) {
        this.channel = channel;
        this.lock = lock;
        this.dir = dir;
        this.created = created;
    }

    /** Takes dir (creating it), or fails with one line naming the process that holds it. */
    static RunLock take(Path dir) throws IOException {
        boolean created = !Files.isDirectory(dir);
        Files.createDirectories(dir);
        FileChannel ch = FileChannel.open(
                dir.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock l;
        try {
            l = ch.tryLock();
        } catch (OverlappingFileLockException sameProcess) {
            l = null;
        }
        if (l == null) {
            ByteBuffer b = ByteBuffer.allocate(64);
            ch.read(b, 0);
            ch.close();
            String pid = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
            throw new IllegalArgumentException(dir + " is in use by another run (process "
                    + (pid.isEmpty() ? "unknown" : pid) + "): wait for it to end, or choose another --out");
        }
        ch.truncate(0);
        ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        return new RunLock(ch, l, dir, created);
    }

    /**
     * Lets the directory go; one this run created and left with nothing but the lock (a run that failed
     * before writing anything) is removed.
     */
    @Override
    public void close() throws IOException {
        channel.truncate(0);
        lock.release();
        channel.close();
        if (created) {
            try (var entries = Files.list(dir)) {
                if (entries.allMatch(p -> p.getFileName().toString().equals(FILE))) {
                    Files.deleteIfExists(dir.resolve(FILE));
                    Files.deleteIfExists(dir);
                }
            }
        }
    }
}
