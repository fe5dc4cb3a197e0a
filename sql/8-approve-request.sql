-- The built-in approve policy (card §8: without a refund-processing or change service, the request was
-- approved upstream) as one transaction: no service call to wait for, so there is nothing to hold a
-- lease across, and claiming, deciding and applying together cost one round trip and one commit instead
-- of two. The steps are the same functions the service path uses one by one; only the decision is made
-- here: refund -> refunded; change -> changed, re-issued with meta.valid_end when it is a string.
-- Outcome: succeeded / rejected (request failed, alert raised) / unknown (no such ticket, request failed)
-- / finished / busy / mismatch (as ticketing.claim_request says).
create function ticketing.approve_request(p_kind text, p_ticket_id bigint, p_event_id text, p_meta jsonb)
returns table (outcome text, target_status text, completed_orders integer, cancelled_orders integer)
language plpgsql
set search_path = ticketing, pg_temp
as $$
declare
  v_claim record;
  v_target text := case p_kind when 'refund' then 'refunded' else 'changed' end;
  v_valid_end timestamptz;
  v_begun text;
begin
  -- The lease is taken and given back within this transaction: it only keeps the service path's rules.
  select c.outcome, c.meta into v_claim from ticketing.claim_request(p_kind, p_ticket_id, p_event_id, p_meta, interval '1 minute') c;
  if v_claim.outcome <> 'claimed' then
    return query select v_claim.outcome, v_target, 0, 0;
    return;
  end if;
  if not exists (select 1 from ticketing.tickets t where t.id = p_ticket_id) then
    perform ticketing.fail_request(p_event_id, format('unknown ticket %s', p_ticket_id), false);
    return query select 'unknown', v_target, 0, 0;
    return;
  end if;

  if p_kind = 'change' then
    -- Read before the first step, so a change that cannot be applied leaves the ticket as it was.
    if jsonb_typeof(v_claim.meta -> 'valid_end') = 'string' then
      begin
        v_valid_end := (v_claim.meta ->> 'valid_end')::timestamptz;
      exception when data_exception then
        perform ticketing.fail_request(p_event_id, format('meta.valid_end %L is not a timestamp', v_claim.meta ->> 'valid_end'), true);
        return query select 'rejected', v_target, 0, 0;
        return;
      end;
    end if;
    v_begun := ticketing.begin_change(p_event_id);
    if v_begun in ('rejected', 'finished') then
      return query select v_begun, 'changing'::text, 0, 0;
      return;
    end if;
  end if;

  return query select d.outcome, v_target, d.completed_orders, d.cancelled_orders
                 from ticketing.apply_decision(p_event_id, v_target, v_valid_end, '{}') d;
end $$;

revoke execute on all functions in schema ticketing from public;
