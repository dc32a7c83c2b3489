/**
 * The built-in dump's routines: functions and procedures as
 * `pg_get_functiondef` prints them, and aggregates rebuilt from
 * `pg_aggregate`. They go after the types and before the tables (column
 * defaults, generated columns and checks may call them, and the script runs
 * with `check_function_bodies` off), except those that cannot: a routine
 * over a table's row type, or a SQL-standard body (`BEGIN ATOMIC`, parsed
 * against the tables), and the aggregates built on them, which wait until
 * the tables and their data are in (the `afterData` phase, before the
 * constraints).
 *
 * @module
 */
import { IN_SCHEMAS, notInExtension, schemasParam, type Script, statement } from "./dump_script.ts";

const ROUTINES = `
select p.oid, p.prokind::text, p.proname,
  case when p.prokind = 'a' then null else pg_get_functiondef(p.oid) end as definition,
  p.prosqlbody is not null or exists (
    select 1 from pg_depend d join pg_type t on t.oid = d.refobjid
      left join pg_type elem on elem.oid = t.typelem
      join pg_class c on c.oid = coalesce(nullif(t.typrelid, 0), elem.typrelid)
     where d.classid = 'pg_proc'::regclass and d.objid = p.oid
       and d.refclassid = 'pg_type'::regclass and c.relkind <> 'c') as over_tables,
  (select coalesce(json_agg(d.refobjid), '[]') from pg_depend d
    where d.classid = 'pg_proc'::regclass and d.objid = p.oid
      and d.refclassid = 'pg_proc'::regclass)::text as uses
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where ${IN_SCHEMAS} and ${notInExtension("p.oid")}
   -- A range type's constructors come with the type.
   and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'i')
 order by p.prokind = 'a', p.oid`;

const AGGREGATE = `
select format('%I.%I', n.nspname, p.proname) as name, pg_get_function_arguments(p.oid) as args,
  a.aggkind::text, a.aggtransfn::text as sfunc, format_type(a.aggtranstype, null) as stype,
  a.aggtransspace, case when a.aggfinalfn <> 0 then a.aggfinalfn::text end as finalfunc,
  a.aggfinalextra, a.aggfinalmodify::text,
  case when a.aggcombinefn <> 0 then a.aggcombinefn::text end as combinefunc,
  case when a.aggserialfn <> 0 then a.aggserialfn::text end as serialfunc,
  case when a.aggdeserialfn <> 0 then a.aggdeserialfn::text end as deserialfunc,
  case when a.aggmtransfn <> 0 then a.aggmtransfn::text end as msfunc,
  case when a.aggminvtransfn <> 0 then a.aggminvtransfn::text end as minvfunc,
  case when a.aggmtranstype <> 0 then format_type(a.aggmtranstype, null) end as mstype,
  a.aggmtransspace, case when a.aggmfinalfn <> 0 then a.aggmfinalfn::text end as mfinalfunc,
  a.aggmfinalextra, a.aggmfinalmodify::text, a.agginitval, a.aggminitval,
  case when a.aggsortop <> 0 then a.aggsortop::regoper::text end as sortop, p.proparallel::text
  from pg_aggregate a join pg_proc p on p.oid = a.aggfnoid
  join pg_namespace n on n.oid = p.pronamespace
 where a.aggfnoid = $1`;

const MODIFY: Record<string, string> = { r: "READ_ONLY", s: "SHAREABLE", w: "READ_WRITE" };
const PARALLEL: Record<string, string> = { s: "SAFE", r: "RESTRICTED", u: "UNSAFE" };

/** Writes the routines of `schemas` (or holds them for the `afterData` phase). */
export async function writeRoutines(script: Script, schemas: readonly string[]): Promise<void> {
  const late = new Set<number>();
  for (const row of await script.tx.unsafe(ROUTINES, [schemasParam(schemas)])) {
    const oid = Number(row.oid);
    const uses = (JSON.parse(String(row.uses)) as number[]).map(Number);
    const waits = row.over_tables === true || uses.some((used) => late.has(used));
    const text = row.prokind === "a"
      ? await aggregate(script, oid)
      : statement(String(row.definition));
    if (waits) {
      late.add(oid);
      script.later("afterData", text);
    } else await script.text(`${text}\n`);
  }
}

/** `CREATE AGGREGATE`, from its `pg_aggregate` row. */
async function aggregate(script: Script, oid: number): Promise<string> {
  const [a] = await script.tx.unsafe(AGGREGATE, [oid]);
  const options: string[] = [`SFUNC = ${a!.sfunc}`, `STYPE = ${a!.stype}`];
  const add = (key: string, value: unknown) => {
    if (value !== null && value !== undefined && value !== "") options.push(`${key} = ${value}`);
  };
  if (Number(a!.aggtransspace) > 0) add("SSPACE", a!.aggtransspace);
  add("FINALFUNC", a!.finalfunc);
  if (a!.aggfinalextra === true) options.push("FINALFUNC_EXTRA");
  if (a!.finalfunc) add("FINALFUNC_MODIFY", MODIFY[String(a!.aggfinalmodify)]);
  add("COMBINEFUNC", a!.combinefunc);
  add("SERIALFUNC", a!.serialfunc);
  add("DESERIALFUNC", a!.deserialfunc);
  if (a!.agginitval !== null) add("INITCOND", quote(String(a!.agginitval)));
  add("MSFUNC", a!.msfunc);
  add("MINVFUNC", a!.minvfunc);
  add("MSTYPE", a!.mstype);
  if (Number(a!.aggmtransspace) > 0) add("MSSPACE", a!.aggmtransspace);
  add("MFINALFUNC", a!.mfinalfunc);
  if (a!.aggmfinalextra === true) options.push("MFINALFUNC_EXTRA");
  if (a!.mfinalfunc) add("MFINALFUNC_MODIFY", MODIFY[String(a!.aggmfinalmodify)]);
  if (a!.aggminitval !== null) add("MINITCOND", quote(String(a!.aggminitval)));
  if (a!.sortop) add("SORTOP", `OPERATOR(${a!.sortop})`);
  add("PARALLEL", PARALLEL[String(a!.proparallel)]);
  if (a!.aggkind === "h") options.push("HYPOTHETICAL");
  const args = String(a!.args) === "" ? "*" : String(a!.args);
  return statement(`CREATE AGGREGATE ${a!.name} (${args}) (\n  ${options.join(",\n  ")}\n)`);
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
