package org.reptilegen.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import org.reptilegen.dist.Launcher;
import org.reptilegen.dist.World;
import org.reptilegen.util.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The reptile-gen command line: parses, then hands over to the subcommand. */
@Command(
        name = "reptile-gen",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = {
            "Meta-learning with plain SGD as an autoregressive generative model: a network's parameters are the "
                    + "state of a sequence model, and feeding the pair (x_t, y_t) is one SGD step on them. Reptile, MAML "
                    + "and first-order MAML learn the initial parameters; sampling runs the same loop on the model's draws.",
            ""
        },
        subcommands = {
            TrainCommand.class,
            SampleCommand.class,
            EvalCommand.class,
            GradCommand.class,
            InfoCommand.class,
            PlotCommand.class,
            BenchCommand.class,
            DoctorCommand.class,
            CommandLine.HelpCommand.class
        },
        footer = {
            "",
            "Exit status: 0 done, 1 error (one line on stderr), 2 bad usage, 130 interrupted by Ctrl-C and 143 by SIGTERM (train writes a checkpoint first)."
        })
public final class Main implements java.util.concurrent.Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** No command: the usage, on standard error, as bad usage (exit 2). */
    @Override
    public Integer call() {
        spec.commandLine().usage(System.err);
        return 2;
    }

    public static void main(String[] given) {
        String[] args = Launcher.repairArguments(given, System.getenv());
        // Started by mpirun or srun as one of several ranks: join the job first; a rank that fails ends it.
        Launcher launcher = Launcher.detect(System.getenv());
        if (launcher == null) System.exit(execute(args));
        World world;
        try {
            world = World.start(launcher);
        } catch (RuntimeException | LinkageError e) {
            World.startFailed(launcher, "reptile-gen: " + describe(e));
            System.exit(1);
            return;
        }
        System.exit(world.run(() -> execute(args)));
    }

    /** Runs the command line and returns its exit status (for tests, without exiting). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.registerConverter(java.nio.file.Path.class, Main::path);
        // Bad usage: one line naming the option or value, exit 2 (the usage is one --help away).
        cl.setParameterExceptionHandler((ex, given) -> {
            CommandLine c = ex.getCommandLine();
            String name = c.getParent() == null ? "reptile-gen" : "reptile-gen " + c.getCommandName();
            c.getErr()
                    .println(
                            name + ": " + World.where() + ex.getMessage() + " (" + name + " --help lists the options)");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("reptile-gen " + cmd.getCommandName() + ": " + World.where() + describe(ex));
            if (!expected(ex)) ex.printStackTrace(cmd.getErr());
            return 1;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // An Error passes picocli's handler: still one line, not a stack trace.
            cl.getErr().println("reptile-gen: " + World.where() + describe(e));
            return 1;
        }
    }

    /**
     * Failures a user can cause and fix: their message is the whole story. An IllegalStateException is a
     * bug, and keeps its stack trace.
     */
    static boolean expected(Throwable ex) {
        return ex instanceof IllegalArgumentException
                || ex instanceof OutOfMemoryError
                || ex instanceof IOException
                || ex instanceof UncheckedIOException
                || ex instanceof UnsupportedOperationException
                || ex.getClass().getPackageName().startsWith("org.reptilegen");
    }

    /** Every option's path: one the file system cannot name is bad usage that says why. */
    static java.nio.file.Path path(String text) {
        try {
            return java.nio.file.Path.of(text);
        } catch (InvalidPathException e) {
            throw new CommandLine.TypeConversionException(describe(e));
        }
    }

    static String describe(Throwable ex) {
        if (ex instanceof UncheckedIOException u) ex = u.getCause();
        if (ex instanceof InvalidPathException p) {
            // Java names files in the locale's encoding: under LANG=C a letter beyond ASCII cannot be written.
            String jnu = System.getProperty("sun.jnu.encoding", "UTF-8");
            boolean utf8 = jnu.equalsIgnoreCase("UTF-8") || jnu.equalsIgnoreCase("UTF8");
            return "'" + p.getInput() + "' is not a path here: "
                    + (utf8 || p.getInput().indexOf('\0') >= 0
                            ? p.getReason()
                            : "the locale's encoding (" + jnu
                                    + ") cannot hold all of its characters; run with a UTF-8 locale (e.g. LANG=C.UTF-8)");
        }
        if (ex instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        // The file system's own exceptions carry little more than the path: say what is wrong with it.
        if (ex instanceof java.nio.file.FileSystemException f) return IoErrors.describe(f);
        if (ex instanceof OutOfMemoryError)
            return "out of memory (Java heap): give the JVM more with java -Xmx..., or use a smaller batch or input";
        String m = ex.getMessage();
        return m == null || m.isBlank() ? ex.getClass().getSimpleName() : m;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"reptile-gen " + (v == null ? "(development build)" : v)};
        }
    }
}
