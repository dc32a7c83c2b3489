/**
 * The built-in dump's types, first in the script: enums, composite types,
 * domains (their base type, collation and `NOT NULL` now; their defaults and
 * constraints once the routines they may call exist) and range types (with
 * their multirange's name), in creation (oid) order.
 *
 * @module
 */
import {
  ident,
  IN_SCHEMAS,
  literal,
  notInExtension,
  qualified,
  schemasParam,
  type Script,
  statement,
} from "./dump_script.ts";

interface TypeRow {
  oid: number;
  schema: string;
  name: string;
  typtype: string;
  /** Enum labels, composite attributes, or the domain's / range's parts, as JSON. */
  parts: string;
}

const TYPES = `
select t.oid, n.nspname as schema, t.typname as name, t.typtype::text,
  case t.typtype
    when 'e' then (select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e
                    where e.enumtypid = t.oid)
    when 'c' then (select json_agg(json_build_array(a.attname,
                      format_type(a.atttypid, a.atttypmod) || case when a.attcollation <> 0
                        and a.attcollation <> (select typcollation from pg_type b where b.oid = a.atttypid)
                        then ' COLLATE ' || a.attcollation::regcollation::text else '' end)
                      order by a.attnum)
                     from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0
                      and not a.attisdropped)
    when 'd' then json_build_object(
      'base', format_type(t.typbasetype, t.typtypmod),
      'collation', case when t.typcollation <> 0 and t.typcollation <> (select typcollation
        from pg_type b where b.oid = t.typbasetype) then t.typcollation::regcollation::text end,
      'notNull', t.typnotnull,
      'default', pg_get_expr(t.typdefaultbin, 0),
      'constraints', (select json_agg(json_build_array(c.conname, pg_get_constraintdef(c.oid),
                        c.convalidated) order by c.conname)
                       from pg_constraint c where c.contypid = t.oid and c.contype = 'c'))
    when 'r' then (select json_build_object(
      'subtype', format_type(r.rngsubtype, null),
      'opclass', case when not oc.opcdefault then r.rngsubopc::regclass::text end,
      'opclassName', quote_ident(ocn.nspname) || '.' || quote_ident(oc.opcname),
      'collation', case when r.rngcollation <> 0 and r.rngcollation <> (select typcollation
        from pg_type b where b.oid = r.rngsubtype) then r.rngcollation::regcollation::text end,
      'canonical', nullif(r.rngcanonical, 0)::regproc::text,
      'diff', nullif(r.rngsubdiff, 0)::regproc::text,
      'diffIsUser', exists (select 1 from pg_proc p join pg_namespace pn on pn.oid = p.pronamespace
                             where p.oid = r.rngsubdiff and pn.nspname <> 'pg_catalog'),
      'multirange', quote_ident(mn.nspname) || '.' || quote_ident(m.typname))
      from pg_range r join pg_opclass oc on oc.oid = r.rngsubopc
      join pg_namespace ocn on ocn.oid = oc.opcnamespace
      join pg_type m on m.oid = r.rngmultitypid join pg_namespace mn on mn.oid = m.typnamespace
     where r.rngtypid = t.oid)
  end::text as parts
  from pg_type t join pg_namespace n on n.oid = t.typnamespace
 where ${IN_SCHEMAS} and ${notInExtension("t.oid")}
   and (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and exists (
         select 1 from pg_class c where c.oid = t.typrelid and c.relkind = 'c')))
 order by t.oid`;

interface Domain {
  base: string;
  collation: string | null;
  notNull: boolean;
  default: string | null;
  constraints: [string, string, boolean][] | null;
}

interface Range {
  subtype: string;
  opclassName: string;
  opclass: string | null;
  collation: string | null;
  canonical: string | null;
  diff: string | null;
  diffIsUser: boolean;
  multirange: string;
}

/**
 * Writes the types of `schemas`; what must wait for the routines goes to the
 * `afterRoutines` phase. Range types with a canonical function are left out
 * (the gaps name them).
 */
export async function writeTypes(script: Script, schemas: readonly string[]): Promise<void> {
  for (const row of await script.tx.unsafe<TypeRow[]>(TYPES, [schemasParam(schemas)])) {
    const name = qualified(row.schema, row.name);
    const parts = JSON.parse(row.parts ?? "null");
    if (row.typtype === "e") {
      const labels = (parts as string[] ?? []).map(literal).join(", ");
      await script.text(`CREATE TYPE ${name} AS ENUM (${labels});\n`);
    } else if (row.typtype === "c") {
      const fields = (parts as [string, string][] ?? []).map(([a, type]) => `${ident(a)} ${type}`);
      await script.text(`CREATE TYPE ${name} AS (${fields.join(", ")});\n`);
    } else if (row.typtype === "d") await writeDomain(script, name, parts as Domain);
    else await writeRange(script, name, parts as Range);
  }
}

async function writeDomain(script: Script, name: string, domain: Domain): Promise<void> {
  const collation = domain.collation ? ` COLLATE ${domain.collation}` : "";
  const notNull = domain.notNull ? " NOT NULL" : "";
  await script.text(`CREATE DOMAIN ${name} AS ${domain.base}${collation}${notNull};\n`);
  if (domain.default !== null) {
    script.later("afterRoutines", `ALTER DOMAIN ${name} SET DEFAULT ${domain.default};`);
  }
  for (const [constraint, definition, validated] of domain.constraints ?? []) {
    // Not validated when it was not: the rows that break it were kept, as they were.
    const check = validated ? definition : `${definition} NOT VALID`;
    script.later(
      "afterRoutines",
      `ALTER DOMAIN ${name} ADD CONSTRAINT ${ident(constraint)} ${check};`,
    );
  }
}

async function writeRange(script: Script, name: string, range: Range): Promise<void> {
  const options = [
    `SUBTYPE = ${range.subtype}`,
    ...(range.opclass ? [`SUBTYPE_OPCLASS = ${range.opclassName}`] : []),
    ...(range.collation ? [`COLLATION = ${range.collation}`] : []),
    ...(range.diff ? [`SUBTYPE_DIFF = ${range.diff}`] : []),
    `MULTIRANGE_TYPE_NAME = ${range.multirange}`,
  ];
  const text = statement(`CREATE TYPE ${name} AS RANGE (${options.join(", ")})`);
  // A difference function of the application's own must exist first.
  if (range.diffIsUser) script.later("afterRoutines", text);
  else await script.text(`${text}\n`);
}
