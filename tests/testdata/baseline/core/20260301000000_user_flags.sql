alter table users add column active integer not null default 1;
