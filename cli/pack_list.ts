/**
 * `lockstep pack list`: every pack lockstep knows, with its version, source,
 * whether it is enabled, its requirements, the packs that require it and its
 * pending migrations. Reads only.
 *
 * @module
 */
import type { PackStatus } from "../mod.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "pack list",
  summary: "the packs: version, source, enabled, requirements, dependents, pending migrations",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { listPacks } = await import("../lib/packs/list.ts");
    const packs = await listPacks(config);
    if (values.json) printJson({ ok: true, packs });
    else if (packs.length === 0) {
      print(`No packs are installed (their bundles go in pending/; see "lockstep pack install").`);
    } else for (const pack of packs) print(line(pack));
    return 0;
  },
});

/** `reviews 0.2.0 (local) enabled; requires app >=1.0; needed by ratings; 1 migration pending`. */
function line(pack: PackStatus): string {
  const state = pack.version === null ? "removed" : pack.enabled ? "enabled" : "disabled";
  const requires = Object.entries(pack.requires).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `${pack.name} ${pack.version ?? "-"} (${pack.source}) ${state}`,
    ...(requires ? [`requires ${requires}`] : []),
    ...(pack.unmet.length ? [`UNMET: ${pack.unmet.join(", ")}`] : []),
    ...(pack.dependents.length ? [`required by ${pack.dependents.join(", ")}`] : []),
    ...(pack.pending === null ? [] : [`${pack.pending.length} migration(s) pending`]),
  ].join("; ");
}
