package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The mount options ClawFS takes, the same wherever they come from: {@code clawfs mount -o},
 * an {@code /etc/fstab} line, {@code mount -t fuse.clawfs -o} (through the helper, or through
 * fuse3's mount.fuse) and the systemd unit's {@code OPTIONS=}. Parsing checks every option and
 * splits them into what goes to the kernel through libfuse and what the server itself takes.
 *
 * <p>Options that only mean something to mount(8), fstab or systemd ({@code noauto},
 * {@code _netdev}, {@code nofail}, {@code x-systemd.*}...) are accepted and ignored; anything
 * else unknown is refused, unless sloppy ({@code mount -s}), which ignores it with a warning.
 */
final class MountOptions {
  /** Passed to libfuse as given: mount flags and the FUSE settings that matter for speed. */
  private static final Set<String> KERNEL_FLAGS = Set.of(
      "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync", "allow_other",
      "async_read", "sync_read");

  /** Meaningful to mount(8), fstab, systemd or mount.fuse only; ignored here. */
  private static final Set<String> FSTAB_ONLY = Set.of(
      "defaults", "auto", "noauto", "user", "nouser", "users", "nousers", "owner", "noowner", "group",
      "nogroup", "_netdev", "nofail");

  /** Already what ClawFS does, so accepted as no-ops. */
  private static final Set<String> ALWAYS_ON = Set.of("default_permissions", "big_writes", "relatime");

  private static final Pattern NUMBER = Pattern.compile("[0-9]{1,10}");
  private static final Pattern SECONDS = Pattern.compile("[0-9]{1,9}(\\.[0-9]{1,9})?");

  private final List<String> fuse = new ArrayList<>();
  private final List<String> warnings = new ArrayList<>();
  private boolean readOnly;
  private boolean noAtime;
  private Path passphraseFile;
  private Long commitIntervalMs;
  private boolean noSearch;
  private String embeddingModel;
  private String embeddingsUrl;
  private Path embeddingsKeyFile;
  private Long auditHistoryMiB;
  private String logLevel;
  private Long keyringTimeout;

  private MountOptions() {}

  /** Options taken from the command line; an empty string is no options. */
  static MountOptions parse(String options) {
    return parse(options, false);
  }

  /**
   * Parses a comma-separated option string (values may be double-quoted to hold commas).
   * Throws a usage error naming the first bad option, unless {@code sloppy}.
   */
  static MountOptions parse(String options, boolean sloppy) {
    MountOptions o = new MountOptions();
    if (options == null) {
      return o;
    }
    for (String opt : split(options)) {
      if (opt.isEmpty()) {
        continue;
      }
      try {
        o.take(opt);
      } catch (CliException e) {
        if (!sloppy) {
          throw e;
        }
        o.warnings.add(e.getMessage() + "; ignored (sloppy)");
      }
    }
    return o;
  }

  private void take(String opt) {
    int eq = opt.indexOf('=');
    String key = eq < 0 ? opt : opt.substring(0, eq);
    String value = eq < 0 ? null : opt.substring(eq + 1);
    if (key.startsWith("x-") || key.startsWith("X-") || key.equals("comment") || key.equals("helper")
        || key.equals("uhelper")) {
      return; // systemd's x-systemd.*, fstab comments, libmount's umount markers
    }
    if (value == null) {
      flag(key);
      return;
    }
    if (value.isEmpty()) {
      throw bad(opt, "has no value");
    }
    switch (key) {
      case "passphrase_file" -> passphraseFile = Path.of(value);
      case "commit_interval_ms" -> commitIntervalMs = number(opt, value, 1, 3_600_000);
      case "embedding_model" -> embeddingModel = value;
      case "embeddings_url" -> embeddingsUrl = value;
      case "embeddings_key_file" -> embeddingsKeyFile = Path.of(value);
      case "audit_history_mib" -> auditHistoryMiB = number(opt, value, 0, 1 << 20);
      case "log_level" -> {
        if (!Logs.LEVELS.containsKey(value)) {
          throw bad(opt, "wants error, warn, info, debug or trace");
        }
        logLevel = value;
      }
      case "keyring_timeout" -> keyringTimeout = number(opt, value, 0, Unlock.MAX_TIMEOUT);
      case "uid", "gid" -> {
        number(opt, value, 0, 4_294_967_294L);
        fuse.add(opt);
      }
      case "max_read" -> fuse.add(key + "=" + number(opt, value, 4096, 131072));
      case "max_write" -> fuse.add(key + "=" + number(opt, value, 4096, 131072));
      case "max_readahead" -> fuse.add(key + "=" + number(opt, value, 0, 16 << 20));
      case "max_background", "congestion_threshold" -> fuse.add(key + "=" + number(opt, value, 1, 65535));
      case "entry_timeout", "negative_timeout", "attr_timeout" -> {
        if (!SECONDS.matcher(value).matches()) {
          throw bad(opt, "wants seconds (a number such as 1 or 0.5)");
        }
        fuse.add(opt);
      }
      case "fsname", "subtype", "umask", "modules", "setuid" -> throw bad(opt, refusal(key));
      default -> throw unknown(opt);
    }
  }

  private void flag(String key) {
    if (FSTAB_ONLY.contains(key) || ALWAYS_ON.contains(key)) {
      return;
    }
    if (KERNEL_FLAGS.contains(key)) {
      fuse.add(key);
      return;
    }
    switch (key) {
      case "ro" -> readOnly = true;
      case "rw" -> readOnly = false;
      case "noatime" -> noAtime = true;
      case "atime" -> noAtime = false;
      case "nosearch" -> noSearch = true;
      case "kernel_cache", "auto_cache", "direct_io", "use_ino", "readdir_ino", "hard_remove",
          "nullpath_ok", "intr", "debug", "splice_read", "splice_write", "splice_move" ->
          throw bad(key, refusal(key));
      default -> throw unknown(key);
    }
  }

  private static String refusal(String key) {
    return switch (key) {
      case "kernel_cache", "auto_cache", "direct_io" ->
          "is not for ClawFS: it decides page caching per open file, so that hard links stay coherent";
      case "fsname", "subtype", "use_ino", "readdir_ino", "hard_remove", "nullpath_ok", "intr", "modules" ->
          "is set by ClawFS itself";
      case "splice_read", "splice_write", "splice_move" -> "is not supported by ClawFS's request loop";
      case "umask" -> "is not supported: ClawFS keeps each file's own mode (chmod works)";
      case "setuid" -> "is mount.fuse's option, not the clawfs helper's: mount as that user instead";
      default -> "is not supported";
    };
  }

  private static long number(String opt, String value, long min, long max) {
    if (!NUMBER.matcher(value).matches() || Long.parseLong(value) < min || Long.parseLong(value) > max) {
      throw bad(opt, "wants a whole number from " + min + " to " + max);
    }
    return Long.parseLong(value);
  }

  private static CliException bad(String opt, String why) {
    return new CliException(ClawfsCli.USAGE, "mount option '" + opt + "' " + why);
  }

  private static CliException unknown(String opt) {
    return new CliException(ClawfsCli.USAGE, "unknown mount option '" + opt + "'; ClawFS takes passphrase_file=,"
        + " ro, rw, allow_other, uid=, gid=, noatime, nosuid, nodev, noexec, sync, dirsync, max_read=, max_write=,"
        + " max_readahead=, max_background=, congestion_threshold=, entry_timeout=, negative_timeout=,"
        + " attr_timeout=, async_read, commit_interval_ms=, nosearch, embedding_model=, embeddings_url=,"
        + " embeddings_key_file=, audit_history_mib=, log_level=, keyring_timeout= (and ignores fstab's noauto, nofail, _netdev, user, x-*)");
  }

  /** Splits at commas outside double quotes; quotes around a value are dropped. */
  static List<String> split(String s) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        out.add(cur.toString().strip());
        cur.setLength(0);
      } else {
        cur.append(c);
      }
    }
    if (quoted) {
      throw new CliException(ClawfsCli.USAGE, "mount options have an unclosed quote: " + s);
    }
    out.add(cur.toString().strip());
    return out;
  }

  /** What goes to libfuse (comma separated, after ClawFS's own), or null for nothing. */
  String fuseOptions() {
    List<String> all = new ArrayList<>(fuse);
    if (readOnly) {
      all.add(0, "ro");
    }
    if (noAtime) {
      all.add("noatime");
    }
    return all.isEmpty() ? null : String.join(",", all);
  }

  boolean readOnly() {
    return readOnly;
  }

  /** Reads leave atime alone: noatime, or a read-only mount. */
  boolean noAtime() {
    return noAtime || readOnly;
  }

  Path passphraseFile() {
    return passphraseFile;
  }

  List<String> warnings() {
    return List.copyOf(warnings);
  }

  /** Puts the server settings given as options into the command line's own option groups. */
  void applyTo(ClawfsCli.PassphraseOptions pass, ClawfsCli.SearchOptions search, ClawfsCli.AuditOptions audit) {
    if (passphraseFile != null) {
      pass.file = passphraseFile;
    }
    if (noSearch) {
      search.disabled = true;
    }
    if (embeddingModel != null) {
      search.model = embeddingModel;
    }
    if (embeddingsUrl != null) {
      search.url = embeddingsUrl;
    }
    if (embeddingsKeyFile != null) {
      search.keyFile = embeddingsKeyFile;
    }
    if (auditHistoryMiB != null) {
      audit.historyMiB = auditHistoryMiB;
    }
  }

  /** log_level= if given, else null. */
  String logLevel() {
    return logLevel;
  }

  /** keyring_timeout= (seconds the unlocked key stays in the kernel keyring) if given, else {@code otherwise}. */
  long keyringTimeout(long otherwise) {
    return keyringTimeout != null ? keyringTimeout : otherwise;
  }

  /** commit_interval_ms= if given, else {@code otherwise}. */
  long commitIntervalMs(long otherwise) {
    return commitIntervalMs != null ? commitIntervalMs : otherwise;
  }
}
