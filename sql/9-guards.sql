-- Integrity by construction, on a database owner without superuser (managed PostgreSQL).
--
-- Every table of the schema is written by the ticketing functions only. They run as ticketing_engine, an
-- internal NOLOGIN role that owns them (SECURITY DEFINER, made so by ticketing.harden(), which migrate runs
-- after every migration). The guard triggers below admit a write when current_user is that role, which it
-- is only inside a ticketing function, and refuse it for every other role: a service, the daemon's role,
-- the owner itself, a superuser. A session setting decided it before this migration; any session may set
-- a setting, so the guard could be switched off by the very writer it was meant to stop.
--
-- What a service may still write directly (ticketing_writer): an order (status open), usable tickets with
-- seq 0 into an open order, a non-terminal ticket's valid_end. Everything else is refused with TL403.
--
-- SQLSTATEs raised by the guards (listed with the others in 2-state-machine.sql and the README):
--   TL403  a write no ticketing function made, or one no role may make (audit rows, TRUNCATE), or any write
--          of a ticketing function while a table carries a trigger that is not the project's

-- Roles are cluster-wide: created once, shared by every database of the cluster; a concurrent migration of
-- another database may create them first.
do $$
declare
  v_role text;
begin
  foreach v_role in array array['ticketing_engine', 'ticketing_daemon', 'ticketing_writer', 'ticketing_enqueuer'] loop
    begin
      if not exists (select 1 from pg_roles where rolname = v_role) then
        execute format('create role %I nologin', v_role);
      end if;
    exception when duplicate_object or unique_violation then null;
    end;
  end loop;
  -- The migrating owner must act as the engine to hand it functions and, in later migrations, to replace
  -- them. PostgreSQL 16 gives a CREATEROLE role ADMIN OPTION on the roles it creates but not membership;
  -- PostgreSQL 15 lets CREATEROLE grant any role that is not a superuser.
  if not pg_has_role(current_user, 'ticketing_engine', 'USAGE') then
    begin
      execute format('grant ticketing_engine to %I', current_user);
    exception when insufficient_privilege then
      -- Another role created ticketing_engine (roles are shared by the whole cluster).
      raise exception using errcode = '42501',
        message = format('%s cannot make itself a member of ticketing_engine, which another role created', current_user),
        hint = format('as that role or a superuser: grant ticketing_engine to %I; then migrate again', current_user);
    end;
  end if;
end $$;

-- The setting-based guard. Databases migrated before 2-state-machine.sql lost its SET clause still carry
-- it; `reset ticketing.state_machine` would itself need a superuser, `reset all` does not.
drop trigger tickets_status_guard on ticketing.tickets;
drop trigger tickets_insert_guard on ticketing.tickets;
alter function ticketing.apply_locked_transitions(bigint[], text, text, text, jsonb) reset all;
alter function ticketing.apply_locked_transitions(bigint[], text, text, text, jsonb)
  set search_path = ticketing, pg_temp set plan_cache_mode = force_generic_plan;

-- The engine reads and writes every table of the schema (tables later migrations add included) and the
-- graphile_worker tables its functions queue and rescue jobs in (granted by ticketing.harden(), after
-- graphile-worker's own migrations). CREATE on the schema is what PostgreSQL asks of a function's owner.
grant usage, create on schema ticketing to ticketing_engine;
grant select, insert, update, delete on all tables in schema ticketing to ticketing_engine;
grant usage, select on all sequences in schema ticketing to ticketing_engine;
alter default privileges in schema ticketing grant select, insert, update, delete on tables to ticketing_engine;
alter default privileges in schema ticketing grant usage, select on sequences to ticketing_engine;

grant usage on schema ticketing to ticketing_daemon, ticketing_writer;
grant select on all tables in schema ticketing to ticketing_daemon, ticketing_writer;
alter default privileges in schema ticketing grant select on tables to ticketing_daemon, ticketing_writer;
grant insert on ticketing.orders, ticketing.tickets to ticketing_writer;
grant update (valid_end) on ticketing.tickets to ticketing_writer;

-- The guards. Trigger functions run with the rights of whoever writes (SECURITY INVOKER: as the engine,
-- current_user would be the engine whoever called). Their search_path is pinned because a writer's own
-- search_path would otherwise decide what their unqualified names mean. The WHEN clauses are evaluated
-- without calling PL/pgSQL, so on the engine's path most guards cost nothing.

-- The rule a write broke, as TL403. tg_argv[0] says the rule.
create function ticketing.refuse_write() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception using errcode = 'TL403',
    message = format('%s on ticketing.%s refused: %s', tg_op, tg_table_name, tg_argv[0]),
    hint = 'write through the ticketing functions (README: guarantees)';
end $$;

-- Tickets: what a service may do (insert usable seq-0 tickets, move a non-terminal ticket's valid_end);
-- status, seq and order_id change only inside the state machine.
create or replace function ticketing.guard_ticket_status() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if (new.id, new.order_id, new.status, new.seq, new.created_at)
     is distinct from (old.id, old.order_id, old.status, old.seq, old.created_at) then
    raise exception using errcode = 'TL403',
      message = format('ticket %s: status, seq and order_id change only through the state machine (attempted status %s -> %s, seq %s -> %s, order %s -> %s)',
                       old.id, old.status, new.status, old.seq, new.seq, old.order_id, new.order_id),
      hint = 'call ticketing.transition_ticket(ticket_id, new_status, event_id)';
  end if;
  if new.valid_end is distinct from old.valid_end
     and (select s.terminal from ticketing.ticket_statuses s where s.status = old.status) then
    raise exception using errcode = 'TL403',
      message = format('ticket %s is %s, a final status: its valid_end no longer changes', old.id, old.status);
  end if;
  return new;
end $$;

-- A ticket joins an open order only. Statement-level AFTER: it runs after the foreign-key checks, which
-- hold a KEY SHARE lock on each order until commit, so an order cannot complete between this check and
-- the commit (ticketing.recompute_orders locks the order FOR UPDATE before it counts the tickets).
create function ticketing.guard_ticket_order() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ticket bigint;
  v_order bigint;
  v_status text;
begin
  select i.id, o.id, o.status into v_ticket, v_order, v_status
    from inserted i join ticketing.orders o on o.id = i.order_id
   where o.status <> 'open'
   limit 1;
  if found then
    raise exception using errcode = 'TL403',
      message = format('ticket %s: order %s is %s; tickets are added to open orders only', v_ticket, v_order, v_status);
  end if;
  return null;
end $$;

create function ticketing.guard_order_delete() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if exists (select 1 from ticketing.tickets t where t.order_id = old.id) then
    raise exception using errcode = 'TL403',
      message = format('order %s has tickets: only an order without tickets is deleted', old.id);
  end if;
  return old;
end $$;

-- A ticketing function writes as the engine: a trigger someone else attached to the table would run
-- inside it with the engine's rights. While one exists the engine writes nothing to that table (the
-- refusal rolls back whatever such a trigger did before it). Only the owner and the engine create
-- functions in schema ticketing, so a trigger is the project's when its function lives there.
create function ticketing.refuse_foreign_triggers() returns trigger
language plpgsql
as $$
declare
  v_table text;
  v_trigger name;
begin
  -- graphile_worker's tables count too: the engine's functions queue jobs (add_job runs with its caller's
  -- rights), so a trigger there would run as the engine as well.
  select format('%I.%I', n.nspname, c.relname), t.tgname into v_table, v_trigger
    from pg_catalog.pg_trigger t
    join pg_catalog.pg_class c on c.oid = t.tgrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    join pg_catalog.pg_proc p on p.oid = t.tgfoid
   where n.nspname in ('ticketing', 'graphile_worker') and not t.tgisinternal
     and p.pronamespace not in ('ticketing'::regnamespace, 'graphile_worker'::regnamespace)
   limit 1;
  if found then
    raise exception using errcode = 'TL403',
      message = format('%s carries trigger %I, which is not the project''s: ticketing functions write nothing while it exists',
                       v_table, v_trigger),
      hint = 'drop that trigger; TRIGGER on ticketing and graphile_worker tables is granted to no role';
  end if;
  return null;
end $$;

create trigger tickets_insert_guard
  before insert on ticketing.tickets
  for each row
  when (current_user <> 'ticketing_engine' and (new.status <> 'usable' or new.seq <> 0))
  execute function ticketing.refuse_write('new tickets start as usable with seq 0');
create trigger tickets_order_guard
  after insert on ticketing.tickets
  referencing new table as inserted
  for each statement
  when (current_user <> 'ticketing_engine')
  execute function ticketing.guard_ticket_order();
create trigger tickets_update_guard
  before update on ticketing.tickets
  for each row
  when (current_user <> 'ticketing_engine')
  execute function ticketing.guard_ticket_status();
create trigger tickets_delete_guard
  before delete on ticketing.tickets
  for each statement
  when (current_user <> 'ticketing_engine')
  execute function ticketing.refuse_write('tickets are never deleted: their audit trail, events and order refer to them');

create trigger orders_insert_guard
  before insert on ticketing.orders
  for each row
  when (current_user <> 'ticketing_engine'
        and (new.status <> 'open' or new.completed_at is not null or new.cancelled_at is not null))
  execute function ticketing.refuse_write('new orders are open, with no completed_at or cancelled_at');
create trigger orders_update_guard
  before update on ticketing.orders
  for each row
  when (current_user <> 'ticketing_engine'
        and (new.id, new.status, new.completed_at, new.cancelled_at)
            is distinct from (old.id, old.status, old.completed_at, old.cancelled_at))
  execute function ticketing.refuse_write('an order''s status is derived from its tickets (ticketing.recompute_orders)');
create trigger orders_delete_guard
  before delete on ticketing.orders
  for each row
  when (current_user <> 'ticketing_engine')
  execute function ticketing.guard_order_delete();

-- The audit is append-only for everyone, the engine included.
-- (named to fire before guard_writes, so its rule is the one a refusal names)
create trigger audit_append_only
  before update or delete on ticketing.ticket_status_audit
  for each statement
  execute function ticketing.refuse_write('the audit trail is append-only');

-- Owner-only (it is SECURITY INVOKER and granted to nobody): secures what the migrations left, run by
-- migrate after every migration, so a function or table a later migration adds or replaces is secured
-- too without that migration knowing about it. Idempotent.
--   functions (except trigger functions and this one): owned by ticketing_engine, SECURITY DEFINER, a
--   pinned search_path, EXECUTE for ticketing_daemon and not for PUBLIC;
--   tables: TRUNCATE refused, the engine's writes refused while a foreign trigger exists, writes of any
--   other role refused (tickets and orders have their own rules above), TRIGGER and REFERENCES granted to
--   no one;
--   graphile_worker: what the engine's functions and the daemon's worker need there (granted again after
--   an upgrade of graphile-worker added tables).
create function ticketing.harden() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_fn record;
  v_table record;
  v_grant record;
  v_worker_table regclass;
begin
  -- Two migrations at once (two daemons starting) must not alter the same catalog rows together.
  perform pg_advisory_xact_lock(hashtext('ticketing.harden'));

  for v_fn in
    select p.oid::regprocedure as fn, p.proowner, p.prosecdef,
           exists (select 1 from unnest(p.proconfig) c where c like 'search\_path=%') as pinned
      from pg_proc p
     where p.pronamespace = 'ticketing'::regnamespace and p.prokind in ('f', 'p')
       and p.prorettype <> 'trigger'::regtype and p.oid <> 'ticketing.harden()'::regprocedure
  loop
    if v_fn.proowner <> 'ticketing_engine'::regrole then
      execute format('alter routine %s owner to ticketing_engine', v_fn.fn);
    end if;
    if not v_fn.prosecdef then
      execute format('alter routine %s security definer', v_fn.fn);
    end if;
    if not v_fn.pinned then
      execute format('alter routine %s set search_path = ticketing, pg_temp', v_fn.fn);
    end if;
    execute format('revoke execute on routine %s from public', v_fn.fn);
    execute format('grant execute on routine %s to ticketing_daemon', v_fn.fn);
  end loop;

  for v_table in
    select c.oid::regclass as rel, c.relname,
           array(select t.tgname::text from pg_trigger t where t.tgrelid = c.oid) as triggers
      from pg_class c
     where c.relnamespace = 'ticketing'::regnamespace and c.relkind in ('r', 'p')
  loop
    if not 'guard_truncate' = any(v_table.triggers) then
      execute format('create trigger guard_truncate before truncate on %s for each statement
                      execute function ticketing.refuse_write(%L)', v_table.rel, 'TRUNCATE is refused on every ticketing table');
    end if;
    if not 'guard_foreign_triggers' = any(v_table.triggers) then
      execute format('create trigger guard_foreign_triggers before insert or update or delete on %s for each statement
                      when (current_user = ''ticketing_engine'') execute function ticketing.refuse_foreign_triggers()', v_table.rel);
    end if;
    if v_table.relname not in ('tickets', 'orders') and not 'guard_writes' = any(v_table.triggers) then
      execute format('create trigger guard_writes before insert or update or delete on %s for each statement
                      when (current_user <> ''ticketing_engine'') execute function ticketing.refuse_write(%L)',
                     v_table.rel, 'only ticketing functions write this table');
    end if;
    for v_grant in
      select distinct a.grantee
        from pg_class c, aclexplode(c.relacl) a
       where c.oid = v_table.rel and a.privilege_type in ('TRIGGER', 'REFERENCES') and a.grantee <> c.relowner
    loop
      execute format('revoke trigger, references on %s from %s cascade', v_table.rel,
                     case when v_grant.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_grant.grantee)) end);
    end loop;
  end loop;

  grant usage on schema graphile_worker to ticketing_engine, ticketing_daemon, ticketing_enqueuer;
  grant execute on all functions in schema graphile_worker to ticketing_engine, ticketing_daemon;
  grant usage, select on all sequences in schema graphile_worker to ticketing_engine, ticketing_daemon, ticketing_enqueuer;
  grant select, insert, update, delete on graphile_worker._private_jobs, graphile_worker._private_job_queues,
        graphile_worker._private_tasks to ticketing_engine, ticketing_daemon;
  grant select, insert, update, delete on graphile_worker._private_known_crontabs to ticketing_daemon;
  grant select on graphile_worker.migrations to ticketing_daemon;
  -- TRIGGER on graphile_worker's tables is as good as the engine's rights (see refuse_foreign_triggers), and
  -- TRUNCATE there would wipe every queued job past row level security: only the owner keeps them.
  for v_grant in
    select distinct c.oid::regclass as rel, a.grantee
      from pg_class c, aclexplode(c.relacl) a
     where c.relnamespace = 'graphile_worker'::regnamespace and c.relkind in ('r', 'p')
       and a.privilege_type in ('TRIGGER', 'REFERENCES', 'TRUNCATE') and a.grantee <> c.relowner
  loop
    execute format('revoke trigger, references, truncate on %s from %s cascade', v_grant.rel,
                   case when v_grant.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_grant.grantee)) end);
  end loop;
  -- graphile-worker enables row level security on its tables with no policy: only their owner sees a row.
  foreach v_worker_table in array array['graphile_worker._private_jobs', 'graphile_worker._private_job_queues',
                                         'graphile_worker._private_tasks', 'graphile_worker._private_known_crontabs']::regclass[] loop
    if not exists (select 1 from pg_policy p where p.polrelid = v_worker_table and p.polname = 'ticketing_roles') then
      execute format('create policy ticketing_roles on %s to ticketing_engine, ticketing_daemon, ticketing_enqueuer
                      using (true) with check (true)', v_worker_table);
    end if;
  end loop;
  -- graphile_worker.add_job runs with its caller's rights: these are what it touches.
  grant execute on function graphile_worker.add_job(text, json, text, timestamptz, integer, text, integer, text[], text),
        graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) to ticketing_enqueuer;
  grant select, insert, update on graphile_worker._private_jobs, graphile_worker._private_job_queues,
        graphile_worker._private_tasks to ticketing_enqueuer;
end $$;

-- Writes the daemon's maintenance and commands made with raw SQL before, now functions like every other write.

-- `ticket-lifecycle expire` (and the demo): the sweep the schedule queues, due now. The job key keeps one
-- queued sweep however often it is asked for. Returns the job's id.
create function ticketing.queue_sweep(p_batch_size integer default 200) returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  select j.id from graphile_worker.add_job('expire_tickets', json_build_object('batch_size', p_batch_size),
                                           queue_name => 'expire_tickets', job_key => 'expire_tickets',
                                           job_key_mode => 'preserve_run_at', max_attempts => 1) j;
$$;

-- Retention of graphile-worker's permanently failed jobs (src/maintenance/jobCleaner.ts): up to p_limit
-- jobs out of attempts, unlocked, untouched for p_older_than. Returns how many were deleted.
create function ticketing.delete_failed_jobs(p_older_than interval, p_limit integer) returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  with gone as (
    delete from graphile_worker._private_jobs
     where id in (select j.id from graphile_worker._private_jobs j
                   where j.attempts >= j.max_attempts and j.locked_at is null
                     and j.updated_at < now() - p_older_than
                   limit p_limit)
    returning 1
  )
  select count(*) from gone;
$$;

-- A ticket added to an order touches the order's row (tickets_added_at). A transaction whose snapshot is older
-- than that ticket then cannot complete the order from a stale list of its tickets: under REPEATABLE READ or
-- SERIALIZABLE its lock on the order row (ticketing.recompute_orders) fails with 40001, to be retried, instead
-- of completing an order that has a usable ticket. The trigger function writes as the engine, like the state
-- machine's functions, and checks nothing: the guards above have already decided.
alter table ticketing.orders add column tickets_added_at timestamptz;
create function ticketing.touch_orders_of_new_tickets() returns trigger
language plpgsql
security definer
set search_path = ticketing, pg_temp
as $$
begin
  update ticketing.orders o set tickets_added_at = clock_timestamp()
   where o.id in (select distinct i.order_id from inserted i);
  return null;
end $$;
alter function ticketing.touch_orders_of_new_tickets() owner to ticketing_engine;
create trigger tickets_touch_orders
  after insert on ticketing.tickets
  referencing new table as inserted
  for each statement
  execute function ticketing.touch_orders_of_new_tickets();

-- A validity is a point in time: `infinity` would keep a ticket usable for ever (new rows only: NOT VALID).
alter table ticketing.tickets add constraint tickets_valid_end_finite check (isfinite(valid_end)) not valid;

-- Which migrations this database has applied, for the commands that only read (status, expire --dry-run):
-- they compare it with the files in sql/ and name `migrate` when one is missing, instead of migrating.
create view ticketing.applied_migrations as
  select m.index, m.name from atdatabases_migrations_applied m where not m.obsolete;

grant select on ticketing.applied_migrations to ticketing_daemon, ticketing_client, ticketing_reader, ticketing_writer;
grant execute on function ticketing.expiry_backlog(interval) to ticketing_reader;

revoke execute on all functions in schema ticketing from public;
