package dev.clawfs.mount;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clawfs.fuse.Caller;
import dev.clawfs.fuse.Errno;
import dev.clawfs.fuse.FsException;
import dev.clawfs.fuse.VirtualNode;
import dev.clawfs.fuse.VirtualTree;
import dev.clawfs.policy.Policy;
import dev.clawfs.policy.PolicyException;
import dev.clawfs.policy.PolicySet;
import dev.clawfs.policy.PolicyWarning;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * {@code /system/policies/}: the shipped default policy (read-only), the admin's own policy files
 * and {@code errors}. Root creates or overwrites {@code NAME.yaml} (or {@code .yml}, {@code
 * .json}); when the descriptor is closed the file is parsed: a valid file is saved (sealed, in
 * {@code VAULT/admin/policies.sealed}) and the new set is in force for the next operation; an
 * invalid one makes close(2) fail with EINVAL, leaves the previous policy in force, and its
 * {@code file:line:column: reason} is shown in {@code errors}. Removing an admin file takes its
 * rules out of force.
 */
final class PolicyFiles implements VirtualTree, VirtualNode.Files {
  private static final System.Logger LOG = System.getLogger("clawfs.policy");
  static final String ERRORS = "errors";
  private static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,122}\\.(yaml|yml|json)");
  /** A file created but not yet written stays listed this long (libfuse stats it right after create). */
  private static final long PENDING_MS = 60_000;
  /**
   * A new file whose first content was refused stays listed (empty) this long: the kernel keeps
   * the name it created for a second (entry_timeout), and a retry within it must find the file.
   */
  private static final long REFUSED_MS = 2_000;
  private static final int MAX_ERRORS = 20;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final SealedFile store;
  private final byte[] defaultBytes;
  /** The admin's files by name, content as written. Guarded by this. */
  private TreeMap<String, byte[]> files = new TreeMap<>();
  /** Names created and not yet written, with when they stop being listed. Guarded by this. */
  private final Map<String, Long> pending = new HashMap<>();
  private final Deque<String> errors = new ArrayDeque<>();
  private volatile PolicySet current;
  private volatile Consumer<PolicySet> listener = s -> {};

  private PolicyFiles(SealedFile store, byte[] defaultBytes) {
    this.store = store;
    this.defaultBytes = defaultBytes;
  }

  /**
   * Loads the admin's files from the vault. A stored file that no longer parses (a newer or older
   * ClawFS validates differently) is left out of force and reported in {@code errors}.
   */
  static PolicyFiles load(SealedFile store) throws IOException {
    byte[] def;
    try (InputStream in = Policy.class.getResourceAsStream(Policy.DEFAULT_RESOURCE)) {
      def = in.readAllBytes();
    }
    PolicyFiles p = new PolicyFiles(store, def);
    byte[] plain = store.read();
    if (plain != null) {
      for (JsonNode f : JSON.readTree(plain).path("files")) {
        p.files.put(f.get("name").asText(), Base64.getDecoder().decode(f.get("content").asText()));
      }
    }
    List<Policy> admin = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : p.files.entrySet()) {
      try {
        admin.add(Policy.parse(e.getKey(), e.getValue()));
      } catch (PolicyException ex) {
        p.error(ex.getMessage() + " (stored file left out of force)");
        LOG.log(Level.WARNING, "stored policy {0} is not valid here (line {1}, column {2}); left out of force",
            e.getKey(), ex.line(), ex.column());
      }
    }
    p.current = set(admin);
    return p;
  }

  private static PolicySet set(List<Policy> admin) {
    List<Policy> all = new ArrayList<>();
    all.add(Policy.loadDefault());
    all.addAll(admin);
    return PolicySet.of(all);
  }

  PolicySet current() {
    return current;
  }

  /** Told every new set put in force. */
  void onChange(Consumer<PolicySet> l) {
    listener = l;
  }

  // ================================================================== the virtual directory

  @Override
  public VirtualNode resolve(List<String> path, Caller caller) {
    if (path.isEmpty()) {
      return new VirtualNode.Directory(this::entries, this);
    }
    if (path.size() > 1) {
      throw new FsException(Errno.ENOTDIR, "not a directory");
    }
    String name = path.get(0);
    if (name.equals(Policy.DEFAULT_NAME)) {
      return VirtualNode.File.readOnly(() -> defaultBytes);
    }
    if (name.equals(ERRORS)) {
      return VirtualNode.File.readOnly(() -> errorsText().getBytes(StandardCharsets.UTF_8));
    }
    synchronized (this) {
      if (!files.containsKey(name) && !isPending(name)) {
        throw new FsException(Errno.ENOENT, "no such policy file");
      }
    }
    return adminFile(name);
  }

  private VirtualNode.File adminFile(String name) {
    return new VirtualNode.File(() -> {
      synchronized (this) {
        byte[] b = files.get(name);
        return b == null ? new byte[0] : b;
      }
    }, (data, c) -> written(name, data, c), 0644);
  }

  private synchronized List<VirtualNode.Entry> entries() {
    List<VirtualNode.Entry> out = new ArrayList<>();
    out.add(new VirtualNode.Entry(Policy.DEFAULT_NAME, VirtualNode.Kind.FILE));
    out.add(new VirtualNode.Entry(ERRORS, VirtualNode.Kind.FILE));
    TreeMap<String, Boolean> names = new TreeMap<>();
    files.keySet().forEach(n -> names.put(n, true));
    pending.keySet().stream().filter(this::isPending).forEach(n -> names.put(n, true));
    names.keySet().forEach(n -> out.add(new VirtualNode.Entry(n, VirtualNode.Kind.FILE)));
    return out;
  }

  private boolean isPending(String name) {
    Long until = pending.get(name);
    return until != null && until > System.currentTimeMillis();
  }

  @Override
  public synchronized VirtualNode.File create(String name, Caller caller) {
    requireRoot(caller);
    if (name.equals(Policy.DEFAULT_NAME) || name.equals(ERRORS)) {
      throw new FsException(Errno.EEXIST, name + " exists");
    }
    if (!FILE_NAME.matcher(name).matches()) {
      error(name + ": not a policy file name: use NAME.yaml, NAME.yml or NAME.json (letters, digits, '.', '_', '-')");
      throw new FsException(Errno.EINVAL, "bad policy file name");
    }
    pending.put(name, System.currentTimeMillis() + PENDING_MS);
    return adminFile(name);
  }

  @Override
  public void remove(String name, Caller caller) {
    requireRoot(caller);
    if (name.equals(Policy.DEFAULT_NAME) || name.equals(ERRORS)) {
      throw new FsException(Errno.EPERM, name + " cannot be removed");
    }
    synchronized (this) {
      boolean wasPending = pending.remove(name) != null;
      if (!files.containsKey(name)) {
        if (!wasPending) {
          throw new FsException(Errno.ENOENT, "no such policy file");
        }
        return;
      }
      TreeMap<String, byte[]> next = new TreeMap<>(files);
      next.remove(name);
      putInForce(next);
    }
    LOG.log(Level.INFO, "policy file {0} removed; its rules are out of force", name);
  }

  /** A descriptor of {@code name} was closed after writing {@code data}. */
  private void written(String name, byte[] data, Caller caller) {
    requireRoot(caller);
    Policy parsed;
    try {
      parsed = Policy.parse(name, data);
    } catch (PolicyException e) {
      synchronized (this) {
        if (!files.containsKey(name)) {
          pending.put(name, System.currentTimeMillis() + REFUSED_MS);
        }
        error(e.getMessage());
      }
      // the reason can quote the file's values: the log gets the position only
      LOG.log(Level.WARNING, "policy file {0} refused (line {1}, column {2}); the previous policy stays in force;"
          + " the reason is in system/policies/errors", name, e.line(), e.column());
      throw new FsException(Errno.EINVAL, "invalid policy");
    }
    synchronized (this) {
      TreeMap<String, byte[]> next = new TreeMap<>(files);
      next.put(name, data.clone());
      putInForce(next);
      pending.remove(name);
    }
    for (PolicyWarning w : parsed.warnings()) {
      LOG.log(Level.INFO, "policy file {0}: warning at line {1}, column {2}", name, w.line(), w.column());
    }
    LOG.log(Level.INFO, "policy file {0} in force ({1} rules)", name, parsed.ruleCount());
  }

  /** Parses all of {@code next}, saves it, then swaps it in. Holds this. */
  private void putInForce(TreeMap<String, byte[]> next) {
    List<Policy> admin = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : next.entrySet()) {
      try {
        admin.add(Policy.parse(e.getKey(), e.getValue()));
      } catch (PolicyException ex) {
        if (files.containsKey(e.getKey()) && java.util.Arrays.equals(files.get(e.getKey()), e.getValue())) {
          continue; // a stored file that did not parse at mount stays out of force
        }
        throw new FsException(Errno.EINVAL, "invalid policy");
      }
    }
    PolicySet set = set(admin);
    ObjectNode root = JSON.createObjectNode().put("version", 1);
    ArrayNode arr = root.putArray("files");
    for (Map.Entry<String, byte[]> e : next.entrySet()) {
      arr.addObject().put("name", e.getKey()).put("content", Base64.getEncoder().encodeToString(e.getValue()));
    }
    try {
      store.write(JSON.writeValueAsBytes(root));
    } catch (IOException e) {
      LOG.log(Level.ERROR, "cannot save the policy files: {0}; the previous policy stays in force", e.getMessage());
      throw new FsException(Errno.EIO, "cannot save the policy files");
    }
    files = next;
    current = set;
    listener.accept(set);
  }

  private static void requireRoot(Caller caller) {
    if (caller.uid() != 0) {
      throw new FsException(Errno.EACCES, "only root changes policies");
    }
  }

  private void error(String message) {
    synchronized (errors) {
      errors.addLast(Json.isoTime(System.currentTimeMillis()) + " " + message);
      while (errors.size() > MAX_ERRORS) {
        errors.removeFirst();
      }
    }
  }

  /** The {@code errors} file: refused edits, newest last, then the warnings of the set in force. */
  String errorsText() {
    StringBuilder b = new StringBuilder();
    b.append("# refused policy files, newest last (each time the previous policy stayed in force)\n");
    synchronized (errors) {
      for (String e : errors) {
        b.append(e).append('\n');
      }
    }
    b.append("# warnings of the policies in force\n");
    for (PolicyWarning w : current.warnings()) {
      b.append(w).append('\n');
    }
    return b.toString();
  }
}
