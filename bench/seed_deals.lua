-- wrk script that seeds deals through the API for the deals benchmark (bench/deals.sh).
--
--   wrk -t2 -c8 -d600s -s bench/seed_deals.lua http://127.0.0.1:PORT/api/v1/deals \
--       -- HOSTS_FILE TOTAL THREADS CANCEL_PCT MARK_DIR
--
-- HOSTS_FILE has one host per line, "<login_id> <access token>" (bench/deals.sh registers and
-- logs them in). TOTAL deals are created, split between the THREADS wrk threads (which must be
-- wrk's -t). Every request is a POST /api/v1/deals by a random host with a varied deal:
--   * a Korean title made of a shop, a product and a pack size ("코스트코 휴지 30롤 #123"), the
--     product's category (all 18 are used) and unit, a description and keywords naming both,
--     so that search (`q`, a substring match over title, description and keywords) and the
--     category filter see realistic data;
--   * a total price of 3,000..300,000 won, 2..20 shares (host holds 1, or 2 with a tipping point
--     of 2 for about 1 in 7 deals, which are then `confirmed` at once), 1..10 items per share;
--   * a deadline between now + 2 hours and now + 13 days (the rules allow 1 hour..14 days);
--   * a meeting place near one of a few Seoul stations, with a little jitter.
-- CANCEL_PCT percent of the created deals are then cancelled by their host
-- (DELETE /api/v1/deals/<id>), so the "open deals" filter of the home page has something to
-- filter out.
--
-- wrk runs for its -d whatever happens, so each thread, once its share is created and
-- cancelled (or at the first unexpected answer), writes MARK_DIR/seed-<thread>.done and
-- stops; bench/deals.sh waits for those files and then interrupts wrk (SIGINT), which prints
-- the summary below. Between the last POST sent and its answer, a connection that needs a
-- request gets GET /api/v1/__bench_idle (a cheap 404 of the API's fallback route).
-- Requests are counted as sent in request(), so the shape check wrk makes before starting
-- (see delay() below) is told apart from the real requests.
--
-- At the end it prints one "status <code>: <count>" line per HTTP status seen and a
-- "seed: <created> created, <cancelled> cancelled, <errors> errors" line.

local counter = 1
local threads = {}

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

local SHOPS = { "코스트코", "트레이더스", "이마트", "홈플러스", "노브랜드", "쿠팡", "마켓컬리", "농협하나로", "롯데마트", "동네마트" }

-- { product, category id, unit, pack sizes }
local PRODUCTS = {
   { "휴지", 4, "팩", { "30롤", "24롤", "3겹 30롤" } },
   { "키친타올", 4, "팩", { "12롤", "6롤" } },
   { "주방세제", 4, "병", { "1L 3개", "750ml 4개" } },
   { "세탁세제", 4, "병", { "3L 2개", "캡슐 80개" } },
   { "물티슈", 4, "팩", { "100매 10팩", "80매 20팩" } },
   { "지퍼백", 4, "박스", { "대 100매", "중 150매" } },
   { "생수", 15, "병", { "2L 12병", "500ml 40병" } },
   { "라면", 15, "개", { "40봉", "멀티팩 20개" } },
   { "커피", 15, "개", { "믹스 300개", "원두 1kg" } },
   { "캡슐커피", 15, "개", { "100캡슐", "60캡슐" } },
   { "계란", 15, "개", { "30구", "60구" } },
   { "감귤", 15, "kg", { "5kg", "10kg" } },
   { "사과", 15, "kg", { "5kg", "3kg" } },
   { "즉석밥", 15, "개", { "24개", "36개" } },
   { "참치캔", 15, "개", { "12캔", "24캔" } },
   { "올리브유", 15, "병", { "1L 2병", "3L" } },
   { "견과류", 15, "g", { "1kg", "하루견과 50봉" } },
   { "기저귀", 5, "팩", { "4단계 4팩", "팬티형 대형 3팩" } },
   { "아기물티슈", 5, "팩", { "캡형 10팩", "20팩" } },
   { "분유", 5, "개", { "800g 3캔", "6캔" } },
   { "그림책", 6, "권", { "전집 30권", "10권 세트" } },
   { "동화책", 6, "권", { "명작 20권", "전래동화 15권" } },
   { "레깅스", 7, "장", { "5장 세트", "3장" } },
   { "양말", 9, "켤레", { "10켤레", "20켤레" } },
   { "장바구니", 8, "개", { "5개", "10개" } },
   { "샴푸", 10, "병", { "1L 3병", "리필 6개" } },
   { "치약", 10, "개", { "12개", "20개" } },
   { "마스크팩", 10, "장", { "30매", "50매" } },
   { "충전케이블", 1, "개", { "5개", "3개" } },
   { "건전지", 1, "개", { "AA 48개", "AAA 40개" } },
   { "공기청정기 필터", 2, "개", { "2개", "4개" } },
   { "전구", 2, "개", { "LED 10개", "6개" } },
   { "수납함", 3, "개", { "6개", "리빙박스 4개" } },
   { "테니스공", 11, "개", { "24개", "48개" } },
   { "보드게임", 12, "세트", { "세트", "확장팩 3개" } },
   { "문제집", 13, "권", { "5권", "10권" } },
   { "영화관람권", 14, "장", { "10장", "20장" } },
   { "고양이 사료", 16, "kg", { "7kg", "10kg" } },
   { "고양이 모래", 16, "자루", { "10kg 3자루", "6자루" } },
   { "배변패드", 16, "장", { "200매", "400매" } },
   { "다육이", 17, "개", { "10종", "20개" } },
   { "분갈이 흙", 17, "자루", { "50L 2자루", "5자루" } },
   { "종이컵", 18, "개", { "1000개", "500개" } },
   { "우산", 18, "개", { "10개", "5개" } },
}

local PLACES = {
   { "역삼역", 37.5006, 127.0364 }, { "강남역", 37.4979, 127.0276 }, { "잠실역", 37.5133, 127.1001 },
   { "홍대입구역", 37.5572, 126.9245 }, { "신림역", 37.4842, 126.9297 }, { "노원역", 37.6551, 127.0613 },
   { "판교역", 37.3948, 127.1112 }, { "목동역", 37.5260, 126.8750 }, { "수유역", 37.6380, 127.0257 },
   { "사당역", 37.4765, 126.9816 },
}

function init(args)
   local path = args[1] or error("usage: -- HOSTS_FILE TOTAL THREADS CANCEL_PCT MARK_DIR")
   local total = tonumber(args[2]) or error("seed_deals.lua: TOTAL missing")
   local nthreads = tonumber(args[3]) or error("seed_deals.lua: THREADS missing")
   cancel_pct = tonumber(args[4]) or 0
   mark_dir = args[5] or error("seed_deals.lua: MARK_DIR missing")
   hosts = {}
   auth_of = {}
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      local login, token = line:match("^(%S+)%s+(%S+)$")
      if login then
         table.insert(hosts, { login = login, auth = "Bearer " .. token })
         auth_of[login] = "Bearer " .. token
      end
   end
   f:close()
   if #hosts < 1 then
      error("seed_deals.lua: no hosts in " .. path)
   end
   -- This thread's share: total / threads, the remainder to thread 1.
   quota = math.floor(total / nthreads)
   if id == 1 then
      quota = quota + total - quota * nthreads
   end
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["User-Agent"] = "gonggu-bench/wrk"
   math.randomseed(os.time() * 1000 + id * 7919)
   sent, created, cancelled, errors, idle = 0, 0, 0, 0, 0
   to_cancel = {}
   cancels_sent = 0
   statuses = {}
   started = false
   finished = false
   first_error = nil
end

local function pick(t)
   return t[math.random(1, #t)]
end

local function deal_body(n)
   local shop = pick(SHOPS)
   local p = pick(PRODUCTS)
   local size = pick(p[4])
   local product, category, unit = p[1], p[2], p[3]
   local title = string.format("%s %s %s #%d", shop, product, size, n)
   local shares = math.random(2, 20)
   local min_shares, host_shares = math.random(2, shares), 1
   if shares > 2 and math.random(1, 7) == 1 then
      min_shares, host_shares = 2, 2 -- tipping point reached at once: `confirmed`
   end
   local place = pick(PLACES)
   local lat = place[2] + (math.random() - 0.5) * 0.01
   local lon = place[3] + (math.random() - 0.5) * 0.01
   local deadline = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + math.random(2 * 3600, 13 * 86400))
   local description = string.format("%s에서 %s %s 사서 %d몫으로 나눠요. %s 근처에서 만나요. 포장 그대로 드려요.",
      shop, product, size, shares, place[1])
   return string.format(
      '{"title":"%s","description":"%s","category_id":%d,"total_price":%d,"shares_total":%d,"min_shares":%d,"host_shares":%d,'
         .. '"items_per_share":%d,"unit":"%s","deadline":"%s","keywords":["%s","%s"],'
         .. '"meeting_place":{"name":"%s","lat":%.6f,"lon":%.6f}}',
      title, description, category, math.random(300, 30000) * 10, shares, min_shares, host_shares,
      math.random(1, 10), unit, deadline, product, shop, place[1], lat, lon)
end

local function headers_with(auth)
   local h = {}
   for k, v in pairs(wrk.headers) do
      h[k] = v
   end
   h["Authorization"] = auth
   return h
end

-- wrk calls request() once in the first thread before any connection exists, only to check
-- the request's shape (script_verify_request); that call must not count as a deal sent. It
-- calls delay() before every real request and not before that check, so `started` tells them
-- apart. Once this thread's deals are all sent, the idle filler waits 20 ms between requests
-- instead of flooding the server while the last answers come in.
function delay()
   started = true
   if (sent >= quota or finished) and #to_cancel == 0 then
      return 20
   end
   return 0
end

function request()
   if not started then
      return wrk.format("GET", "/api/v1/__bench_idle", nil, nil)
   end
   local c = table.remove(to_cancel)
   if c then
      cancels_sent = cancels_sent + 1
      return wrk.format("DELETE", "/api/v1/deals/" .. c.id, headers_with(c.auth), nil)
   end
   if sent < quota and not finished then
      sent = sent + 1
      local host = pick(hosts)
      return wrk.format("POST", "/api/v1/deals", headers_with(host.auth), deal_body(id * 1000000 + sent))
   end
   return wrk.format("GET", "/api/v1/__bench_idle", nil, nil)
end

local function finish()
   if finished then
      return
   end
   finished = true
   local f = io.open(string.format("%s/seed-%d.done", mark_dir, id), "w")
   if f then
      f:write(string.format("created %d cancelled %d errors %d%s\n", created, cancelled, errors,
         first_error and (" first_error " .. first_error) or ""))
      f:close()
   end
   wrk.thread:stop()
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 201 then
      created = created + 1
      if math.random() * 100 < cancel_pct then
         local deal_id = body:match('^{"id":"([0-9a-f%-]+)"')
         local login = body:match('"host":{"login_id":"([^"]+)"}')
         if deal_id and login and auth_of[login] then
            table.insert(to_cancel, { id = deal_id, auth = auth_of[login] })
         end
      end
   elseif status == 200 then
      cancelled = cancelled + 1
   elseif status == 404 and body:find("deal_not_found", 1, true) == nil then
      idle = idle + 1 -- the idle filler's answer
   else
      errors = errors + 1
      first_error = first_error or (status .. " " .. body:sub(1, 200):gsub("%s+", " "))
   end
   if errors > 0 or (created + errors >= quota and #to_cancel == 0 and cancelled >= cancels_sent) then
      finish()
   end
end

function done(summary, latency, requests)
   local total = {}
   local c, x, e = 0, 0, 0
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if s then
         for code, n in pairs(s) do
            total[code] = (total[code] or 0) + n
         end
      end
      c = c + (thread:get("created") or 0)
      x = x + (thread:get("cancelled") or 0)
      e = e + (thread:get("errors") or 0)
   end
   local codes = {}
   for code in pairs(total) do
      table.insert(codes, code)
   end
   table.sort(codes)
   for _, code in ipairs(codes) do
      io.write(string.format("status %d: %d\n", code, total[code]))
   end
   io.write(string.format("seed: %d created, %d cancelled, %d errors\n", c, x, e))
end
