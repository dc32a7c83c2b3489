/**
 * lockstep keeps an application's code and its databases in lockstep:
 * migrations across packages as one dependency graph, with a ledger, a lock
 * and checksums, on SQLite and PostgreSQL, and a read-only `check` that tells
 * whether the application may start.
 *
 * Every export is named here; the command line (`cli/`) uses nothing else.
 *
 * @example Gate start-up on the database state
 * ```ts
 * import { check, loadConfig } from "./mod.ts";
 *
 * const config = await loadConfig("lockstep.json");
 * const report = await check(config);
 * if (!report.ok) throw new Error(report.problems.map((p) => p.message).join("\n"));
 * ```
 *
 * @module
 */
export { VERSION } from "./lib/version.ts";
export { type EnvLookup, loadConfig, resolveConfig } from "./lib/config.ts";
export type { Config, Limits, PackageConfig, PacksConfig } from "./lib/config.ts";
export type { DatabaseConfig } from "./lib/sql/dialect.ts";
export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorData,
  type ErrorDataMap,
  EXIT,
  exitCodeFor,
  explainPermission,
  isLockstepError,
  LockstepError,
  type LockstepErrorOf,
} from "./lib/errors.ts";
export { redact } from "./lib/redact.ts";
export { check } from "./lib/check.ts";
export type {
  BundleStatus,
  CheckOptions,
  CheckProblem,
  CheckReport,
  Prerequisites,
  Severity,
} from "./lib/check.ts";
export { describeDrift } from "./lib/migrations/schema.ts";
export type { DriftChange, ItemKind, SchemaState } from "./lib/migrations/schema.ts";
export { status } from "./lib/migrations/status.ts";
export type { DatabaseStatus, MigrationStatus, PackageStatus } from "./lib/migrations/status.ts";
export { migrate } from "./lib/migrations/migrate.ts";
export type {
  MigrateEvent,
  MigrateOptions,
  MigrateResult,
  PlannedMigration,
  RunOptions,
  TransactionModes,
} from "./lib/migrations/migrate.ts";
export { stamp } from "./lib/migrations/stamp.ts";
export type { StampOptions, StampResult } from "./lib/migrations/stamp.ts";
export { newMigration, newRelease } from "./lib/migrations/scaffold.ts";
export type { NewOptions } from "./lib/migrations/scaffold.ts";
export type { AppliedRef, ChangedMigration, Plan } from "./lib/migrations/plan.ts";
export type { BaselineStep } from "./lib/migrations/baseline.ts";
export type { MigrationContext, MigrationModule, Phase } from "./lib/migrations/types.ts";
export type { FleetConfig } from "./lib/fleet/config.ts";
export type { FleetFacts, HeldContract } from "./lib/fleet/hold.ts";
export type { FleetHost, HostFacts, HostState } from "./lib/fleet/registry.ts";
export { joinFleet } from "./lib/fleet/presence.ts";
export { fleetStatus, forgetFleetHost } from "./lib/fleet/status.ts";
export type { FleetStatus } from "./lib/fleet/status.ts";
export type { FleetPresence, JoinOptions } from "./lib/fleet/presence.ts";
export type { SharedBackup } from "./lib/fleet/backup.ts";
export type { Dialect, Row, Sql } from "./lib/sql/driver.ts";
export type { RootFiles } from "./lib/files.ts";
export { keygen } from "./lib/bundles/signature.ts";
export type { KeygenResult } from "./lib/bundles/signature.ts";
export { createBundle } from "./lib/bundles/create.ts";
export type { CreateBundleOptions, CreateBundleResult } from "./lib/bundles/create.ts";
export { inspect } from "./lib/bundles/inspect.ts";
export type { BundleReport } from "./lib/bundles/inspect.ts";
export type { Manifest, ManifestFile } from "./lib/bundles/manifest.ts";
export { install } from "./lib/bundles/install.ts";
export type { JournalStep } from "./lib/journal.ts";
export type {
  InstalledBundle,
  InstallOptions,
  InstallResult,
  RefusedBundle,
} from "./lib/bundles/install.ts";
export { recover } from "./lib/recover.ts";
export type { RecoverResult } from "./lib/recover.ts";
export type { SafetyOptions } from "./lib/guard.ts";
export type { StepResult } from "./lib/flow.ts";
export { backup } from "./lib/backup/backup.ts";
export type { BackupOptions } from "./lib/backup/backup.ts";
export { listBackups } from "./lib/backup/list.ts";
export type { BackupInfo } from "./lib/backup/list.ts";
export type {
  BackupDatabase,
  BackupFiles,
  BackupManifest,
  BackupProgress,
} from "./lib/backup/manifest.ts";
export { pruneBackups } from "./lib/backup/prune.ts";
export type { PruneOptions, PruneResult } from "./lib/backup/prune.ts";
export { verifyBackup } from "./lib/backup/verify.ts";
export type { VerifyOptions, VerifyResult } from "./lib/backup/verify.ts";
export type { FilesProgress } from "./lib/backup/archive.ts";
export type { PostgresFormat } from "./lib/sql/postgres/dump.ts";
export type { Installed, State } from "./lib/state.ts";
export { restore } from "./lib/backup/restore.ts";
export type { RestoreOptions, RestorePlan, RestoreResult } from "./lib/backup/restore.ts";
export {
  maintenance,
  maintenanceOff,
  maintenanceOn,
  maintenanceStatus,
} from "./lib/maintenance.ts";
export type { MaintenanceOptions, MaintenanceState } from "./lib/maintenance.ts";
export { update } from "./lib/update.ts";
export type { UpdateOptions, UpdateResult, UpdateStep, UpdateStepResult } from "./lib/update.ts";
export { gate } from "./lib/gate.ts";
export { listPacks, packs } from "./lib/packs/list.ts";
export type { EnabledPack } from "./lib/packs/list.ts";
export type { PackStatus } from "./lib/packs/status.ts";
export { installPack } from "./lib/packs/install.ts";
export type {
  PackBundlePlan,
  PackInstallOptions,
  PackInstallPlan,
  PackInstallResult,
} from "./lib/packs/install.ts";
export { removePack } from "./lib/packs/remove.ts";
export type { PackRemoveOptions, PackRemovePlan, PackRemoveResult } from "./lib/packs/remove.ts";
export { disablePack, enablePack } from "./lib/packs/toggle.ts";
export type { PackToggleResult } from "./lib/packs/toggle.ts";
export type { PackStep } from "./lib/packs/run.ts";
export type { PackDeclaration } from "./lib/packs/declaration.ts";
export type { PackEvent, PackState } from "./lib/packs/pack_state.ts";
export { log } from "./lib/log.ts";
export { report } from "./lib/report/data.ts";
export type { ReportOptions } from "./lib/report/data.ts";
export { renderReport, writeReportHtml } from "./lib/report/html.ts";
export { reportHandler } from "./lib/report/handler.ts";
export type { ReportHandlerOptions } from "./lib/report/handler.ts";
export type {
  DatabaseReport,
  FeedOffer,
  FeedReport,
  Finding as ReportFinding,
  FindingLevel,
  ReportData,
  ReportPack,
  WaitingBundle,
} from "./lib/report/types.ts";
export type { LogEntry, LogOptions } from "./lib/log.ts";
export type { GateOptions } from "./lib/gate.ts";
export { feedCheck } from "./lib/feed/check.ts";
export type { FeedCheckOptions, FeedCheckResult } from "./lib/feed/check.ts";
export { feedFetch } from "./lib/feed/fetch.ts";
export type { FeedFetchOptions, FeedFetchResult, FetchedBundle } from "./lib/feed/fetch.ts";
export { feedStatus } from "./lib/feed/status.ts";
export type { FeedStatusReport, FeedSummary } from "./lib/feed/status.ts";
export { buildFeed, signFeed } from "./lib/feed/publish.ts";
export type { BuildFeedOptions, BuildFeedResult } from "./lib/feed/publish.ts";
export type { FeedConfig, FeedFetchPolicy, FeedLimits } from "./lib/feed/config.ts";
export type { FeedEntry, FeedIndex, FeedSecurity, SecurityLevel } from "./lib/feed/index.ts";
export type { EntryState, EntryStatus, InstalledState } from "./lib/feed/judge.ts";
export type { InstalledPack } from "./lib/feed/packs.ts";
export type { DownloadProgress } from "./lib/feed/download.ts";
export type { Clock } from "./lib/feed/trust.ts";
export type { FeedChannelState, FeedState } from "./lib/state.ts";
