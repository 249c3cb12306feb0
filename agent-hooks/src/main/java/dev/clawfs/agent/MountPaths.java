package dev.clawfs.agent;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Set;

/**
 * The loop's fixed rules for paths the model names, applied before {@link AgentTools} sees them:
 * absolute, normalised ({@code .}, {@code ..} and {@code //} resolved, a leading {@code /clawfs}
 * dropped, as the model may write either form), and never under {@code /vault}. The vault rule is
 * not the policy's to relax: an agent's words go to a model provider, and secrets must not.
 */
final class MountPaths {

  private static final int MAX_LENGTH = 4096;
  private static final Set<String> VAULT = Set.of("vault");

  private MountPaths() {}

  /** A path the model gave that is malformed: the model is told, and may try again. */
  static final class BadPath extends Exception {
    BadPath(String message) {
      super(message);
    }
  }

  /**
   * The normalised absolute mount path.
   *
   * @throws BadPath when it is empty, relative, too long or climbs above the root
   * @throws ToolCallRefused when it is under {@code /vault}
   */
  static String normalise(String path) throws BadPath, ToolCallRefused {
    if (path == null || path.isBlank()) {
      throw new BadPath("the path is empty");
    }
    if (path.length() > MAX_LENGTH || path.indexOf('\0') >= 0) {
      throw new BadPath("the path is not valid");
    }
    String p = path.strip();
    if (p.equals("/clawfs") || p.startsWith("/clawfs/")) {
      p = p.substring("/clawfs".length());
      if (p.isEmpty()) {
        p = "/";
      }
    }
    if (!p.startsWith("/")) {
      throw new BadPath(
          "\""
              + Text.cut(path, 200)
              + "\" is not an absolute mount path such as"
              + " /workspaces/notes/a.md");
    }
    Deque<String> parts = new ArrayDeque<>();
    for (String segment : p.split("/")) {
      if (segment.isEmpty() || segment.equals(".")) {
        continue;
      }
      if (segment.equals("..")) {
        if (parts.isEmpty()) {
          throw new BadPath("\"" + Text.cut(path, 200) + "\" climbs above the mount's root");
        }
        parts.removeLast();
      } else {
        parts.addLast(segment);
      }
    }
    if (!parts.isEmpty() && VAULT.contains(parts.getFirst())) {
      throw new ToolCallRefused("vault/ holds secrets and is never given to agents");
    }
    return parts.isEmpty() ? "/" : "/" + String.join("/", parts);
  }

  /** True when a tool argument names a vault path (refused before a tool runs). */
  static boolean namesVault(String arg) {
    String a = arg.strip();
    return a.equals("/vault")
        || a.startsWith("/vault/")
        || a.equals("/clawfs/vault")
        || a.startsWith("/clawfs/vault/");
  }
}
