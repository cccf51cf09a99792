package org.reptilegen.cli;

import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.engine.select.Engines;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Typed values of the options that take words: picocli converts them while parsing, so a bad value is a
 * usage error (exit 2) whose one line names the option and what it takes.
 */
final class Converters {
    private Converters() {}

    private static <T> T convert(java.util.function.Function<String, T> parse, String s) {
        try {
            return parse.apply(s);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }

    static final class AlgorithmValue implements ITypeConverter<Algorithm> {
        @Override
        public Algorithm convert(String s) {
            return Converters.convert(Algorithm::parse, s);
        }
    }

    static final class PrecisionValue implements ITypeConverter<Precision> {
        @Override
        public Precision convert(String s) {
            return Converters.convert(Precision::parse, s);
        }
    }

    static final class BackendValue implements ITypeConverter<Engines.Backend> {
        @Override
        public Engines.Backend convert(String s) {
            return Converters.convert(Engines.Backend::parse, s);
        }
    }

    /** on or off. */
    static final class OnOff implements ITypeConverter<Boolean> {
        @Override
        public Boolean convert(String s) {
            if (s.equals("on")) return true;
            if (s.equals("off")) return false;
            throw new TypeConversionException("takes on or off, got '" + s + "'");
        }
    }

    /** --row-splits: auto (0) or a fixed count from 1 to 16. */
    static final class RowSplitsValue implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            if (s.equals("auto")) return 0;
            try {
                int n = Integer.parseInt(s);
                if (n >= 1 && n <= 16) return n;
            } catch (NumberFormatException e) {
                // the message below says what is expected
            }
            throw new TypeConversionException("takes auto or 1 to 16, got '" + s + "'");
        }
    }

    /** A count that may be 0 (threads: every core; samples: none; segment: the default) but not negative. */
    static final class Count implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int n;
            try {
                n = Integer.parseInt(s.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + s + "' is not a whole number");
            }
            if (n < 0) throw new TypeConversionException("must be 0 or more, got " + n);
            return n;
        }
    }

    /** A count of at least 1. */
    static final class PositiveCount implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String s) {
            int n = new Count().convert(s);
            if (n < 1) throw new TypeConversionException("must be at least 1, got " + n);
            return n;
        }
    }

    /** A positive finite number (a learning rate, a temperature). */
    static final class PositiveNumber implements ITypeConverter<Double> {
        @Override
        public Double convert(String s) {
            double v;
            try {
                v = Double.parseDouble(s.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + s + "' is not a number");
            }
            if (!(v > 0) || Double.isInfinite(v))
                throw new TypeConversionException("must be positive and finite, got " + s);
            return v;
        }
    }

    /** A duration as 90s, 10m, 1h30m, 2h (or ISO-8601, PT10M); a bare number is seconds. */
    static final class DurationValue implements ITypeConverter<java.time.Duration> {
        @Override
        public java.time.Duration convert(String s) {
            return Converters.convert(TrainCommand::parseDuration, s);
        }
    }
}
