-- lockstep:depends-on core/20260101000000_users
create table orders (id integer primary key, user_id integer not null references users(id));
