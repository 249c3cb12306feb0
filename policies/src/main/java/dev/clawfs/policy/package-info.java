/**
 * Access policy of a ClawFS mount: which subject (root, a user, an agent) may do which action on
 * which path, beyond what Unix modes allow, which behaviour of a subject is an anomaly, which
 * model endpoints an agent may call and which injection patterns its scanner uses.
 *
 * <p>Entry points: {@link dev.clawfs.policy.Policy#load} parses one policy file (YAML or JSON)
 * with errors that name file, line and column; {@link dev.clawfs.policy.PolicySet#of} puts
 * several files in force at once and answers {@link dev.clawfs.policy.PolicySet#decide} and
 * {@link dev.clawfs.policy.PolicySet#visible} on every FUSE operation, and
 * {@link dev.clawfs.policy.PolicySet#decideTool} before a WebAssembly tool is run,
 * {@link dev.clawfs.policy.PolicySet#decideEndpoint} before an agent calls a model endpoint, and
 * {@link dev.clawfs.policy.PolicySet#injectionPatterns} for an agent's injection scanner;
 * {@link dev.clawfs.policy.AnomalyDetector} watches denials, reads and execs. The file format
 * and its semantics are described in the module's README.
 */
package dev.clawfs.policy;
