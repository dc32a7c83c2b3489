-- lockstep:depend-on core/x
create table users (id integer primary key);
