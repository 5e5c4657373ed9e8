-- POST /api/v1/search/semantic with a query drawn from a fixed set, so a run exercises the
-- query-embedding cache the way repeated user queries do (the first pass embeds each one).
-- PACE_MS > 0 makes each connection wait that long between requests: N connections then
-- offer N * 1000 / PACE_MS requests a second, like N users rather than N load generators.
local queries = {
  "fresh citrus summer fragrance for men", "romantic rose perfume for women", "warm vanilla amber for winter nights",
  "green tea and bergamot", "smoky leather and oud", "powdery iris and violet", "aquatic marine scent for the beach",
  "sweet gourmand with caramel and tonka", "woody vetiver and cedar", "spicy cinnamon and clove", "white flowers jasmine tuberose",
  "clean musk and soap", "fruity pear and peach", "incense and myrrh", "lavender fougere barbershop", "coconut tropical summer",
  "patchouli chypre with oakmoss", "cherry almond", "fresh mint and lime", "tobacco and honey", "light daytime office scent",
  "strong evening perfume", "orange blossom neroli", "sandalwood and cardamom", "rain and petrichor",
  "coffee and chocolate", "fig leaf and milk", "pink pepper and grapefruit", "ambergris sea salt", "lily of the valley spring",
}
local filters = { "", ',"filters":{"gender":"male"}', ',"filters":{"seasons":["summer"]}', ',"filters":"year >= 2000"' }
local pace = tonumber(os.getenv("PACE_MS") or "0")
local extra = os.getenv("EXTRA") or ""   -- e.g. ',"understand":false' for plain vector search
local n = 0
request = function()
  n = n + 1
  local q = queries[(n % #queries) + 1]
  local f = filters[(n % #filters) + 1]
  local body = '{"query":"' .. q .. '","top_k":10' .. f .. extra .. '}'
  return wrk.format("POST", "/api/v1/search/semantic", {["Content-Type"] = "application/json"}, body)
end
if pace > 0 then
  delay = function() return math.random(math.floor(pace / 2), pace + math.floor(pace / 2)) end   -- jitter: connections must not fire in lockstep
end
local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors (non-2xx/socket) %d/%d, %.0f req/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.1f ms\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
