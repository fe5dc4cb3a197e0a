-- Least privilege. Roles are cluster-wide, so they are created once and shared by every database
-- of the cluster; a concurrent migration of another database may create them first.
do $$
declare
  v_role text;
begin
  foreach v_role in array array['ticketing_client', 'ticketing_reader'] loop
    begin
      if not exists (select 1 from pg_roles where rolname = v_role) then
        execute format('create role %I nologin', v_role);
      end if;
    exception when duplicate_object or unique_violation then null;
    end;
  end loop;
end $$;

revoke all on schema ticketing from public;
-- PostgreSQL grants EXECUTE on every new function to PUBLIC, and a schema's default privileges cannot
-- take that back: every migration that creates functions ends with this same revoke.
revoke execute on all functions in schema ticketing from public;

grant usage on schema ticketing to ticketing_client, ticketing_reader;
grant select on all tables in schema ticketing to ticketing_client, ticketing_reader;
alter default privileges in schema ticketing grant select on tables to ticketing_client, ticketing_reader;
grant execute on function
  ticketing.redeem_ticket(bigint, text, jsonb),
  ticketing.request_refund(bigint, text, jsonb),
  ticketing.request_change(bigint, text, jsonb)
  to ticketing_client;
