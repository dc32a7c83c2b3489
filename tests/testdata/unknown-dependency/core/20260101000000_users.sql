-- lockstep:depends-on billing/20260101000000_accounts
create table users (id integer primary key);
