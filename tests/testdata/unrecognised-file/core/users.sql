create table users (id integer primary key);
