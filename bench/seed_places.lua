-- wrk script that seeds deals spread across Korea for the 우리동네 benchmark (bench/places.sh).
--
--   wrk -t2 -c16 -d1800s -s bench/seed_places.lua http://127.0.0.1:PORT/api/v1/deals \
--       -- HOSTS_FILE POINTS_FILE THREADS MARK_DIR [FIRST]
--
-- HOSTS_FILE has one host per line, "<login_id> <access token>". POINTS_FILE has one meeting
-- place per line, "lat<TAB>lon<TAB>code<TAB>동 name" (bench/places_points.py writes it): one deal
-- is created per line, line i by wrk thread ((i - 1) % THREADS) + 1, so every point is used
-- exactly once whatever the timing and the deals' places follow the file's distribution. Lines
-- before FIRST (default 1) are skipped (bench/places.sh posts line 1 by hand).
-- Every request is a POST /api/v1/deals by a random host with a varied deal, as
-- bench/seed_deals.lua makes them (Korean titles of a shop, a product and a pack size, the
-- product's category and unit, 2..20 shares, about 1 in 7 `confirmed` at once, a deadline
-- between now + 2 hours and now + 13 days), meeting at the line's point, named after its 동
-- ("역삼동 주민센터 앞"). Nothing is cancelled: every seeded deal is open (recruiting or
-- confirmed). The server itself resolves the point to its 동 (meeting_code) and grid cell.
--
-- Like seed_deals.lua: each thread, once its share is created (or at the first unexpected
-- answer), writes MARK_DIR/seed-<thread>.done and stops; the script then interrupts wrk (SIGINT)
-- and reads the "status <code>: <count>" and "seed: <created> created, 0 cancelled, <errors>
-- errors" lines printed by done(). Between the last POST sent and its answer, a connection that
-- needs a request gets GET /api/v1/__bench_idle (a cheap 404).

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

local SPOTS = { "주민센터 앞", "역 출구", "공원 입구", "아파트 정문", "편의점 앞", "도서관 앞" }

function init(args)
   local hosts_path = args[1] or error("usage: -- HOSTS_FILE POINTS_FILE THREADS MARK_DIR [FIRST]")
   local points_path = args[2] or error("seed_places.lua: POINTS_FILE missing")
   local nthreads = tonumber(args[3]) or error("seed_places.lua: THREADS missing")
   mark_dir = args[4] or error("seed_places.lua: MARK_DIR missing")
   local first = tonumber(args[5] or "1")
   hosts = {}
   local f = assert(io.open(hosts_path, "r"))
   for line in f:lines() do
      local login, token = line:match("^(%S+)%s+(%S+)$")
      if login then
         table.insert(hosts, { login = login, auth = "Bearer " .. token })
      end
   end
   f:close()
   if #hosts < 1 then
      error("seed_places.lua: no hosts in " .. hosts_path)
   end
   -- This thread's points: lines first.. whose (line - 1) % nthreads == id - 1.
   points = {}
   local i = 0
   f = assert(io.open(points_path, "r"))
   for line in f:lines() do
      i = i + 1
      if i >= first and (i - 1) % nthreads == id - 1 then
         local lat, lon, code, name = line:match("^(%S+)\t(%S+)\t(%S+)\t(.+)$")
         if lat then
            table.insert(points, { n = i, lat = lat, lon = lon, name = name })
         end
      end
   end
   f:close()
   quota = #points
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["User-Agent"] = "gonggu-bench/wrk"
   math.randomseed(4242 + id * 7919)
   sent, created, errors, idle = 0, 0, 0, 0
   statuses = {}
   started = false
   finished = false
   first_error = nil
   done_marked = false
end

local function pick(t)
   return t[math.random(1, #t)]
end

local function deal_body(p)
   local shop = pick(SHOPS)
   local prod = pick(PRODUCTS)
   local size = pick(prod[4])
   local product, category, unit = prod[1], prod[2], prod[3]
   local title = string.format("%s %s %s #%d", shop, product, size, p.n)
   local shares = math.random(2, 20)
   local min_shares, host_shares = math.random(2, shares), 1
   if shares > 2 and math.random(1, 7) == 1 then
      min_shares, host_shares = 2, 2 -- tipping point reached at once: `confirmed`
   end
   local place = p.name .. " " .. pick(SPOTS)
   local deadline = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + math.random(2 * 3600, 13 * 86400))
   local description = string.format("%s에서 %s %s 사서 %d몫으로 나눠요. %s에서 만나요. 포장 그대로 드려요.",
      shop, product, size, shares, place)
   return string.format(
      '{"title":"%s","description":"%s","category_id":%d,"total_price":%d,"shares_total":%d,"min_shares":%d,"host_shares":%d,'
         .. '"items_per_share":%d,"unit":"%s","deadline":"%s","keywords":["%s","%s"],'
         .. '"meeting_place":{"name":"%s","lat":%s,"lon":%s}}',
      title, description, category, math.random(300, 30000) * 10, shares, min_shares, host_shares,
      math.random(1, 10), unit, deadline, product, shop, place, p.lat, p.lon)
end

local function headers_with(auth)
   local h = {}
   for k, v in pairs(wrk.headers) do
      h[k] = v
   end
   h["Authorization"] = auth
   return h
end

local function finish()
   if done_marked then
      return
   end
   done_marked = true
   finished = true
   local f = io.open(string.format("%s/seed-%d.done", mark_dir, id), "w")
   if f then
      f:write(string.format("created %d cancelled 0 errors %d%s\n", created, errors,
         first_error and (" first_error " .. first_error) or ""))
      f:close()
   end
   wrk.thread:stop()
end

-- As in seed_deals.lua: wrk's shape check calls request() before any delay(); once this
-- thread's deals are all sent, the idle filler waits 20 ms between requests.
function delay()
   started = true
   if quota == 0 then
      finish()
   end
   if sent >= quota or finished then
      return 20
   end
   return 0
end

function request()
   if not started then
      return wrk.format("GET", "/api/v1/__bench_idle", nil, nil)
   end
   if sent < quota and not finished then
      sent = sent + 1
      local host = pick(hosts)
      return wrk.format("POST", "/api/v1/deals", headers_with(host.auth), deal_body(points[sent]))
   end
   return wrk.format("GET", "/api/v1/__bench_idle", nil, nil)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status == 201 then
      created = created + 1
   elseif status == 404 and body:find("deal_not_found", 1, true) == nil then
      idle = idle + 1 -- the idle filler's answer
   else
      errors = errors + 1
      first_error = first_error or (status .. " " .. body:sub(1, 200):gsub("%s+", " "))
   end
   if errors > 0 or created + errors >= quota then
      finish()
   end
end

function done(summary, latency, requests)
   local total = {}
   local c, e = 0, 0
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if s then
         for code, n in pairs(s) do
            total[code] = (total[code] or 0) + n
         end
      end
      c = c + (thread:get("created") or 0)
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
   io.write(string.format("seed: %d created, 0 cancelled, %d errors\n", c, e))
end
