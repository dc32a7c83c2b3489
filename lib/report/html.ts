/**
 * The operator report as one self-contained HTML page: the verdict first,
 * then the findings with the commands that resolve them, then what is
 * installed, what waits, each database and the safety net. It works offline
 * and without JavaScript, loads nothing (a Content-Security-Policy that
 * allows only its own style block), reads on a phone and prints cleanly.
 *
 * Every text that comes from a bundle, a feed, a migration, a database or a
 * message is untrusted: it is escaped at the point of output
 * ({@link escapeHtml}), never rendered as markup.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { writeFileAtomic } from "../files.ts";
import type { FleetStatus } from "../fleet/status.ts";
import type {
  DatabaseReport,
  FeedReport,
  Finding,
  ReportData,
  ReportPack,
  WaitingBundle,
} from "./types.ts";

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const e = escapeHtml;

const STYLE = `
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --ink: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --soft: #f6f8fa; font-family: system-ui, -apple-system, "Segoe UI", Roboto,
  "Noto Sans", sans-serif; color: var(--ink); }
body { margin: 0; line-height: 1.5; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
header.top { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .5rem;
  align-items: baseline; border-bottom: 1px solid var(--line); padding-bottom: .5rem; }
header.top h1 { font-size: 1.25rem; margin: 0; }
.meta { color: var(--muted); font-size: .875rem; }
.verdict { margin: 1.25rem 0; padding: 1rem 1.25rem; border-radius: .5rem; border: 2px solid;
  border-left-width: .75rem; }
.verdict h2 { margin: 0 0 .25rem; font-size: 1.6rem; }
.verdict p { margin: .25rem 0; }
.v-0 { border-color: var(--ok); background: #dafbe1; }
.v-3, .v-4 { border-color: var(--warn); background: #fff8c5; }
.v-5 { border-color: var(--bad); background: #ffebe9; }
h2.section { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line);
  padding-bottom: .25rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
.finding { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem;
  margin: .5rem 0; break-inside: avoid; }
.finding h3 { margin: 0 0 .25rem; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.finding p { margin: .25rem 0; }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; text-transform: uppercase;
  letter-spacing: .03em; padding: .05rem .5rem; border-radius: 1rem; border: 1px solid; }
.b-good { color: var(--ok); border-color: var(--ok); }
.b-attention { color: var(--warn); border-color: var(--warn); }
.b-critical, .b-security, .b-blocked { color: #fff; background: var(--bad); border-color: var(--bad); }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: .375rem;
  padding: .5rem .75rem; overflow-x: auto; margin: .5rem 0; white-space: pre-wrap;
  word-break: break-word; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .875rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .875rem; margin: .25rem 0 .75rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem;
  border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.notes { white-space: pre-wrap; word-break: break-word; max-width: 28rem; }
.empty { color: var(--muted); font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: .8rem; }
@media (max-width: 600px) { main { padding: .75rem; } .verdict h2 { font-size: 1.3rem; }
  dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: .35rem; }
  table.stack thead { display: none; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: auto; }
  table.stack tr { border: 1px solid var(--line); border-radius: .375rem; margin: .5rem 0;
    padding: .25rem .5rem; }
  table.stack td { border: 0; padding: .2rem 0; max-width: none; }
  table.stack td::before { content: attr(data-label); display: block; font-size: .75rem;
    color: var(--muted); text-transform: uppercase; letter-spacing: .03em; } }
@media print { .verdict, .finding, pre { background: none !important; }
  .b-critical, .b-security, .b-blocked { color: var(--bad); background: none; }
  h2.section { break-after: avoid; } table { page-break-inside: auto; } tr { break-inside: avoid; } }
`;

const STYLE_HASH = `sha256-${createHash("sha256").update(STYLE).digest("base64")}`;

/**
 * The Content-Security-Policy of the page: nothing may load or run; only
 * the page's own style block applies (by its hash).
 */
export const REPORT_CSP = `default-src 'none'; style-src '${STYLE_HASH}'; img-src data:; ` +
  `base-uri 'none'; form-action 'none'`;

const TITLES = {
  0: "May run",
  3: "Updates pending",
  4: "Migrations pending",
  5: "Blocked",
} as const;

/**
 * The whole page for `data`: one self-contained HTML document (see the
 * module documentation), every untrusted text escaped.
 *
 * Permissions: none.
 *
 * @throws Nothing.
 * @example
 * ```ts ignore
 * const html = renderReport(await report(config));
 * ```
 */
export function renderReport(data: ReportData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${e(REPORT_CSP)}">
<meta name="referrer" content="no-referrer">
<title>${e(data.app)}: ${e(TITLES[data.verdict.exitCode])} (lockstep report)</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header class="top"><h1>${e(data.app)} <span class="meta">lockstep report</span></h1>
<span class="meta">made ${e(when(data.generated))} by lockstep ${e(data.lockstep)}</span></header>
${verdict(data)}
<h2 class="section" id="findings">What to do</h2>
${data.findings.map(finding).join("\n")}
${installed(data)}
${waiting(data)}
<h2 class="section" id="databases">Databases</h2>
${data.databases.length === 0 ? empty("No database is used by a package.") : ""}
${data.databases.map(database).join("\n")}
${data.fleet ? fleetSection(data.fleet) : ""}
${safety(data)}
<footer>This page is read-only: changes are made with the commands shown, by an administrator on
the host. It loads nothing and runs no script.</footer>
</main>
</body>
</html>
`;
}

function verdict(data: ReportData): string {
  const v = data.verdict;
  const m = v.maintenance;
  const maintenance = m.on
    ? `<p><span class="badge b-attention">maintenance on</span> since ${e(when(m.since))} by ${
      e(m.by)
    }: ${e(m.message)}</p>`
    : `<p>Maintenance mode is off.</p>`;
  return `<section class="verdict v-${v.exitCode}" id="verdict">
<h2>${e(TITLES[v.exitCode])}</h2>
<p>${e(v.summary)}</p>
<p class="meta">check exits ${v.exitCode}</p>
${maintenance}
</section>`;
}

function finding(f: Finding): string {
  return `<article class="finding f-${f.level}" data-code="${e(f.code)}">
<h3><span class="badge b-${f.level}">${e(f.level)}</span> ${e(f.label)}</h3>
<p>${e(f.description)}</p>
${f.command === null ? "" : `<pre><code>${e(f.command)}</code></pre>`}
</article>`;
}

function installed(data: ReportData): string {
  const i = data.installed;
  const p = i.prerequisites;
  const history = i.history.length === 0 ? empty("Nothing was installed by lockstep yet.") : table(
    ["version", "when", "from", "action"],
    i.history.map((h) => [h.version, h.at, h.bundle, h.action ?? "install"]),
  );
  return `<h2 class="section" id="installed">Installed</h2>
<dl class="facts">
<dt>Version</dt><dd>${e(i.version ?? "(no version file)")}</dd>
<dt>Highest ever installed</dt><dd>${e(i.highWater ?? "-")}</dd>
<dt>This host</dt><dd>Deno ${e(p.deno)}, lockstep ${e(p.lockstep)}</dd>
<dt>The release requires</dt><dd>${
    e(Object.entries(p.requires).map(([k, r]) => `${k} ${r}`).join(", ") || "nothing")
  }${
    p.unmet.length ? ` <span class="badge b-blocked">unmet: ${e(p.unmet.join(", "))}</span>` : ""
  }</dd>
</dl>
<h3>Packs</h3>
${i.packs.length === 0 ? empty("No packs are installed.") : packTable(i.packs)}
<h3>History</h3>
${history}`;
}

function waiting(data: ReportData): string {
  const bundles = data.waiting.bundles;
  return `<h2 class="section" id="waiting">Waiting</h2>
<h3>Bundles in pending/</h3>
${bundles.length === 0 ? empty("No update bundle is waiting.") : bundleTable(bundles)}
<h3>Online feed</h3>
${
    data.waiting.feed === null
      ? empty("No update feed is configured.")
      : feedSection(data.waiting.feed)
  }`;
}

function packTable(packs: readonly ReportPack[]): string {
  return table(
    ["pack", "version", "state", "requires", "required by", "pending migrations", "last change"],
    packs.map((p) => {
      const last = p.history[0];
      return [
        p.name,
        p.version ?? "removed",
        `${p.version === null ? "removed" : p.enabled ? "enabled" : "disabled"}` +
        (p.unmet.length > 0 ? `; UNMET: ${p.unmet.join(", ")}` : "") + ` (from ${p.source})`,
        Object.entries(p.requires).map(([k, r]) => `${k} ${r}`).join(", ") || "nothing",
        p.dependents.join(", ") || "-",
        p.pending === null ? "-" : String(p.pending.length),
        last ? `${last.action} ${last.version} (${when(last.at)})` : "-",
      ];
    }),
  );
}

function feedSection(feed: FeedReport): string {
  const saved = feed.saved
    ? `seq ${feed.saved.seq}, issued ${when(feed.saved.issued)}, expires ${
      when(feed.saved.expires)
    }, signed by ${feed.saved.key}; checked ${when(feed.saved.checked)}`
    : "never checked";
  const stale = feed.stale === null
    ? ""
    : ` <span class="badge b-attention">stale</span> ${e(feed.stale)}`;
  const rows = feed.offers.map((o) => {
    const security = o.security === null
      ? ""
      : `<span class="badge ${o.security.level === "critical" ? "b-blocked" : "b-security"}">` +
        `${e(o.security.level)} security${o.security.applies ? "" : " (not for this version)"}` +
        `</span> ${e(o.security.advisories.join(", "))}`;
    const db = o.database.length === 0
      ? ""
      : `<ul>${o.database.map((line) => `<li>${e(line)}</li>`).join("")}</ul>`;
    const cell = (label: string, html: string, cls = "") =>
      `<td data-label="${label}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;
    return `<tr data-offer="${e(o.name)}">${
      cell("release", `${e(o.kind)} <code>${e(o.name)}</code>`)
    }${cell("installed → offered", `${e(o.installed ?? "none")} → ${e(o.offered)}`)}${
      cell("here", `${e(o.state)}${o.reason ? `: ${e(o.reason)}` : ""} ${security}`)
    }${cell("released", e(when(o.released)))}${
      cell("notes and database changes", `${e(o.notes)}${db}`, "notes")
    }</tr>`;
  });
  return `<p>${e(feed.url)} (channel ${e(feed.channel)}): ${e(saved)}${stale}</p>
${
    rows.length === 0
      ? empty("The saved index offers nothing.")
      : `<div class="scroll"><table class="stack"><thead><tr><th>release</th>` +
        `<th>installed → offered</th><th>here</th><th>released</th><th>notes and database changes</th>` +
        `</tr></thead><tbody>${rows.join("")}</tbody></table></div>`
  }`;
}

function bundleTable(bundles: readonly WaitingBundle[]): string {
  const rows = bundles.map((b) => {
    const badges = [
      b.security ? `<span class="badge b-security">security</span>` : "",
      b.applies
        ? `<span class="badge b-good">applies</span>`
        : `<span class="badge b-attention">does not apply</span>`,
    ].join(" ");
    const why = b.problem ? `<br><code>${e(b.problem.code)}</code> ${e(b.problem.message)}` : "";
    const db = b.database.length === 0
      ? ""
      : `<ul>${b.database.map((line) => `<li>${e(line)}</li>`).join("")}</ul>`;
    const cell = (label: string, html: string, cls = "") =>
      `<td data-label="${label}"${cls ? ` class="${cls}"` : ""}>${html}</td>`;
    return `<tr data-file="${e(b.file)}">${cell("file", `<code>${e(b.file)}</code>`)}${
      cell("version", `${b.pack ? `pack ${e(b.pack)} ` : ""}${e(b.version ?? "?")}`)
    }${cell("status", `${badges}${why}`)}${cell("released", e(when(b.released)))}${
      cell("size", e(size(b.size)))
    }${cell("signed by", e(b.signedBy ?? "unsigned"))}${
      cell("notes and database changes", `${e(b.notes)}${db}`, "notes")
    }</tr>`;
  });
  return `<div class="scroll"><table class="stack"><thead><tr><th>file</th><th>version</th><th>status</th>` +
    `<th>released</th><th>size</th><th>signed by</th><th>notes and database changes</th></tr>` +
    `</thead><tbody>${rows.join("")}</tbody></table></div>`;
}

function database(db: DatabaseReport): string {
  const drift = db.schema.drift.length === 0
    ? ""
    : `<h3>Changed outside migrations <span class="badge b-blocked">drift</span></h3>` +
      table(
        ["table", "kind", "name", "change"],
        db.schema.drift.map((c) => [c.table, c.kind, c.name, c.change]),
      );
  const list = (title: string, ids: readonly string[], badge: string) =>
    ids.length === 0
      ? ""
      : `<h3>${e(title)} <span class="badge b-${badge}">${ids.length}</span></h3><ul>${
        ids.map((id) => `<li><code>${e(id)}</code></li>`).join("")
      }</ul>`;
  return `<section class="database" data-database="${e(db.name)}">
<h3>${e(db.name)} <span class="meta">${e(db.dialect)} · ${e(db.url)}</span></h3>
<dl class="facts">
<dt>Exists</dt><dd>${db.exists ? "yes" : "not yet"}</dd>
<dt>Applied migrations</dt><dd>${db.applied}</dd>
<dt>Schema record</dt><dd>${e(db.schema.record)}</dd>
</dl>
${list("Pending migrations", db.pending.map((p) => p.id), "attention")}
${list("Held for hosts on older code", db.held.map((p) => p.id), "attention")}
${list("Ahead of the code", db.ahead, "blocked")}
${list("A newer release's expand migrations (this code runs on them)", db.newer, "attention")}
${list("Changed since applied", db.changed, "blocked")}
${drift}
</section>`;
}

function fleetSection(fleet: FleetStatus): string {
  const hosts = fleet.hosts.length === 0 ? empty("No host has registered yet.") : table(
    ["host", "code", "state", "last seen", "running since", "database"],
    fleet.hosts.map((h) => [
      `${h.host}${h.host === fleet.self ? " (this host)" : ""}`,
      h.codeVersion ?? "unversioned",
      h.stale ? `${h.state}, stale: not counted` : h.state,
      `${ago(h.ageSeconds)} (${when(h.lastSeen)})`,
      when(h.versionSince),
      h.database,
    ]),
  );
  const waiting = fleet.waiting.length === 0
    ? empty("No contract migration waits for a host.")
    : table(
      ["contract migration", "release", "waits for"],
      fleet.waiting.map((c) => [
        c.id,
        c.release ?? "?",
        c.waitingFor.map((h) => `${h.host} (${h.codeVersion ?? "unversioned"}, ${h.state})`).join(
          ", ",
        ),
      ]),
    );
  const mixed = fleet.mixed === null
    ? "every running host runs one version"
    : `${fleet.mixed.versions.join(", ")} for ${ago(fleet.mixed.sinceSeconds)}`;
  return `<h2 class="section" id="fleet">Fleet</h2>
<dl class="facts">
<dt>This host</dt><dd>${e(fleet.self ?? "not registered yet")}</dd>
<dt>Versions</dt><dd>${e(mixed)}</dd>
<dt>Stale after</dt><dd>${fleet.staleAfterSeconds} s unseen</dd>
</dl>
<h3>Hosts</h3>
${hosts}
<h3>Waiting for hosts</h3>
${waiting}`;
}

/** `12 s`, `5 min`, `3 h`, `2 days`. */
function ago(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function safety(data: ReportData): string {
  const s = data.safety;
  const latest = s.latestBackup
    ? `${e(s.latestBackup.id)} (${e(when(s.latestBackup.created))})`
    : `<span class="badge b-attention">none</span>`;
  const disk = s.disk.free === null
    ? "not measured (grant --allow-sys=statfs)"
    : `${megabytes(s.disk.free)} free; the next update needs about ${megabytes(s.disk.needed)}`;
  const events = s.events.length === 0 ? empty("No events yet.") : table(
    ["when", "where", "action", "what", "took", "host", "outcome"],
    s.events.map((
      ev,
    ) => [
      when(ev.at),
      ev.source,
      ev.action,
      ev.id ?? "-",
      ev.durationMs === null ? "" : `${ev.durationMs} ms`,
      ev.host ?? "",
      ev.outcome === "failed" ? `failed: ${ev.message}` : "ok",
    ]),
  );
  return `<h2 class="section" id="safety">Safety net</h2>
<dl class="facts">
<dt>Newest valid backup</dt><dd>${latest}</dd>
<dt>Backups</dt><dd>${s.backups.count} (${s.backups.valid} valid), ${
    megabytes(s.backups.bytes)
  }</dd>
<dt>Disk (${e(s.disk.folder)})</dt><dd>${e(disk)}</dd>
<dt>Interrupted work</dt><dd>${
    s.interrupted.length === 0 ? "none" : s.interrupted.map(e).join("<br>")
  }</dd>
</dl>
<h3>Recent events</h3>
${events}`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<div class="scroll"><table><thead><tr>${
    head.map((h) => `<th>${e(h)}</th>`).join("")
  }</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${e(c)}</td>`).join("")}</tr>`).join("")
  }</tbody></table></div>`;
}

function empty(text: string): string {
  return `<p class="empty">${e(text)}</p>`;
}

function megabytes(bytes: number): string {
  return size(bytes);
}

/** A size people read: bytes, KB, MB or GB. */
function size(bytes: number): string {
  if (bytes < 1e3) return `${bytes} bytes`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} KB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** `2026-11-29 21:28 UTC` from an ISO 8601 time; other text as it is. */
function when(iso: string | null): string {
  if (iso === null) return "-";
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}

/**
 * Writes the page for `data` to `path`, atomically (a temp file beside it,
 * fsynced, then renamed): a reader never sees half a page.
 *
 * Permissions: `--allow-write` (and `--allow-read`) on the folder of `path`.
 *
 * @throws {LockstepError} `ACCESS_DENIED`, `DISK_FULL`, `IO_FAILED`, `PERMISSION_DENIED`.
 * @example
 * ```ts ignore
 * await writeReportHtml(await report(config), "/srv/shop/admin/lockstep.html");
 * ```
 */
export async function writeReportHtml(data: ReportData, path: string): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(renderReport(data)), { mode: 0o640 });
}
