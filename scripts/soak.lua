-- wrk script for scripts/soak.sh: GET /get_balance over every seeded user, and a count of
-- the answers by HTTP status.
--
-- wrk runs each thread in its own Lua state, so the counts live in a global of each thread
-- (`counts`) and done() adds them up through thread:get(), which copies tables.
--
-- done() prints machine-readable lines starting with "SOAK " for soak.sh to parse, after
-- wrk's own report. Latencies are in microseconds, as wrk measures them.

-- The wallet seeds users 1..1000 (runner-example's SEEDED_USERS): every id asked for exists,
-- so anything but a 200 is worth a look.
local users = 1000

local threads = {}

-- Runs in the main Lua state, once per thread before it starts.
function setup(thread)
   -- Spread the threads' starting points over the id range, so that they do not ask for
   -- the same user in lockstep.
   thread:set("first_user", (#threads * 397) % users)
   table.insert(threads, thread)
end

-- Runs in each thread's state.
function init(args)
   next_user = first_user or 0
   counts = {}
end

-- Round robin over 1..users rather than random: every user is asked for equally often, and
-- a run is reproducible.
function request()
   next_user = next_user % users + 1
   return wrk.format("GET", "/get_balance?user_id=" .. next_user)
end

function response(status, headers, body)
   counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local thread_counts = thread:get("counts") or {}
      for status, n in pairs(thread_counts) do
         total[status] = (total[status] or 0) + n
      end
   end
   local statuses = {}
   for status in pairs(total) do
      table.insert(statuses, status)
   end
   table.sort(statuses)
   for _, status in ipairs(statuses) do
      io.write(string.format("SOAK status %d %d\n", status, total[status]))
   end
   io.write(string.format("SOAK requests %d\n", summary.requests))
   io.write(string.format("SOAK duration_us %d\n", summary.duration))
   io.write(string.format("SOAK p50_us %d\n", latency:percentile(50.0)))
   io.write(string.format("SOAK p99_us %d\n", latency:percentile(99.0)))
   io.write(string.format("SOAK max_us %d\n", latency.max))
   local e = summary.errors
   io.write(string.format("SOAK errors connect=%d read=%d write=%d timeout=%d\n",
                          e.connect, e.read, e.write, e.timeout))
   io.write(string.format("SOAK socket_errors %d\n",
                          e.connect + e.read + e.write + e.timeout))
end
