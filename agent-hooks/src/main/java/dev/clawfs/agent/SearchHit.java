package dev.clawfs.agent;

import java.util.Objects;

/**
 * One search result.
 *
 * @param path the file's mount path, such as {@code /workspaces/notes/a.md}
 * @param score the hybrid ranking's score, higher is better
 * @param passage the matching passage (decrypted text; untrusted content)
 */
public record SearchHit(String path, double score, String passage) {
  public SearchHit {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(passage, "passage");
  }
}
