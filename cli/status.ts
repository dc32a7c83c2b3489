/**
 * `lockstep status`: migrations per package and database, the ones ahead of
 * the code or changed since they were applied, and in a fleet the hosts
 * with their code versions and the contract migrations they hold back.
 *
 * @module
 */
import type { EnabledPack, MigrationStatus } from "../mod.ts";
import { renderFleet } from "./fleet.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "status",
  summary: "migrations per package and database",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { fleetStatus } = await import("../lib/fleet/status.ts");
    const { packs } = await import("../lib/packs/list.ts");
    const { status } = await import("../lib/migrations/status.ts");
    const state = await status(config);
    if (values.json) printJson({ ok: true, ...state });
    else {
      renderStatus(state, await packs(config));
      if (config.fleet) renderFleet(await fleetStatus(config));
    }
    return 0;
  },
});

function renderStatus(state: MigrationStatus, enabled: readonly EnabledPack[]): void {
  for (const db of state.databases) {
    const note = db.exists
      ? (db.ledger ? `${db.rows} ledger row(s)` : "no ledger yet")
      : "does not exist yet";
    print(`database ${db.name} (${db.url}): ${note}`);
  }
  for (const pkg of state.packages) {
    const pack = enabled.find((p) => p.name === pkg.name);
    const what = pack === undefined ? `package ${pkg.name}` : `pack ${pkg.name} ${pack.version}`;
    print(
      `${what} → ${pkg.database}: ${pkg.applied.length}/${pkg.total} applied` +
        (pkg.version ? `, at ${pkg.version}` : ""),
    );
    for (const id of pkg.pending) print(`  pending ${id}`);
    for (const id of pkg.held) {
      const waiting = state.contracts.find((c) => c.id === id);
      print(
        `  held ${id}` +
          (waiting
            ? `: contract migration, waits for ${
              waiting.waitingFor.map((h) => `${h.host} (${h.codeVersion ?? "unversioned"})`).join(
                ", ",
              )
            }`
            : ": follows a held contract migration"),
      );
    }
  }
  for (const row of state.ahead) {
    print(`  AHEAD: ${row.id} (in ${row.database}) is unknown to this code`);
  }
  for (const changed of state.changed) {
    print(`  CHANGED: ${changed.id} differs from what was applied`);
  }
  for (const row of state.newer) {
    print(`  NEWER: ${row.id} (in ${row.database}) is an expand migration of a newer release`);
  }
}
