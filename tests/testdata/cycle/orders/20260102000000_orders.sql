-- lockstep:depends-on core/20260101000000_users
create table orders (id integer primary key);
