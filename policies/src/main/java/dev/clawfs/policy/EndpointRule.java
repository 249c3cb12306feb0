package dev.clawfs.policy;

import java.util.List;

/**
 * One entry of a policy file's {@code endpoints} list: a subject and the model endpoints it
 * allows or denies.
 *
 * @param index the entry's position in the file's {@code endpoints} list, from 0, as
 *     {@code endpoints[index]} in decisions
 * @param deny whether the entry denies (else it allows) what its patterns match
 */
record EndpointRule(
    String source,
    int line,
    int index,
    SubjectSelector subject,
    boolean deny,
    List<EndpointPattern> patterns) {

  EndpointRule {
    patterns = List.copyOf(patterns);
  }

  /** Whether one of the patterns matches {@code url}. */
  boolean names(EndpointUrl url) {
    for (EndpointPattern p : patterns) {
      if (p.matches(url)) {
        return true;
      }
    }
    return false;
  }

  /** {@code file:line: endpoints[i]}, for decisions. */
  String where() {
    return source + ":" + line + ": endpoints[" + index + "]";
  }
}
