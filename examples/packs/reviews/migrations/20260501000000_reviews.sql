-- lockstep:info reviews: what users say about their orders
-- lockstep:depends-on core/20260401000000_release_1_0_0
create table reviews (
  id integer primary key,
  user_id integer not null references users(id),
  body text not null
);
-- lockstep:down
drop table reviews;
