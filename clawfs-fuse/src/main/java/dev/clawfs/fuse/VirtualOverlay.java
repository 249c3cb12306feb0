package dev.clawfs.fuse;

import java.util.List;
import java.util.Set;

/**
 * Virtual entries a feature adds inside stored directories: an agent's home
 * {@code agents/NAME/} is stored (its memory/ holds ordinary files) but also has {@code ask/},
 * {@code status} and a transcript to talk to the agent. The core asks the overlay which names it
 * adds to a stored directory of the registered depth, serves those names from it, lists them
 * beside the stored children (a stored entry of the same name is hidden) and refuses to create,
 * rename or link stored entries under them. Implementations are called on FUSE threads
 * concurrently and must be thread-safe.
 */
public interface VirtualOverlay {
  /**
   * The names added to the stored directory {@code dir} (its components from the mount's root,
   * decoded as UTF-8, for example {@code [agents, librarian]}), or an empty set. Called on every
   * path operation below the overlay's top-level name: it must be cheap and must not block.
   */
  Set<String> names(List<String> dir);

  /**
   * The node at {@code dir/name/rest...}, {@code name} being one of {@link #names}{@code (dir)}.
   * Throws {@link FsException} (usually ENOENT) when there is none.
   */
  VirtualNode resolve(List<String> dir, String name, List<String> rest, Caller caller);
}
