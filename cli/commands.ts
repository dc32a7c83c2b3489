/**
 * The registry: every command, in the order `lockstep help` lists them.
 * Adding a command is one file in `cli/` and one line here; its usage,
 * help and "did you mean" follow from its declaration.
 *
 * @module
 */
import type { AnyCommand } from "./command.ts";
import backup from "./backup.ts";
import backupPrune from "./backup_prune.ts";
import backupVerify from "./backup_verify.ts";
import backups from "./backups.ts";
import bundleCreate from "./bundle_create.ts";
import bundleInspect from "./bundle_inspect.ts";
import check from "./check.ts";
import fleet from "./fleet.ts";
import fleetForget from "./fleet_forget.ts";
import feedBuild from "./feed_build.ts";
import feedCheck from "./feed_check.ts";
import feedFetch from "./feed_fetch.ts";
import feedSign from "./feed_sign.ts";
import feedStatus from "./feed_status.ts";
import install from "./install.ts";
import keygen from "./keygen.ts";
import log from "./log.ts";
import maintenance from "./maintenance.ts";
import migrate from "./migrate.ts";
import newCommand from "./new.ts";
import packDisable from "./pack_disable.ts";
import packEnable from "./pack_enable.ts";
import packInstall from "./pack_install.ts";
import packList from "./pack_list.ts";
import packRemove from "./pack_remove.ts";
import recover from "./recover.ts";
import report from "./report.ts";
import restore from "./restore.ts";
import stamp from "./stamp.ts";
import start from "./start.ts";
import status from "./status.ts";
import update from "./update.ts";

/** Every command lockstep has. */
export const COMMANDS: readonly AnyCommand[] = [
  check,
  status,
  migrate,
  stamp,
  newCommand,
  log,
  report,
  backup,
  backups,
  backupVerify,
  backupPrune,
  restore,
  install,
  recover,
  update,
  start,
  fleet,
  fleetForget,
  maintenance,
  keygen,
  bundleCreate,
  bundleInspect,
  packList,
  packInstall,
  packRemove,
  packEnable,
  packDisable,
  feedCheck,
  feedFetch,
  feedStatus,
  feedBuild,
  feedSign,
];
