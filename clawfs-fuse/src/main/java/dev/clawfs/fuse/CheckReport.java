package dev.clawfs.fuse;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@link VaultCheck} found: counts, and each problem in words with the file it concerns.
 *
 * @param mounted the vault was mounted while it was checked (read from a committed snapshot)
 * @param files the regular files with a visible path, with the content stamp the search index
 *     records for them (for checking the index against the files)
 */
public record CheckReport(Path vault, boolean mounted, Instant started, Instant finished, Counts counts,
    List<Problem> problems, List<FileStamp> files) {

  /** How bad a kind of finding is. */
  public enum Severity {
    /** Data that cannot be read, or metadata that cannot be trusted. */
    DAMAGE,
    /** Metadata that does not agree with itself; mounting would "fix" it, sometimes by deleting. */
    INCONSISTENT,
    /** Worth knowing, not a fault (crash leftovers, an index that is behind). */
    NOTE
  }

  /** The kinds of finding; {@link #code()} is the stable name in the JSON report. */
  public enum Kind {
    CHUNK_AUTH("chunk-auth", Severity.DAMAGE),
    CHUNK_ROLLBACK("chunk-rollback", Severity.DAMAGE),
    CHUNK_ZERO("chunk-zero", Severity.DAMAGE),
    CHUNK_TRUNCATED("chunk-truncated", Severity.DAMAGE),
    CONTENT_MISSING("content-missing", Severity.DAMAGE),
    CONTENT_HEADER("content-header", Severity.DAMAGE),
    VERSION_MAP("version-map", Severity.DAMAGE),
    INODE_RECORD("inode-record", Severity.DAMAGE),
    DIRENT("dirent", Severity.DAMAGE),
    DATABASE("database", Severity.DAMAGE),
    VAULT_CHECK("vault-check", Severity.DAMAGE),
    INDEX("index", Severity.DAMAGE),
    ORPHAN("orphan", Severity.INCONSISTENT),
    DANGLING_ENTRY("dangling-entry", Severity.INCONSISTENT),
    NLINK("nlink", Severity.INCONSISTENT),
    TREE("tree", Severity.INCONSISTENT),
    UNREFERENCED_CONTENT("unreferenced-content", Severity.NOTE),
    HIDDEN_NAME("hidden-name", Severity.NOTE),
    UNLINKED_OPEN("unlinked-open", Severity.NOTE),
    INDEX_STALE("index-stale", Severity.NOTE),
    CHANGING("changing", Severity.NOTE);

    private final String code;
    private final Severity severity;

    Kind(String code, Severity severity) {
      this.code = code;
      this.severity = severity;
    }

    public String code() {
      return code;
    }

    public Severity severity() {
      return severity;
    }

    /** Kinds that make a file's content unreadable in part or whole (repair moves the file). */
    public boolean damagesContent() {
      return switch (this) {
        case CHUNK_AUTH, CHUNK_ROLLBACK, CHUNK_ZERO, CHUNK_TRUNCATED, CONTENT_MISSING, CONTENT_HEADER, VERSION_MAP -> true;
        default -> false;
      };
    }
  }

  /**
   * One finding.
   *
   * @param ino the inode concerned, or null
   * @param path its path in the mount when its name decrypts ("/workspaces/a.txt"), or null
   * @param chunk the chunk index (64 KiB units), or null
   * @param quarantined the file is already in {@code /workspaces/lost+found} (moved there by an
   *     earlier repair): reported, but not counted as a problem
   */
  public record Problem(Kind kind, Long ino, String path, Long chunk, String detail, boolean quarantined) {
    /** Whether it makes the check fail (a fault, not a note, and not already quarantined). */
    public boolean counts() {
      return kind.severity() != Severity.NOTE && !quarantined;
    }

    /** One line for people: where, which chunk, what. */
    public String describe() {
      StringBuilder b = new StringBuilder();
      if (path != null) {
        b.append(path).append(ino != null ? " (inode " + ino + ")" : "");
      } else if (ino != null) {
        b.append("inode ").append(ino);
      } else {
        b.append("vault");
      }
      if (chunk != null) {
        b.append(" chunk ").append(chunk);
      }
      b.append(": ").append(kind.code()).append(": ").append(detail);
      if (quarantined) {
        b.append(" [in lost+found]");
      }
      return b.toString();
    }
  }

  /** What was looked at. */
  public record Counts(long inodes, long files, long directories, long symlinks, long others, long contentFiles,
      long chunks, long chunksOk, long bytesVerified) {}

  /** A regular file's primary path and content stamp. */
  public record FileStamp(long ino, String path, long size, long stamp) {}

  /** The findings that make the check fail. */
  public List<Problem> faults() {
    return problems.stream().filter(Problem::counts).toList();
  }

  /** Notes and quarantined findings: shown, not counted. */
  public List<Problem> notes() {
    return problems.stream().filter(p -> !p.counts()).toList();
  }

  /** No fault found (notes allowed). */
  public boolean clean() {
    return problems.stream().noneMatch(Problem::counts);
  }

  /** Files with at least one fault. */
  public long damagedFiles() {
    return problems.stream().filter(Problem::counts).filter(p -> p.ino() != null && p.kind().damagesContent())
        .map(Problem::ino).distinct().count();
  }

  /** This report with more findings (from checks other modules make, such as the search index's). */
  public CheckReport with(List<Problem> more, Instant finishedAt) {
    List<Problem> all = new ArrayList<>(problems);
    all.addAll(more);
    return new CheckReport(vault, mounted, started, finishedAt, counts, List.copyOf(all), files);
  }
}
