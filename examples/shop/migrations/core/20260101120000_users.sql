-- lockstep:info users and their e-mail addresses
create table users (
  id integer primary key,
  email text not null unique,
  created_at text not null default (datetime('now'))
);
-- lockstep:down
drop table users;
