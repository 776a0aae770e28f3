-- wrk script for the login-throughput benchmark (bench/run.sh).
--
--   wrk -t2 -c100 -d10s --latency --timeout 30s -s bench/login.lua \
--       http://127.0.0.1:PORT/api/v1/auth/login -- LOGIN_ID PASSWORD
--
-- Every request POSTs the login JSON and carries its own random X-Forwarded-For address.
-- gonggu (with http.trust_proxy = true) takes the client address from that header, so the
-- per-address limits (30 logins/min per address, 5 per 5 min per address and login id) do not
-- turn the benchmark into a measurement of 429 answers. The addresses are drawn from
-- 127.0.0.0/8: they are only header values, no packet is ever sent to them.
--
-- At the end it prints one "status <code>: <count>" line per HTTP status seen, so a run that
-- was rate-limited (429) or rejected (401) shows it plainly.

local counter = 1
local threads = {}

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

function init(args)
   local login_id = args[1] or "bench_user"
   local password = args[2] or "coffee-and-tissues-42"
   -- Neither value needs JSON escaping (bench/run.sh uses plain ASCII without quotes).
   wrk.method = "POST"
   wrk.body = string.format('{"login_id":"%s","password":"%s"}', login_id, password)
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["User-Agent"] = "gonggu-bench/wrk"
   -- Each thread has its own Lua state; seed them differently.
   math.randomseed(os.time() * 1000 + id * 7919)
   statuses = {}
end

function request()
   local headers = {}
   for k, v in pairs(wrk.headers) do
      headers[k] = v
   end
   headers["X-Forwarded-For"] = string.format("127.%d.%d.%d",
      math.random(0, 255), math.random(0, 255), math.random(1, 254))
   return wrk.format(nil, nil, headers, nil)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if s then
         for code, n in pairs(s) do
            total[code] = (total[code] or 0) + n
         end
      end
   end
   local codes = {}
   for code in pairs(total) do
      table.insert(codes, code)
   end
   table.sort(codes)
   for _, code in ipairs(codes) do
      io.write(string.format("status %d: %d\n", code, total[code]))
   end
end
