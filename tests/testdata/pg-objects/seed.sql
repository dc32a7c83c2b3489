insert into customers (email) values ('a@x'), ('b@x');
call add_product('pen', 2.5);
call add_product('desk', 120);
insert into products (name, price, valid) values ('lamp', 30, '[1.5,2.5)');
insert into orders (customer_id, placed, total) values (1, '2025-03-01', 10), (1, '2026-02-01', 20), (2, '2030-01-01', 5);
refresh materialized view customer_totals;
