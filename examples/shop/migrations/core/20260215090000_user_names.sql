-- lockstep:info users get a display name
alter table users add column display_name text;
update users set display_name = substr(email, 1, instr(email, '@') - 1);
