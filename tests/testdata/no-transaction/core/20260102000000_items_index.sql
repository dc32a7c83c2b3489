-- lockstep:info index items by name without locking writes
-- lockstep:no-transaction
create index concurrently items_name on items (name);
create index concurrently items_name_id on items (name, id);
