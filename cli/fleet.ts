/**
 * `lockstep fleet`: the hosts sharing this host's PostgreSQL databases, with
 * their code versions, states and last beats, and the contract migrations
 * that wait for hosts on older code.
 *
 * @module
 */
import type { FleetStatus } from "../mod.ts";
import { command } from "./command.ts";
import { print, printJson } from "./output.ts";

export default command({
  name: "fleet",
  summary: "the hosts sharing the databases, and what waits for them",
  options: {},
  positionals: [],
  config: "required",
  async run({ config, values }) {
    const { fleetStatus } = await import("../lib/fleet/status.ts");
    const fleet = await fleetStatus(config);
    if (values.json) printJson({ ok: true, ...fleet });
    else renderFleet(fleet);
    return 0;
  },
});

/** The fleet as lines of text (also `lockstep status`'s fleet part). */
export function renderFleet(fleet: FleetStatus): void {
  print(`fleet (this host: ${fleet.self ?? "not registered yet"}):`);
  if (fleet.hosts.length === 0) print("  no host has registered yet");
  for (const host of fleet.hosts) {
    const stale = host.stale ? ", STALE: not counted" : "";
    print(
      `  ${host.host}${host.host === fleet.self ? " (this host)" : ""}: ` +
        `${host.codeVersion ?? "unversioned"}, ${host.state}${stale}, ` +
        `last seen ${ago(host.ageSeconds)} ago [${host.database}]`,
    );
  }
  for (const contract of fleet.waiting) {
    const hosts = contract.waitingFor.map((h) => `${h.host} (${h.codeVersion ?? "unversioned"})`);
    print(`  waiting: ${contract.id} (${contract.release}) for ${hosts.join(", ")}`);
  }
  if (fleet.mixed) {
    print(
      `  mixed versions (${fleet.mixed.versions.join(", ")}) for ${ago(fleet.mixed.sinceSeconds)}`,
    );
  }
}

function ago(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
