create table users (id integer primary key, email text not null);
insert into users (id, email) values (0, 'system@example.com');
