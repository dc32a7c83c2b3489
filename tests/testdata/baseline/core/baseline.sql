-- lockstep:baseline core/20260201000000_user_names
-- The schema as of core/20260201000000_user_names, for empty databases.
create table users (id integer primary key, email text not null, display_name text);
insert into users (id, email, display_name) values (0, 'system@example.com', 'system');
