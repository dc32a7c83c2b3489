-- lockstep:info adds a table, then fails on a typo
create table audit (id integer primary key);
insert into users (id, email) values (1, 'a@example.com');
selec 1;
