package dev.clawfs.tools;

import com.dylibso.chicory.log.Logger;

/**
 * Chicory's WASI layer traces every call; a tool's actions are reported through run records, so its
 * log is off (and costs one boolean per call).
 */
enum QuietLogger implements Logger {
  INSTANCE;

  @Override
  public void log(Level level, String msg, Throwable throwable) {}

  @Override
  public boolean isLoggable(Level level) {
    return false;
  }
}
