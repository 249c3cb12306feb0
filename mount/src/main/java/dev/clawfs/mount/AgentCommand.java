package dev.clawfs.mount;

import dev.clawfs.mount.ClawfsCli.CliException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clawfs agent add|list|remove}: an agent is a Unix user the policies know by name. The
 * mount's server keeps the registry (sealed in the vault) and makes the agent's home; this
 * command creates the Unix user and talks to the server through {@code /system/agents}.
 */
@Command(name = "agent", description = "Manage agents: Unix users whom the policies know by name.",
    subcommands = {AgentCommand.Add.class, AgentCommand.ListAgents.class, AgentCommand.Remove.class})
final class AgentCommand implements Callable<Integer> {
  /** Longest Unix user name useradd accepts. */
  private static final int MAX_USER_NAME = 32;

  @Override
  public Integer call() {
    CommandLine.usage(this, System.err);
    return ClawfsCli.USAGE;
  }

  /** A passwd entry: name, uid, gid. */
  record User(String name, int uid, int gid) {}

  /** The passwd entry of a user name or uid, or null. */
  static User getent(String key) {
    Result r = run(List.of("getent", "passwd", key));
    if (r.code != 0 || r.out.isBlank()) {
      return null;
    }
    String[] f = r.out.strip().split("\n")[0].split(":");
    return new User(f[0], Integer.parseUnsignedInt(f[2]), Integer.parseUnsignedInt(f[3]));
  }

  private record Result(int code, String out) {}

  private static Result run(List<String> cmd) {
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return new Result(-1, "timed out");
      }
      return new Result(p.exitValue(), out);
    } catch (IOException e) {
      return new Result(-1, e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Result(-1, "interrupted");
    }
  }

  /** The agents the server knows: name, uid, gid. */
  static List<String[]> agents(Path m) throws IOException {
    List<String[]> out = new ArrayList<>();
    for (String line : Files.readAllLines(m.resolve("system").resolve("agents"), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        out.add(line.strip().split(" "));
      }
    }
    return out;
  }

  private static void tell(Path m, String command) {
    try {
      Files.writeString(m.resolve("system").resolve("agents"), command + "\n", StandardCharsets.UTF_8);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new CliException(ClawfsCli.ERROR, "only root manages agents");
    } catch (IOException e) {
      throw new CliException(ClawfsCli.ERROR, "the server refused \"" + command + "\": " + e.getMessage()
          + " (see the server log)");
    }
  }

  private static void requireRoot(String what) {
    if (Identity.uid() != 0) {
      throw new CliException(ClawfsCli.ERROR, "only root " + what);
    }
  }

  private static void checkName(String name) {
    String p = AgentRegistry.problemInName(name);
    if (p != null) {
      throw new CliException(ClawfsCli.USAGE, p);
    }
  }

  @Command(name = "add", description = "Make NAME an agent of the mount: creates the Unix user clawfs-NAME (or maps --uid),"
      + " records it in the vault, and makes its home MOUNTPOINT/agents/NAME/ (mode 0700) with memory/ inside.")
  static final class Add implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME", description = "1 to 32 characters a-z, 0-9 and '-', starting with a letter.")
    String name;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Option(names = "--uid", paramLabel = "UID", description = "Map this existing uid instead of creating a user.")
    Long uid;

    @Override
    public Integer call() throws Exception {
      checkName(name);
      Path m = ClawfsCli.requireMount(mountpoint);
      requireRoot("adds agents (it creates a Unix user)");
      User u;
      if (uid != null) {
        if (uid <= 0 || uid > 0xFFFF_FFFEL) {
          throw new CliException(ClawfsCli.USAGE, "--uid must be a uid other than root's (1 to 4294967294)");
        }
        u = getent(Long.toString(uid));
        if (u == null) {
          u = new User(null, (int) (long) uid, (int) (long) uid); // no passwd entry: its group is its uid
        }
      } else {
        String user = "clawfs-" + name;
        if (user.length() > MAX_USER_NAME) {
          throw new CliException(ClawfsCli.USAGE, "the Unix user name " + user + " would be longer than "
              + MAX_USER_NAME + " characters; use a shorter agent name or --uid");
        }
        u = getent(user);
        if (u == null) {
          Result r = run(List.of("useradd", "--system", "--user-group", "--no-create-home",
              "--home-dir", m.resolve("agents").resolve(name).toString(), "--shell", "/usr/sbin/nologin",
              "--comment", "ClawFS agent " + name, user));
          if (r.code != 0) {
            throw new CliException(ClawfsCli.ERROR, "useradd " + user + " failed: " + r.out.strip());
          }
          u = getent(user);
          if (u == null) {
            throw new CliException(ClawfsCli.ERROR, "useradd " + user + " succeeded but the user cannot be found");
          }
        }
      }
      for (String[] a : agents(m)) {
        if (a[0].equals(name)) {
          if (Integer.parseUnsignedInt(a[1]) == u.uid()) {
            System.out.println("agent " + name + " exists already (uid " + a[1] + ")");
            return ClawfsCli.OK;
          }
          throw new CliException(ClawfsCli.ERROR, "agent " + name + " exists already with uid " + a[1]);
        }
        if (Integer.parseUnsignedInt(a[1]) == u.uid()) {
          throw new CliException(ClawfsCli.ERROR, "uid " + a[1] + " is agent " + a[0] + " already");
        }
      }
      tell(m, "add " + name + " " + Integer.toUnsignedString(u.uid()) + " " + Integer.toUnsignedString(u.gid()));
      System.out.println("added agent " + name + ": uid " + Integer.toUnsignedString(u.uid())
          + (u.name() == null ? "" : " (user " + u.name() + ")") + ", home " + m.resolve("agents").resolve(name));
      return ClawfsCli.OK;
    }
  }

  @Command(name = "list", description = "List the agents of a mount: name, uid, gid.")
  static final class ListAgents implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Override
    public Integer call() throws Exception {
      Path m = ClawfsCli.requireMount(mountpoint);
      List<String[]> all;
      try {
        all = agents(m);
      } catch (java.nio.file.AccessDeniedException e) {
        throw new CliException(ClawfsCli.ERROR, "the policy does not let this user read the agent list");
      }
      if (all.isEmpty()) {
        System.out.println("no agents");
        return ClawfsCli.OK;
      }
      System.out.printf("%-32s %10s %10s%n", "NAME", "UID", "GID");
      for (String[] a : all) {
        System.out.printf("%-32s %10s %10s%n", a[0], a[1], a[2]);
      }
      return ClawfsCli.OK;
    }
  }

  @Command(name = "remove", description = "Forget agent NAME; its files under agents/NAME/ and its Unix user are kept.")
  static final class Remove implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME")
    String name;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT")
    Path mountpoint;

    @Override
    public Integer call() throws Exception {
      checkName(name);
      Path m = ClawfsCli.requireMount(mountpoint);
      requireRoot("removes agents");
      if (agents(m).stream().noneMatch(a -> a[0].equals(name))) {
        throw new CliException(ClawfsCli.ERROR, "no agent named " + name);
      }
      tell(m, "remove " + name);
      System.out.println("removed agent " + name + "; its files in " + m.resolve("agents").resolve(name)
          + " and its Unix user are kept (userdel clawfs-" + name + " removes the user)");
      return ClawfsCli.OK;
    }
  }
}
