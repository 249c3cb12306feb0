package dev.clawfs.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The option language of fstab, mount(8) and {@code clawfs mount -o}. */
class MountOptionsTest {
  @Test
  void whatMountPassesTheHelperForAnFstabLine() {
    // as util-linux 2.38 hands it to /sbin/mount.fuse.clawfs for
    // passphrase_file=/etc/k,allow_other,_netdev,nofail,users,uid=1000,noatime (users adds noexec,nosuid,nodev)
    MountOptions o = MountOptions.parse("rw,noexec,nosuid,nodev,passphrase_file=/etc/k,allow_other,uid=1000,_netdev,nofail,users,noatime");
    assertEquals(Path.of("/etc/k"), o.passphraseFile());
    assertEquals("noexec,nosuid,nodev,allow_other,uid=1000,noatime", o.fuseOptions());
    assertFalse(o.readOnly());
    assertTrue(o.noAtime());
  }

  @Test
  void whatFuse3sMountFuseAddsIsAccepted() {
    MountOptions o = MountOptions.parse("ro,passphrase_file=/k,dev,suid");
    assertEquals("ro,dev,suid", o.fuseOptions());
    assertTrue(o.readOnly());
    assertTrue(o.noAtime(), "a read-only mount never moves atime");
  }

  @Test
  void fstabAndSystemdOnlyOptionsAreIgnored() {
    MountOptions o = MountOptions.parse("defaults,auto,noauto,user,nouser,users,owner,group,_netdev,nofail,comment=x,"
        + "x-systemd.automount,x-systemd.requires-mounts-for=/var,X-mount.mkdir,helper=fuse.clawfs,default_permissions,big_writes,relatime");
    assertNull(o.fuseOptions());
    assertNull(o.passphraseFile());
  }

  @Test
  void speedOptionsAreCheckedAndPassedOn() {
    MountOptions o = MountOptions.parse("max_read=65536,max_write=131072,max_readahead=1048576,max_background=24,"
        + "congestion_threshold=18,entry_timeout=2,negative_timeout=0.5,attr_timeout=0,async_read,sync");
    assertEquals("max_read=65536,max_write=131072,max_readahead=1048576,max_background=24,congestion_threshold=18,"
        + "entry_timeout=2,negative_timeout=0.5,attr_timeout=0,async_read,sync", o.fuseOptions());
    for (String bad : List.of("max_write=1048576", "max_read=12x", "entry_timeout=-1", "uid=alice", "max_background=0")) {
      ClawfsCli.CliException e = assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse(bad));
      assertEquals(ClawfsCli.USAGE, e.code);
      assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
    }
  }

  @Test
  void serverSettingsGoToTheServersOptions() {
    MountOptions o = MountOptions.parse("commit_interval_ms=250,nosearch,audit_history_mib=0,"
        + "embedding_model=bge-small-en-v1.5,embeddings_url=\"http://127.0.0.1:8080/v1\",embeddings_key_file=/etc/clawfs/e.key");
    ClawfsCli.PassphraseOptions pass = new ClawfsCli.PassphraseOptions();
    ClawfsCli.SearchOptions search = new ClawfsCli.SearchOptions();
    ClawfsCli.AuditOptions audit = new ClawfsCli.AuditOptions();
    o.applyTo(pass, search, audit);
    assertEquals(250, o.commitIntervalMs(1000));
    assertTrue(search.disabled);
    assertEquals("bge-small-en-v1.5", search.model);
    assertEquals("http://127.0.0.1:8080/v1", search.url);
    assertEquals(Path.of("/etc/clawfs/e.key"), search.keyFile);
    assertEquals(0, audit.historyMiB);
    assertNull(o.fuseOptions(), "none of them is libfuse's");
  }

  @Test
  void keyringTimeoutIsAServerSetting() {
    MountOptions o = MountOptions.parse("keyring_timeout=900,ro");
    assertEquals(900, o.keyringTimeout(0));
    assertEquals("ro", o.fuseOptions());
    assertEquals(0, MountOptions.parse("ro").keyringTimeout(0));
    for (String bad : List.of("keyring_timeout=-1", "keyring_timeout=1h", "keyring_timeout=31536001")) {
      ClawfsCli.CliException e = assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse(bad));
      assertEquals(ClawfsCli.USAGE, e.code);
    }
  }

  @Test
  void quotedValuesMayHoldCommas() {
    assertEquals(Path.of("/etc/clawfs/a,b.key"), MountOptions.parse("passphrase_file=\"/etc/clawfs/a,b.key\",ro").passphraseFile());
    assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse("passphrase_file=\"/etc/k"));
  }

  @Test
  void unknownOptionsAreRefusedUnlessSloppy() {
    ClawfsCli.CliException e = assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse("ro,frobnicate"));
    assertEquals(ClawfsCli.USAGE, e.code);
    assertTrue(e.getMessage().startsWith("unknown mount option 'frobnicate'"), e.getMessage());
    for (String refused : List.of("kernel_cache", "auto_cache", "direct_io", "fsname=x", "subtype=y", "umask=022", "setuid=bob",
        "splice_read", "strictatime")) {
      assertThrows(ClawfsCli.CliException.class, () -> MountOptions.parse(refused), refused);
    }
    MountOptions sloppy = MountOptions.parse("ro,frobnicate,kernel_cache", true);
    assertTrue(sloppy.readOnly());
    assertEquals(2, sloppy.warnings().size(), sloppy.warnings().toString());
    assertNull(MountOptions.parse("").fuseOptions(), "no options at all (the unit's empty OPTIONS=)");
  }
}
