-- Turns a copy of the project's database into the contract's schema (the expiry ceiling runs there):
-- orders, tickets, ticket_status_audit and outbox keep their primary keys, the indexes the contract names
-- (tickets (order_id, status), the audit's unique (ticket_id, new_status, event_id) and its
-- (ticket_id, created_at), the outbox's unique event_id) and the foreign key tickets.order_id; every other
-- index, constraint-backed index, foreign key and trigger on them goes. Written by what it keeps, so it
-- holds whatever later migrations add.
do $$
declare
  r record;
begin
  for r in
    select c.conrelid::regclass as tab, c.conname
      from pg_constraint c
     where c.conrelid in ('ticketing.orders'::regclass, 'ticketing.tickets'::regclass,
                          'ticketing.ticket_status_audit'::regclass, 'ticketing.outbox'::regclass)
       and c.contype in ('f', 'u', 'x')
       and not (c.conrelid = 'ticketing.tickets'::regclass and c.contype = 'f'
                and c.confrelid = 'ticketing.orders'::regclass)
       and c.conname not in ('ticket_status_audit_idempotency', 'outbox_event_id_key')
  loop
    execute format('alter table %s drop constraint %I', r.tab, r.conname);
  end loop;
  for r in
    select i.indexrelid::regclass as idx
      from pg_index i
     where i.indrelid in ('ticketing.orders'::regclass, 'ticketing.tickets'::regclass,
                          'ticketing.ticket_status_audit'::regclass, 'ticketing.outbox'::regclass)
       and not i.indisprimary
       and i.indexrelid::regclass::text not in ('ticketing.tickets_order_status_idx',
                                                'ticketing.ticket_status_audit_idempotency',
                                                'ticketing.ticket_status_audit_ticket_created_idx',
                                                'ticketing.outbox_event_id_key')
       and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)
  loop
    execute format('drop index %s', r.idx);
  end loop;
  for r in
    select t.tgrelid::regclass as tab, t.tgname
      from pg_trigger t
     where not t.tgisinternal
       and t.tgrelid in ('ticketing.orders'::regclass, 'ticketing.tickets'::regclass,
                         'ticketing.ticket_status_audit'::regclass, 'ticketing.outbox'::regclass)
  loop
    execute format('drop trigger %I on %s', r.tgname, r.tab);
  end loop;
end $$;
