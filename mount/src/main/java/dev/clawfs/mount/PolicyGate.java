package dev.clawfs.mount;

import dev.clawfs.fuse.Access;
import dev.clawfs.fuse.AccessGate;
import dev.clawfs.fuse.Caller;
import dev.clawfs.policy.Action;
import dev.clawfs.policy.Decision;
import dev.clawfs.policy.PolicySet;
import dev.clawfs.policy.Subject;

/**
 * The policies in force, asked before every file operation. The set is swapped whole when an
 * admin's policy file changes, so an operation sees either the old set or the new one. Callers
 * are turned into subjects through the agent registry; the last subject is cached per FUSE thread,
 * so the common case allocates nothing.
 */
final class PolicyGate implements AccessGate {
  private static final Action[] ACTIONS = new Action[Access.values().length];

  static {
    ACTIONS[Access.READ.ordinal()] = Action.READ;
    ACTIONS[Access.WRITE.ordinal()] = Action.WRITE;
    ACTIONS[Access.LIST.ordinal()] = Action.LIST;
    ACTIONS[Access.CREATE.ordinal()] = Action.CREATE;
    ACTIONS[Access.DELETE.ordinal()] = Action.DELETE;
  }

  /** What an invisible path's denial says in the audit record. */
  static final String INVISIBLE = "not visible";

  private final AgentRegistry agents;
  private volatile PolicySet policies;

  /** One FUSE thread's last subject, valid while uid, gid and the registry version match. */
  private static final class Last {
    int uid = -1;
    int gid = -1;
    int version = -1;
    Subject subject;
  }

  private final ThreadLocal<Last> last = ThreadLocal.withInitial(Last::new);

  PolicyGate(PolicySet policies, AgentRegistry agents) {
    this.policies = policies;
    this.agents = agents;
  }

  PolicySet policies() {
    return policies;
  }

  /** Puts {@code next} in force for every operation that starts from now on. */
  void swap(PolicySet next) {
    policies = next;
  }

  Subject subject(Caller c) {
    Last l = last.get();
    int v = agents.version();
    if (l.uid != c.uid() || l.gid != c.gid() || l.version != v) {
      String agent = c.uid() == 0 ? null : agents.agentOf(c.uid());
      l.subject = new Subject(c.uid(), c.gid(), agent);
      l.uid = c.uid();
      l.gid = c.gid();
      l.version = v;
    }
    return l.subject;
  }

  @Override
  public String denial(Caller caller, Access access, String path) {
    Decision d = policies.decide(subject(caller), ACTIONS[access.ordinal()], path);
    return d.allowed() ? null : d.by();
  }

  @Override
  public String invisibility(Caller caller, String path) {
    return policies.visible(subject(caller), path) ? null : INVISIBLE;
  }
}
