/**
 * What the built-in dump cannot carry, each object named: foreign tables,
 * tables that inherit (not as partitions) or are typed, rules, extended
 * statistics, collations, operators and their classes and families, text
 * search configurations and dictionaries, conversions, base types, and range
 * types with a canonical function. `backup` refuses a database that holds
 * any unless a partial backup is accepted (then backup.json lists them);
 * `pg_dump` carries them all. Objects of extensions are left to
 * `CREATE EXTENSION`, as pg_dump of the schemas leaves them.
 *
 * @module
 */
import type { TransactionSql } from "../../deps/postgres.ts";
import { IN_SCHEMAS, notInExtension, schemasParam } from "./dump_script.ts";

const GAPS = `
select what from (
  select c.oid, format('foreign table %I.%I', n.nspname, c.relname) as what
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind = 'f' and ${IN_SCHEMAS} and ${notInExtension("c.oid")}
  union all
  select c.oid, format('table %I.%I (it inherits from another table)', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where ${IN_SCHEMAS} and not c.relispartition
     and exists (select 1 from pg_inherits i where i.inhrelid = c.oid)
  union all
  select c.oid, format('table %I.%I (typed: OF %s)', n.nspname, c.relname, c.reloftype::regtype)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where ${IN_SCHEMAS} and c.reloftype <> 0
  union all
  select r.oid, format('rule %I on %I.%I', r.rulename, n.nspname, c.relname)
    from pg_rewrite r join pg_class c on c.oid = r.ev_class
    join pg_namespace n on n.oid = c.relnamespace
   where ${IN_SCHEMAS} and r.rulename <> '_RETURN'
  union all
  select s.oid, format('statistics %I.%I', n.nspname, s.stxname)
    from pg_statistic_ext s join pg_namespace n on n.oid = s.stxnamespace
   where ${IN_SCHEMAS} and ${notInExtension("s.oid")}
  union all
  select o.oid, format('collation %I.%I', n.nspname, o.collname)
    from pg_collation o join pg_namespace n on n.oid = o.collnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('operator %I.%s(%s, %s)', n.nspname, o.oprname,
         coalesce(o.oprleft::regtype::text, 'NONE'), coalesce(o.oprright::regtype::text, 'NONE'))
    from pg_operator o join pg_namespace n on n.oid = o.oprnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('operator class %I.%I', n.nspname, o.opcname)
    from pg_opclass o join pg_namespace n on n.oid = o.opcnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('operator family %I.%I', n.nspname, o.opfname)
    from pg_opfamily o join pg_namespace n on n.oid = o.opfnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('text search configuration %I.%I', n.nspname, o.cfgname)
    from pg_ts_config o join pg_namespace n on n.oid = o.cfgnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('text search dictionary %I.%I', n.nspname, o.dictname)
    from pg_ts_dict o join pg_namespace n on n.oid = o.dictnamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select o.oid, format('conversion %I.%I', n.nspname, o.conname)
    from pg_conversion o join pg_namespace n on n.oid = o.connamespace
   where ${IN_SCHEMAS} and ${notInExtension("o.oid")}
  union all
  select t.oid, format('type %I.%I (a base type)', n.nspname, t.typname)
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
   where ${IN_SCHEMAS} and t.typtype in ('b', 'p') and t.typcategory <> 'A'
     and ${notInExtension("t.oid")}
  union all
  select t.oid, format('range type %I.%I (it has a canonical function)', n.nspname, t.typname)
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    join pg_range r on r.rngtypid = t.oid
   where ${IN_SCHEMAS} and r.rngcanonical <> 0 and ${notInExtension("t.oid")}
) gaps order by oid`;

/** Every object of `schemas` the built-in dump cannot carry, named (`collation public.x`). */
export async function dumpGaps(
  tx: TransactionSql,
  schemas: readonly string[],
): Promise<string[]> {
  const rows = await tx.unsafe(GAPS, [schemasParam(schemas)]);
  return rows.map((r) => String(r.what));
}
