/**
 * The shapes of the operator report (`schema/report.schema.json` describes
 * the same as JSON).
 *
 * @module
 */
import type { CheckReport } from "../check.ts";
import type { LogEntry } from "../log.ts";
import type { MaintenanceState } from "../maintenance.ts";
import type { DriftChange } from "../migrations/schema.ts";
import type { Installed } from "../state.ts";
import type { FleetStatus } from "../fleet/status.ts";
import type { PackEvent } from "../packs/pack_state.ts";
import type { PackStatus } from "../packs/status.ts";

/** How a finding stands, as Site Health words it. */
export type FindingLevel = "good" | "attention" | "critical";

/** One thing the administrator should know, and the command that resolves it. */
export interface Finding {
  /** `good`, `attention` or `critical`. */
  readonly level: FindingLevel;
  /** A stable code (an error or problem code, or `OK_*` for good news). */
  readonly code: string;
  /** One line. */
  readonly label: string;
  /** What it means, in a sentence or two. */
  readonly description: string;
  /** The exact command that resolves it, when there is one. */
  readonly command: string | null;
}

/** A pending bundle, as the report shows it. */
export interface WaitingBundle {
  /** Its file name in `pending/`. */
  readonly file: string;
  /** Its version, when the manifest reads. */
  readonly version: string | null;
  /** The pack it updates, for a pack bundle; `null` for the app's own. */
  readonly pack: string | null;
  /** A security release. */
  readonly security: boolean;
  /** Release notes (untrusted text). */
  readonly notes: string;
  /** What it changes in the databases, line by line (untrusted text). */
  readonly database: readonly string[];
  /** When it was released, per its manifest. */
  readonly released: string | null;
  /** The zip's size in bytes. */
  readonly size: number;
  /** The key id that signed it, or `null` when unsigned or not verified. */
  readonly signedBy: string | null;
  /** True when `install` would install it now. */
  readonly applies: boolean;
  /** Why it does not apply or cannot be used. */
  readonly problem: { readonly code: string; readonly message: string } | null;
}

/** An installed (or removed) pack, as the report shows it: its status and its history. */
export interface ReportPack extends Omit<PackStatus, "folder"> {
  /** Installs, removals, enables and disables, newest first. */
  readonly history: readonly PackEvent[];
}

/** A release the saved feed offers, as it stands here. */
export interface FeedOffer {
  /** `app` or `pack`. */
  readonly kind: "app" | "pack";
  /** The app's or pack's name. */
  readonly name: string;
  /** The version installed here, or `null`. */
  readonly installed: string | null;
  /** The version offered. */
  readonly offered: string;
  /** `update`, `held`, `installed`, `older`, `not-installed`, … (see `feed status`). */
  readonly state: string;
  /** Why it does not apply, or `null`. */
  readonly reason: string | null;
  /** Its security flag (`critical` or not), its advisories, and whether it applies here. */
  readonly security: {
    readonly level: string;
    readonly advisories: readonly string[];
    readonly applies: boolean;
  } | null;
  /** Release notes (untrusted text). */
  readonly notes: string;
  /** What it changes in the databases, line by line (untrusted text). */
  readonly database: readonly string[];
  /** When it was released, per the feed. */
  readonly released: string | null;
  /** The bundle's size in bytes. */
  readonly size: number;
}

/** The saved update feed (read offline), as the report shows it. */
export interface FeedReport {
  /** The feed's location, credentials masked. */
  readonly url: string;
  /** The channel followed. */
  readonly channel: string;
  /** The index accepted last, or `null` when none was. */
  readonly saved: {
    readonly seq: number;
    readonly issued: string;
    readonly expires: string;
    readonly checked: string;
    readonly key: string;
  } | null;
  /** Why the saved index is stale, or `null`. */
  readonly stale: string | null;
  /** What `feed check` would exit with on it: 0, 7 (updates) or 8 (a critical one). */
  readonly exitCode: 0 | 7 | 8;
  /** Every release it offers, as it stands here. */
  readonly offers: readonly FeedOffer[];
}

/** One database, as the report shows it. */
export interface DatabaseReport {
  /** Its configured name. */
  readonly name: string;
  /** `sqlite` or `postgres`. */
  readonly dialect: string;
  /** Its URL, credentials masked. */
  readonly url: string;
  /** False for a SQLite file not created yet. */
  readonly exists: boolean;
  /** Migrations recorded in its ledger. */
  readonly applied: number;
  /** Pending migrations on it, in order, with what each does. */
  readonly pending: readonly { readonly id: string; readonly package: string }[];
  /** In a fleet: migrations held back for hosts with older code, in order. */
  readonly held: readonly { readonly id: string; readonly package: string }[];
  /** Ledger ids the code does not know (the database is ahead). */
  readonly ahead: readonly string[];
  /** In a fleet: a newer release's expand migrations, which this code runs on. */
  readonly newer: readonly string[];
  /** Applied migrations whose file changed. */
  readonly changed: readonly string[];
  /** Whether its schema record is current, and every change made outside migrations. */
  readonly schema: {
    readonly record: "current" | "stale" | "unrecorded" | "undetermined" | "none";
    readonly drift: readonly DriftChange[];
  };
}

/** The report: see the module documentation. */
export interface ReportData {
  /** Format of this document: 1. */
  readonly format: 1;
  /** The application. */
  readonly app: string;
  /** When the report was made (ISO 8601, UTC). */
  readonly generated: string;
  /** lockstep's version. */
  readonly lockstep: string;
  /** The decision, in words, with check's exit code and maintenance mode. */
  readonly verdict: {
    readonly exitCode: 0 | 3 | 4 | 5;
    readonly state: "may run" | "updates pending" | "migrations pending" | "blocked";
    readonly summary: string;
    readonly maintenance: MaintenanceState;
  };
  /** What is installed. */
  readonly installed: {
    readonly version: string | null;
    readonly highWater: string | null;
    readonly history: readonly Installed[];
    readonly prerequisites: CheckReport["prerequisites"];
    /** Every pack lockstep installed (removed ones too), with its requirements. */
    readonly packs: readonly ReportPack[];
  };
  /** What waits to be installed. */
  readonly waiting: {
    readonly bundles: readonly WaitingBundle[];
    /** The saved update feed, or `null` when no feed is configured. */
    readonly feed: FeedReport | null;
  };
  /** Each database the packages use. */
  readonly databases: readonly DatabaseReport[];
  /** The fleet (`fleet` in lockstep.json), or `null` for a host on its own. */
  readonly fleet: FleetStatus | null;
  /** The safety net. */
  readonly safety: {
    readonly latestBackup: CheckReport["latestBackup"];
    readonly backups: { readonly count: number; readonly valid: number; readonly bytes: number };
    /** Free space where staging and backups go, against what the next update needs (bytes); `null` when not measured. */
    readonly disk: {
      readonly free: number | null;
      readonly needed: number;
      readonly folder: string;
    };
    /** Problems that block (an interrupted install, restore, undo or migration). */
    readonly interrupted: readonly string[];
    /** The newest events of the ledgers and the code's history. */
    readonly events: readonly LogEntry[];
  };
  /** Every finding, most serious first. */
  readonly findings: readonly Finding[];
}
