-- lockstep:info orders, each placed by a user
-- lockstep:depends-on core/20260101120000_users
create table orders (
  id integer primary key,
  user_id integer not null references users(id),
  total_cents integer not null check (total_cents >= 0)
);
create index orders_user on orders(user_id);
