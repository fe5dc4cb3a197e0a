-- The expiry sweep's job identity, written once: which task it is, the queue that keeps one sweep running at a
-- time across every daemon, the job key that keeps one queued (a sweep still waiting keeps its run_at), the
-- attempts (one: the next scheduled tick is the retry, so "three failed runs in a row" means three ticks) and
-- the batch size a sweep uses when it is not given one. Every path that queues a sweep takes it from here:
-- ticketing.queue_sweep (the CLI's `expire`, the demo), and the daemon, which reads it once at start-up for
-- its schedule's expire_job and for the sweep an interrupted run queues again.

create function ticketing.sweep_job(out task_identifier text, out queue_name text, out job_key text,
                                    out job_key_mode text, out max_attempts integer, out batch_size integer)
language sql
immutable
set search_path = ticketing, pg_temp
as $$
  select 'expire_tickets', 'expire_tickets', 'expire_tickets', 'preserve_run_at', 1, 200;
$$;

-- A sweep due now, with the sweep's identity; p_batch_size null: the identity's batch size. Returns the job's id.
create or replace function ticketing.queue_sweep(p_batch_size integer default null) returns bigint
language sql
set search_path = ticketing, pg_temp
as $$
  select j.id
    from ticketing.sweep_job() s,
         graphile_worker.add_job(s.task_identifier, json_build_object('batch_size', coalesce(p_batch_size, s.batch_size)),
                                 queue_name => s.queue_name, job_key => s.job_key, job_key_mode => s.job_key_mode,
                                 max_attempts => s.max_attempts) j;
$$;
