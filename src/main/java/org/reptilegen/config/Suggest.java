package org.reptilegen.config;

import java.util.Collection;

/** "Did you mean" for misspelt keys and names. */
final class Suggest {
    private Suggest() {}

    /** " (did you mean 'x'?)" for the closest known word, or "" when none is close. */
    static String didYouMean(String word, Collection<String> known) {
        String best = closest(word, known);
        return best == null ? "" : " (did you mean '" + best + "'?)";
    }

    /**
     * The known word within a small edit distance of {@code word}; failing that, one that shares a
     * whole part of four letters or more ("batchsize" and "meta_batch" share "batch"), since
     * people often remember the meaningful half of a compound key.
     */
    static String closest(String word, Collection<String> known) {
        String w = word.toLowerCase();
        String best = null;
        int bestDist = Integer.MAX_VALUE;
        for (String k : known) {
            int d = distance(w, k);
            if (d < bestDist) {
                bestDist = d;
                best = k;
            }
        }
        if (best != null && bestDist <= Math.max(2, w.length() / 3)) return best;
        for (String k : known) for (String part : k.split("_")) if (part.length() >= 4 && w.contains(part)) return k;
        return null;
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
