package dev.clawfs.agent;

/**
 * An {@link AgentTools} call was refused: the policy denied it for the agent's identity, the path
 * does not exist, the tool is unknown. The reason is given back to the model as the call's result
 * and recorded in the transcript, so it should be words the model can act on ("no such file",
 * "policy: agents/librarian may not read /workspaces/hr"), never secret material.
 */
public final class ToolCallRefused extends Exception {

  public ToolCallRefused(String reason) {
    super(reason);
  }

  /** The reason, as given. */
  public String reason() {
    return getMessage();
  }
}
