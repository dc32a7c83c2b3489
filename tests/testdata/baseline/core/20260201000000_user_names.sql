alter table users add column display_name text;
update users set display_name = 'system' where id = 0;
