-- Tables of the ticket lifecycle. The state machine's data (statuses, transitions) lives here too:
-- it is the one place the allowed transitions are written down, read by the functions in 2-state-machine.sql.
create schema if not exists ticketing;

create table ticketing.ticket_statuses (
  status   text primary key,
  terminal boolean not null
);
insert into ticketing.ticket_statuses (status, terminal) values
  ('usable', false), ('used', true), ('refunded', true),
  ('changing', false), ('changed', false), ('expired', true);

create table ticketing.transitions (
  from_status text not null references ticketing.ticket_statuses,
  to_status   text not null references ticketing.ticket_statuses,
  event_type  text not null,
  primary key (from_status, to_status)
);
insert into ticketing.transitions (from_status, to_status, event_type) values
  ('usable',   'used',     'ticket.used'),
  ('usable',   'refunded', 'ticket.refunded'),
  ('usable',   'changing', 'ticket.changing'),
  ('usable',   'expired',  'ticket.expired'),
  ('changing', 'changed',  'ticket.changed'),
  ('changed',  'usable',   'ticket.reissued');

create table ticketing.orders (
  id           bigint primary key,
  status       text not null default 'open' check (status in ('open', 'completed', 'cancelled')),
  created_at   timestamptz not null default now(),
  completed_at timestamptz,
  cancelled_at timestamptz
);

create table ticketing.tickets (
  id         bigint primary key,
  order_id   bigint not null references ticketing.orders,
  status     text not null default 'usable' references ticketing.ticket_statuses,
  valid_end  timestamptz not null,
  -- Number of transitions applied so far; the audit row of transition n carries seq = n, so the audit
  -- order is the transition order even when transactions started in another order.
  seq        bigint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index tickets_order_status_idx on ticketing.tickets (order_id, status);
-- The expiry sweep reads only usable tickets by validity: a small partial index, not a scan. The id
-- makes (valid_end, id) a unique position a sweep can resume after (ticketing.expire_batch).
create index tickets_expiry_idx on ticketing.tickets (valid_end, id) where status = 'usable';

create table ticketing.ticket_status_audit (
  id          bigint generated always as identity primary key,
  ticket_id   bigint not null references ticketing.tickets,
  seq         bigint not null,
  prev_status text not null,
  new_status  text not null,
  event_id    text not null,
  event       text,
  meta        jsonb not null default '{}',
  created_at  timestamptz not null default clock_timestamp(),
  constraint ticket_status_audit_idempotency unique (ticket_id, new_status, event_id),
  constraint ticket_status_audit_order unique (ticket_id, seq)
);
create index ticket_status_audit_ticket_created_idx on ticketing.ticket_status_audit (ticket_id, created_at);

create table ticketing.outbox (
  id              bigint generated always as identity primary key,
  event_id        text not null unique,
  type            text not null,
  ticket_id       bigint,
  order_id        bigint,
  -- The ticket's transition number for ticket events: receivers order one ticket's events by it.
  seq             bigint,
  payload         jsonb not null,
  created_at      timestamptz not null default clock_timestamp(),
  published_at    timestamptz,
  attempts        integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error      text
);
create index outbox_undelivered_idx on ticketing.outbox (next_attempt_at, id) where published_at is null;
-- Per-ticket delivery order: "is an earlier event of this ticket still undelivered?"
create index outbox_ticket_undelivered_idx on ticketing.outbox (ticket_id, id) where published_at is null;
create index outbox_published_idx on ticketing.outbox (published_at) where published_at is not null;

create table ticketing.ticket_requests (
  id           bigint generated always as identity primary key,
  event_id     text not null unique,
  kind         text not null check (kind in ('refund', 'change')),
  ticket_id    bigint not null,
  status       text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  meta         jsonb not null default '{}',
  error        text,
  attempts     integer not null default 0,
  -- A worker that is processing the request holds it until this time; a crashed worker's lease runs out.
  locked_until timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  finished_at  timestamptz
);
create index ticket_requests_pending_idx on ticketing.ticket_requests (updated_at) where status = 'pending';
create index ticket_requests_ticket_idx on ticketing.ticket_requests (ticket_id);

create table ticketing.alerts (
  id         bigint generated always as identity primary key,
  key        text not null,
  kind       text not null,
  message    text not null,
  details    jsonb not null default '{}',
  raised_at  timestamptz not null default clock_timestamp(),
  cleared_at timestamptz
);
create unique index alerts_one_active_per_key on ticketing.alerts (key) where cleared_at is null;

-- Consecutive failures per task, counted in the database so the count holds across daemon processes.
create table ticketing.job_health (
  task                 text primary key,
  consecutive_failures integer not null default 0,
  last_success_at      timestamptz,
  last_failure_at      timestamptz,
  last_error           text
);
