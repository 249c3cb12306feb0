package dev.clawfs.tools;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One call of a tool: who asks, the arguments, the environment and the streams.
 *
 * @param callerUid the caller's Unix uid (its policy and concurrency share are looked up by it)
 * @param agent the agent the caller acts as, or "" for a person
 * @param args the arguments after the tool's name (argv[0] is the tool's name)
 * @param env the environment; nothing of the server's own is passed
 * @param stdin what the module reads on stdin; it should end (a stream that blocks for ever holds
 *     the run until its wall time runs out)
 * @param stdout where stdout goes, or {@code null} to capture it in the result
 * @param stderr where stderr goes, or {@code null} to capture it in the result
 */
public record ToolRequest(
    int callerUid,
    String agent,
    List<String> args,
    Map<String, String> env,
    InputStream stdin,
    OutputStream stdout,
    OutputStream stderr) {

  public ToolRequest {
    Objects.requireNonNull(agent, "agent");
    Objects.requireNonNull(stdin, "stdin");
    args = List.copyOf(args);
    env = Map.copyOf(env);
  }

  /** A request with {@code stdin} and {@code args}, output captured in the result. */
  public static ToolRequest of(int callerUid, byte[] stdin, String... args) {
    return new ToolRequest(
        callerUid, "", List.of(args), Map.of(), new ByteArrayInputStream(stdin), null, null);
  }

  public ToolRequest withAgent(String newAgent) {
    return new ToolRequest(callerUid, newAgent, args, env, stdin, stdout, stderr);
  }

  public ToolRequest withArgs(List<String> newArgs) {
    return new ToolRequest(callerUid, agent, newArgs, env, stdin, stdout, stderr);
  }

  public ToolRequest withEnv(Map<String, String> newEnv) {
    return new ToolRequest(callerUid, agent, args, newEnv, stdin, stdout, stderr);
  }

  public ToolRequest withStdin(InputStream newStdin) {
    return new ToolRequest(callerUid, agent, args, env, newStdin, stdout, stderr);
  }

  /** Output to these streams instead of the result. */
  public ToolRequest withOutput(OutputStream newStdout, OutputStream newStderr) {
    return new ToolRequest(callerUid, agent, args, env, stdin, newStdout, newStderr);
  }
}
