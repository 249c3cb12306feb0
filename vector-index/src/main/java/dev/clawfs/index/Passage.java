package dev.clawfs.index;

/**
 * A piece of a file's extracted text that is indexed and ranked on its own: {@code start} and
 * {@code end} are char offsets into the extracted text, so a hit can quote the passage that matched.
 */
public record Passage(int index, int start, int end, String text) {}
