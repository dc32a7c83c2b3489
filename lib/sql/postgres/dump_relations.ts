/**
 * The built-in dump's last parts: views and materialized views (made empty,
 * with their indexes, and refreshed at the very end), then triggers (as
 * `pg_get_triggerdef` prints them, disabled ones disabled again) and
 * row-level security (policies, enabled and forced as they were), so that
 * nothing fires or filters while the data goes in.
 *
 * @module
 */
import {
  ident,
  IN_SCHEMAS,
  notInExtension,
  qualified,
  schemasParam,
  type Script,
} from "./dump_script.ts";

/** Views and materialized views (with their indexes), in creation order. */
export async function holdViews(script: Script, schemas: readonly string[]): Promise<void> {
  for (
    const view of await script.tx.unsafe(
      `select c.oid, n.nspname, c.relname, c.relkind::text, pg_get_viewdef(c.oid) as def,
              c.relispopulated, array_to_string(c.reloptions, ', ') as options
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} and c.relkind in ('v', 'm') and ${notInExtension("c.oid")}
        order by c.oid`,
      [schemasParam(schemas)],
    )
  ) {
    const name = qualified(view.nspname, view.relname);
    const options = view.options ? ` WITH (${view.options})` : "";
    const def = String(view.def).trim().replace(/;$/, "");
    if (view.relkind === "v") {
      script.later("relations", `CREATE VIEW ${name}${options} AS ${def};`);
      continue;
    }
    script.later("relations", `CREATE MATERIALIZED VIEW ${name}${options} AS ${def} WITH NO DATA;`);
    for (
      const index of await script.tx.unsafe(
        `select pg_get_indexdef(indexrelid) as def from pg_index where indrelid = $1
          order by indexrelid`,
        [view.oid],
      )
    ) script.later("relations", `${index.def};`);
    if (view.relispopulated) script.later("refresh", `REFRESH MATERIALIZED VIEW ${name};`);
  }
}

const COMMANDS: Record<string, string> = {
  r: "SELECT",
  a: "INSERT",
  w: "UPDATE",
  d: "DELETE",
  "*": "ALL",
};

/** Triggers (not the ones partitions inherit) and row-level security, after everything else. */
export async function holdTriggersAndPolicies(
  script: Script,
  schemas: readonly string[],
): Promise<void> {
  const { tx } = script;
  const param = [schemasParam(schemas)];
  for (
    const trigger of await tx.unsafe(
      `select pg_get_triggerdef(t.oid) as def, t.tgenabled::text, t.tgname,
              format('%I.%I', n.nspname, c.relname) as relation
         from pg_trigger t join pg_class c on c.oid = t.tgrelid
         join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} and not t.tgisinternal and t.tgparentid = 0
          and ${notInExtension("t.oid")}
        order by t.oid`,
      param,
    )
  ) {
    script.later("triggers", `${trigger.def};`);
    if (trigger.tgenabled === "D") {
      script.later(
        "triggers",
        `ALTER TABLE ${trigger.relation} DISABLE TRIGGER ${ident(trigger.tgname)};`,
      );
    }
  }
  for (
    const table of await tx.unsafe(
      `select format('%I.%I', n.nspname, c.relname) as name, c.relrowsecurity,
              c.relforcerowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} and (c.relrowsecurity or c.relforcerowsecurity) order by c.oid`,
      param,
    )
  ) {
    if (table.relrowsecurity) {
      script.later("triggers", `ALTER TABLE ${table.name} ENABLE ROW LEVEL SECURITY;`);
    }
    if (table.relforcerowsecurity) {
      script.later("triggers", `ALTER TABLE ${table.name} FORCE ROW LEVEL SECURITY;`);
    }
  }
  for (
    const policy of await tx.unsafe(
      `select p.polname, format('%I.%I', n.nspname, c.relname) as relation, p.polcmd::text,
              p.polpermissive, pg_get_expr(p.polqual, p.polrelid) as qual,
              pg_get_expr(p.polwithcheck, p.polrelid) as check,
              (select string_agg(case when r = 0 then 'PUBLIC' else quote_ident(
                 (select rolname from pg_roles where oid = r)) end, ', ')
                 from unnest(p.polroles) r) as roles
         from pg_policy p join pg_class c on c.oid = p.polrelid
         join pg_namespace n on n.oid = c.relnamespace
        where ${IN_SCHEMAS} order by p.oid`,
      param,
    )
  ) {
    const name = ident(policy.polname);
    script.later(
      "triggers",
      `CREATE POLICY ${name} ON ${policy.relation} AS ${
        policy.polpermissive ? "PERMISSIVE" : "RESTRICTIVE"
      } FOR ${COMMANDS[String(policy.polcmd)]} TO ${policy.roles ?? "PUBLIC"}` +
        (policy.qual === null ? "" : ` USING (${policy.qual})`) +
        (policy.check === null ? "" : ` WITH CHECK (${policy.check})`) + ";",
    );
  }
}
