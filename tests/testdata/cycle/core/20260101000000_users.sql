-- lockstep:depends-on orders/20260102000000_orders
create table users (id integer primary key);
