-- Read-only views for operators and DBAs (and `ticket-lifecycle status`). Every status list is complete:
-- a status with no rows shows 0, so a dashboard's columns never come and go. The views run with their
-- owner's rights, so ticketing_reader sees the job counts without any access to graphile_worker itself.

create view ticketing.status_tickets as
  select s.status, count(t.id) as count
    from ticketing.ticket_statuses s
    left join ticketing.tickets t on t.status = s.status
   group by s.status;

create view ticketing.status_orders as
  select s.status, count(o.id) as count
    from (values ('open'), ('completed'), ('cancelled')) as s(status)
    left join ticketing.orders o on o.status = s.status
   group by s.status;

-- Each figure reads one partial index of the outbox, not the table.
create view ticketing.status_outbox as
  select (select count(*) from ticketing.outbox where published_at is null) as backlog,
         (select count(*) from ticketing.outbox where published_at is null and attempts > 0) as retrying,
         (select min(created_at) from ticketing.outbox where published_at is null) as oldest_undelivered_at,
         (select count(*) from ticketing.outbox where published_at is not null) as delivered;

create view ticketing.status_requests as
  select k.kind, s.status, count(r.id) as count
    from (values ('refund'), ('change')) as k(kind)
   cross join (values ('pending'), ('succeeded'), ('failed')) as s(status)
    left join ticketing.ticket_requests r on r.kind = k.kind and r.status = s.status
   group by k.kind, s.status;

create view ticketing.active_alerts as
  select id, key, kind, message, details, raised_at
    from ticketing.alerts
   where cleared_at is null;

-- graphile-worker's jobs per task. waiting: due now, nobody runs it; scheduled: due later (a retry's
-- backoff or a run_at in the future); running: a worker holds it; failed: out of attempts, it will not
-- run again until someone resets it. A task with no job at all is listed with zeros.
create view ticketing.status_jobs as
  select t.identifier as task,
         count(j.id) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()) as waiting,
         count(j.id) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at > now()) as scheduled,
         count(j.id) filter (where j.locked_at is not null) as running,
         count(j.id) filter (where j.locked_at is null and j.attempts >= j.max_attempts) as failed
    from graphile_worker._private_tasks t
    left join graphile_worker._private_jobs j on j.task_id = t.id
   group by t.identifier;

grant select on ticketing.status_tickets, ticketing.status_orders, ticketing.status_outbox, ticketing.status_requests,
                ticketing.active_alerts, ticketing.status_jobs
   to ticketing_reader, ticketing_client;
