-- The reads and the demo seed the CLI made with SQL of its own, now ticketing functions like every other
-- operation: TypeScript reaches rows only through src/sql/ wrappers of functions and views. ticketing.harden()
-- (run after every migration) makes each one SECURITY DEFINER, owned by ticketing_engine, executable by
-- ticketing_daemon; the grants below add the roles whose commands call them.

-- An order's status and how many of its tickets are not terminal yet: what the hour-after-redemption check
-- (check_order) logs after recomputing the order.
create function ticketing.order_progress(p_order_id bigint)
returns table (status text, open_tickets bigint)
language sql stable
as $$
  select o.status,
         (select count(*) from ticketing.tickets t join ticketing.ticket_statuses s on s.status = t.status
           where t.order_id = o.id and not s.terminal)
    from ticketing.orders o
   where o.id = p_order_id
$$;

-- The bulk a request_refunds call recorded, found through one ticket it queued (its request's event id is
-- `<event_id>:<ticket_id>`); null when that ticket's request is not part of a bulk.
create function ticketing.bulk_of_request(p_event_id text, p_ticket_id bigint)
returns bigint
language sql stable
as $$
  select r.bulk_id from ticketing.ticket_requests r where r.event_id = p_event_id || ':' || p_ticket_id
$$;

-- The latest p_limit operator actions, oldest first (what `ticket-lifecycle actions` prints).
create function ticketing.latest_operator_actions(p_limit integer)
returns table (id bigint, actor text, acted_at timestamptz, action text, parameters jsonb, affected integer)
language sql stable
as $$
  select latest.* from (
    select a.id, a.actor, a.acted_at, a.action, a.parameters, a.affected
      from ticketing.operator_actions a order by a.id desc limit p_limit
  ) latest
  order by latest.id
$$;

-- `ticket-lifecycle demo`'s data set, with ids above any already used: orders of three tickets, some past
-- valid_end (the next sweep expires them, completing orders whose other tickets were redeemed), some redeemed
-- at the gate, one refund and one change requested, all through the same functions other services call.
-- Only the database owner (or a superuser) may seed it, as only the owner could before (the demo also queues
-- a sweep, which no client or writer may): the daemon's role executes every function, yet must not create
-- orders and tickets.
create function ticketing.seed_demo()
returns table (order_ids bigint[], ticket_ids bigint[], past_valid_end integer, redeemed integer,
               refunds integer, changes integer)
language plpgsql
as $$
declare
  -- Per group: how many orders, and per order how many tickets are past valid_end, redeemed, refunded,
  -- changed (in that order; the rest stay usable).
  v_groups constant integer[][] := array[
    [5, 0, 0, 0, 0],  -- nothing due: they stay open
    [5, 3, 0, 0, 0],  -- all expire: completed
    [6, 1, 2, 0, 0],  -- the expiry of the last one completes them
    [2, 1, 0, 0, 0],  -- one expires, two still valid: they stay open
    [1, 0, 2, 1, 0],  -- the refund completes it
    [1, 0, 0, 0, 1]   -- changed, then re-issued with a new valid_end
  ];
  v_tickets_per_order constant integer := 3;
  v_order bigint;
  v_ticket bigint;
  v_orders bigint[] := '{}';
  v_tickets bigint[] := '{}';
  v_valid_in interval[] := '{}';
  v_redeem bigint[] := '{}';
  v_refund bigint[] := '{}';
  v_change bigint[] := '{}';
  v_past integer := 0;
  g integer;
  o integer;
  t integer;
begin
  if not pg_has_role(session_user, (select d.datdba from pg_database d where d.datname = current_database()), 'USAGE') then
    raise exception using errcode = 'TL403',
      message = format('%s may not seed the demo: run it as the database owner', session_user);
  end if;
  select coalesce(max(id), 0) into v_order from ticketing.orders;
  select coalesce(max(id), 0) into v_ticket from ticketing.tickets;
  for g in 1 .. array_length(v_groups, 1) loop
    for o in 1 .. v_groups[g][1] loop
      v_order := v_order + 1;
      v_orders := v_orders || v_order;
      for t in 0 .. v_tickets_per_order - 1 loop
        v_ticket := v_ticket + 1;
        v_tickets := v_tickets || v_ticket;
        if t < v_groups[g][2] then
          -- Past tickets ended between one and 48 hours ago; the others are valid for days to come.
          v_valid_in := v_valid_in || make_interval(hours => -(1 + ((v_ticket::numeric * 7) % 48))::integer);
          v_past := v_past + 1;
        else
          v_valid_in := v_valid_in || make_interval(days => (1 + ((v_ticket::numeric * 5) % 30))::integer);
          if t < v_groups[g][2] + v_groups[g][3] then
            v_redeem := v_redeem || v_ticket;
          elsif t < v_groups[g][2] + v_groups[g][3] + v_groups[g][4] then
            v_refund := v_refund || v_ticket;
          elsif t < v_groups[g][2] + v_groups[g][3] + v_groups[g][4] + v_groups[g][5] then
            v_change := v_change || v_ticket;
          end if;
        end if;
      end loop;
    end loop;
  end loop;

  insert into ticketing.orders (id) select unnest(v_orders);
  insert into ticketing.tickets (id, order_id, valid_end)
  select s.id, v_orders[((s.n - 1) / v_tickets_per_order) + 1], now() + s.valid_in
    from unnest(v_tickets, v_valid_in) with ordinality as s(id, valid_in, n);
  perform ticketing.redeem_ticket(id, 'demo-redeem-' || id, '{"gate": "north-1"}') from unnest(v_redeem) as id;
  perform ticketing.request_refund(id, 'demo-refund-' || id, '{"reason": "customer request"}')
     from unnest(v_refund) as id;
  perform ticketing.request_change(id, 'demo-change-' || id,
                                   jsonb_build_object('valid_end', now() + interval '45 days', 'reason', 'new date'))
     from unnest(v_change) as id;

  return query select v_orders, v_tickets, v_past, cardinality(v_redeem), cardinality(v_refund), cardinality(v_change);
end;
$$;

-- ticketing_reader reads operator_actions already; the function is the same read. (order_progress and
-- bulk_of_request are the daemon's and the owner's; seed_demo checks its caller itself, see above.)
grant execute on function ticketing.latest_operator_actions(integer) to ticketing_reader;
