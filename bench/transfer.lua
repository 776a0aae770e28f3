-- wrk script for the wallet-transfer benchmark (bench/wallet.sh).
--
--   wrk -t2 -c32 -d10s --latency -s bench/transfer.lua \
--       http://127.0.0.1:PORT/api/v1/wallet/transfers -- USERS_FILE
--
-- USERS_FILE has one user per line, "<login_id> <access token>" (bench/wallet.sh writes it after
-- registering, logging in and charging each user). Every request:
--   * is sent by a random user (its bearer token) to a different random user (to_login_id),
--   * moves a random amount of 1..1000 won,
--   * carries a fresh Idempotency-Key (thread id, per-thread counter and a random number), so no
--     request is ever a replay: each one is a new money movement.
-- The body holds only plain ASCII (login ids are [a-z0-9_]), so no JSON escaping is needed.
--
-- At the end it prints one "status <code>: <count>" line per HTTP status seen (201 = transfer
-- made, 409 = insufficient_balance, anything else is an error) and a "transfers" summary line.

local counter = 1
local threads = {}

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

function init(args)
   local path = args[1] or error("usage: -- USERS_FILE")
   local f = assert(io.open(path, "r"))
   users = {}
   for line in f:lines() do
      local login, token = line:match("^(%S+)%s+(%S+)$")
      if login then
         table.insert(users, { login = login, auth = "Bearer " .. token })
      end
   end
   f:close()
   if #users < 2 then
      error("transfer.lua: need at least 2 users in " .. path .. ", found " .. #users)
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["User-Agent"] = "gonggu-bench/wrk"
   -- Each thread has its own Lua state; seed them differently.
   math.randomseed(os.time() * 1000 + id * 7919)
   sent = 0
   statuses = {}
end

function request()
   local n = #users
   local from = math.random(1, n)
   local to = math.random(1, n - 1)
   if to >= from then
      to = to + 1
   end
   sent = sent + 1
   local headers = {}
   for k, v in pairs(wrk.headers) do
      headers[k] = v
   end
   headers["Authorization"] = users[from].auth
   headers["Idempotency-Key"] = string.format("wrk-%d-%d-%d", id, sent, math.random(1, 2147483647))
   local body = string.format('{"to_login_id":"%s","amount":%d}', users[to].login, math.random(1, 1000))
   return wrk.format(nil, nil, headers, body)
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
   local made, refused, other = 0, 0, 0
   for _, code in ipairs(codes) do
      io.write(string.format("status %d: %d\n", code, total[code]))
      if code == 201 then
         made = made + total[code]
      elseif code == 409 then
         refused = refused + total[code]
      else
         other = other + total[code]
      end
   end
   io.write(string.format("transfers: %d made (201), %d refused (409), %d other\n", made, refused, other))
end
