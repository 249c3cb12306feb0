package dev.clawfs.agent;

import java.util.List;

/**
 * What an agent can do in the mount. The mount implements it for one task with the identity of the
 * agent (its uid): every call is decided by the same policy as a Unix caller with that identity,
 * and audited, before anything is read or written. The agent loop adds its own fixed checks first
 * (arguments, paths normalised, {@code /vault} never), so an implementation sees only normalised
 * absolute mount paths such as {@code /workspaces/notes/a.md}.
 *
 * <p>Each method throws {@link ToolCallRefused} for an expected refusal (denied, not found, too
 * large); its reason goes back to the model. Any other exception is reported to the model as a
 * failed call without its details and recorded in the transcript.
 */
public interface AgentTools {

  /**
   * Hybrid (keyword and semantic) search over what the agent may read.
   *
   * @param scope a mount path prefix to search within, or {@code null} for everything
   * @param limit the most hits wanted, 1 to 20
   */
  List<SearchHit> search(String query, String scope, int limit) throws ToolCallRefused;

  /** Up to {@code maxBytes} of a file's text, from its start. */
  String read(String path, int maxBytes) throws ToolCallRefused;

  /** The names in a directory; directories end with {@code /}. */
  List<String> list(String path) throws ToolCallRefused;

  /**
   * Writes a note in the agent's own {@code memory/} folder, replacing one of the same name.
   *
   * @param name a plain file name (no {@code /}), already checked by the loop
   * @return the mount path written, such as {@code /agents/librarian/memory/keys.md}
   */
  String writeNote(String name, String text) throws ToolCallRefused;

  /**
   * Runs an installed WebAssembly tool with the agent's limits.
   *
   * @param stdin the tool's stdin, or {@code null} for none
   */
  ToolRunResult runTool(String tool, List<String> args, String stdin) throws ToolCallRefused;
}
