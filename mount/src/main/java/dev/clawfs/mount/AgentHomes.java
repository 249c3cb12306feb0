package dev.clawfs.mount;

import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.fuse.VirtualOverlay;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The files to talk to an agent, inside its stored home {@code /agents/NAME/} (docs/agents.md):
 *
 * <pre>
 * ask/QUESTION        cat it: the agent's answer to the question (a read waits for it)
 * inbox/TASK          write a task (any text) and close: queued for the agent ...
 * outbox/TASK         ... and its answer is read here (a read waits until it is done)
 * transcript.jsonl    the agent's turns, tool calls, sources and flags, as JSON lines (tail -f)
 * events              changes of files the agent watches, as JSON lines (tail -f)
 * status              model, provider, queue, tasks done, last error
 * settings.json       the agent's model settings (root writes; no secret in it, only a secret's name)
 * watch.json          change hooks: paths whose changes become tasks for the agent (root writes)
 * memory/             stored: the agent's notes, ordinary indexed files
 * </pre>
 *
 * Questions, tasks and answers belong to the asker's uid: nobody else sees them. The agent
 * works with its own identity and, for a question, never beyond what the asker may read either
 * (see AgentRunner). The transcript, events, status and settings are the agent's and root's.
 */
final class AgentHomes implements VirtualOverlay {
  static final Set<String> NAMES = Set.of("ask", "inbox", "outbox", "transcript.jsonl", "events", "status",
      "settings.json", "watch.json");
  private static final Pattern TASK_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  /** Questions and tasks kept per asker and agent; the oldest finished ones go first. */
  static final int MAX_KEPT = 64;
  /** A finished question is asked again when read after this long (the files may have changed). */
  private static final long KEEP_NANOS = 10_000_000_000L;

  private final Map<String, AgentRunner> runners;
  /** Jobs by agent, then asker uid, then name ("ask" questions keyed "?" + question). */
  private final Map<String, Map<Integer, LinkedHashMap<String, PendingReply>>> jobs = new ConcurrentHashMap<>();

  AgentHomes(Map<String, AgentRunner> runners) {
    this.runners = runners;
  }

  @Override
  public Set<String> names(List<String> dir) {
    return dir.size() == 2 && runners.containsKey(dir.get(1)) ? NAMES : Set.of();
  }

  @Override
  public VirtualNode resolve(List<String> dir, String name, List<String> rest, Caller caller) {
    AgentRunner agent = runners.get(dir.get(1));
    if (agent == null) {
      throw new FsException(Errno.ENOENT, "no agent " + dir.get(1));
    }
    switch (name) {
      case "ask":
        return ask(agent, rest, caller);
      case "inbox":
        return inbox(agent, rest, caller);
      case "outbox":
        return outbox(agent, rest, caller);
      default:
        break;
    }
    if (!rest.isEmpty()) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    boolean own = caller.uid() == 0 || caller.uid() == agent.uid();
    if (!own) {
      throw new FsException(Errno.EACCES, name + " is the agent's and root's");
    }
    return switch (name) {
      // 0444: virtual files are root's, and the kernel checks the mode before we see the agent;
      // whoever is neither the agent nor root was refused above
      case "transcript.jsonl" -> new VirtualNode.Stream(agent.transcript(), 0444);
      case "events" -> new VirtualNode.Stream(agent.events(), 0444);
      case "status" -> VirtualNode.File.readOnly(() -> agent.status().getBytes(StandardCharsets.UTF_8));
      case "settings.json" -> new VirtualNode.File(agent::settingsJson, (data, c) -> {
        if (c.uid() != 0) {
          throw new FsException(Errno.EACCES, "only root changes an agent's settings");
        }
        agent.changeSettings(data);
      }, 0644);
      case "watch.json" -> new VirtualNode.File(agent::watchJson, (data, c) -> {
        if (c.uid() != 0) {
          throw new FsException(Errno.EACCES, "only root changes an agent's change hooks");
        }
        agent.changeWatch(data);
      }, 0644);
      default -> throw new FsException(Errno.ENOENT, "no such file");
    };
  }

  // ------------------------------------------------------------------ ask/

  private VirtualNode ask(AgentRunner agent, List<String> rest, Caller caller) {
    LinkedHashMap<String, PendingReply> mine = jobsOf(agent.name(), caller);
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        synchronized (mine) {
          for (String k : mine.keySet()) {
            if (k.startsWith("?")) {
              out.add(new VirtualNode.Entry(k.substring(1), VirtualNode.Kind.FILE));
            }
          }
        }
        return out;
      });
    }
    if (rest.size() > 1) {
      throw new FsException(Errno.ENOENT, "a question is one file name (a / cannot be in it)");
    }
    String question = rest.get(0);
    if (question.isBlank()) {
      throw new FsException(Errno.ENOENT, "an empty question");
    }
    // the lookup, getattr and open of one `cat` all come here: the question is asked once and
    // its answer kept (a new `cat` after it is done asks again only after a while)
    PendingReply j;
    synchronized (mine) {
      j = mine.get("?" + question);
      if (j == null || j.doneLongerThan(KEEP_NANOS)) {
        j = new PendingReply();
        put(mine, "?" + question, j);
        PendingReply job = j;
        agent.submit(question, caller, true, job::finish);
      }
    }
    return new VirtualNode.Stream(j, 0444);
  }

  // ------------------------------------------------------------------ inbox/ and outbox/

  private VirtualNode inbox(AgentRunner agent, List<String> rest, Caller caller) {
    LinkedHashMap<String, PendingReply> mine = jobsOf(agent.name(), caller);
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        synchronized (mine) {
          mine.forEach((k, j) -> {
            if (!k.startsWith("?") && j.reply() == null) {
              out.add(new VirtualNode.Entry(k, VirtualNode.Kind.FILE));
            }
          });
        }
        return out;
      }, new VirtualNode.Files() {
        @Override
        public VirtualNode.File create(String task, Caller c) {
          checkTaskName(task);
          writing.put(key(agent.name(), c, task), true);
          return taskFile(agent, task);
        }

        @Override
        public void remove(String task, Caller c) {
          throw new FsException(Errno.EBUSY, "task " + task + " is queued; its answer will be in outbox/");
        }
      }, 0777);
    }
    if (rest.size() > 1) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    String task = rest.get(0);
    PendingReply j;
    synchronized (mine) {
      j = mine.get(task);
    }
    if (j == null && !writing.containsKey(key(agent.name(), caller, task))) {
      throw new FsException(Errno.ENOENT, "no task " + task + " in the inbox");
    }
    return taskFile(agent, task);
  }

  /** Tasks being written, between create and close. */
  private final Map<String, Boolean> writing = new ConcurrentHashMap<>();

  private static String key(String agent, Caller c, String task) {
    return agent + "\0" + c.uid() + "\0" + task;
  }

  private static void checkTaskName(String task) {
    if (!TASK_NAME.matcher(task).matches()) {
      throw new FsException(Errno.EINVAL, "a task name is 1 to 128 of A-Z, a-z, 0-9, ., _ and -: " + task);
    }
  }

  private VirtualNode.File taskFile(AgentRunner agent, String task) {
    return new VirtualNode.File(() -> new byte[0], (data, c) -> submit(agent, task, data, c), 0666);
  }

  /** A task written to the inbox: queued at close; its answer (or the refusal) goes to outbox/TASK. */
  private void submit(AgentRunner agent, String task, byte[] data, Caller caller) {
    writing.remove(key(agent.name(), caller, task));
    String text = new String(data, StandardCharsets.UTF_8).strip();
    LinkedHashMap<String, PendingReply> mine = jobsOf(agent.name(), caller);
    PendingReply j = new PendingReply();
    synchronized (mine) {
      PendingReply old = mine.get(task);
      if (old != null && old.reply() == null) {
        throw new FsException(Errno.EBUSY, "task " + task + " is still being worked on");
      }
      mine.remove(task);
      put(mine, task, j);
    }
    if (text.isEmpty()) {
      j.finish("ERROR: the task is empty: write a question or an instruction to inbox/" + task + "\n");
      throw new FsException(Errno.EINVAL, "an empty task");
    }
    agent.submit(text, caller, false, j::finish);
  }

  private VirtualNode outbox(AgentRunner agent, List<String> rest, Caller caller) {
    LinkedHashMap<String, PendingReply> mine = jobsOf(agent.name(), caller);
    if (rest.isEmpty()) {
      return new VirtualNode.Directory(() -> {
        List<VirtualNode.Entry> out = new ArrayList<>();
        synchronized (mine) {
          for (String k : mine.keySet()) {
            if (!k.startsWith("?")) {
              out.add(new VirtualNode.Entry(k, VirtualNode.Kind.FILE));
            }
          }
        }
        return out;
      }, new VirtualNode.Files() {
        @Override
        public VirtualNode.File create(String task, Caller c) {
          throw new FsException(Errno.EACCES, "answers are written by the agent; write tasks to inbox/");
        }

        @Override
        public void remove(String task, Caller c) {
          LinkedHashMap<String, PendingReply> theirs = jobsOf(agent.name(), c);
          synchronized (theirs) {
            PendingReply j = theirs.get(task);
            if (j == null || task.startsWith("?")) {
              throw new FsException(Errno.ENOENT, "no task " + task);
            }
            if (j.reply() == null) {
              throw new FsException(Errno.EBUSY, "task " + task + " is still being worked on");
            }
            theirs.remove(task);
          }
        }
      }, 0777);
    }
    if (rest.size() > 1 || rest.get(0).startsWith("?")) {
      throw new FsException(Errno.ENOENT, "no such task");
    }
    PendingReply j;
    synchronized (mine) {
      j = mine.get(rest.get(0));
    }
    if (j == null) {
      throw new FsException(Errno.ENOENT, "no task " + rest.get(0));
    }
    return new VirtualNode.Stream(j, 0444);
  }

  private LinkedHashMap<String, PendingReply> jobsOf(String agent, Caller caller) {
    return jobs.computeIfAbsent(agent, k -> new ConcurrentHashMap<>())
        .computeIfAbsent(caller.uid(), k -> new LinkedHashMap<>());
  }

  private static void put(LinkedHashMap<String, PendingReply> mine, String k, PendingReply j) {
    mine.put(k, j);
    for (Iterator<Map.Entry<String, PendingReply>> it = mine.entrySet().iterator(); mine.size() > MAX_KEPT && it.hasNext(); ) {
      if (it.next().getValue().reply() != null) {
        it.remove();
      }
    }
  }
}
