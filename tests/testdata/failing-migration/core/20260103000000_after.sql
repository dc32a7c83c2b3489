create table after_broken (id integer primary key);
