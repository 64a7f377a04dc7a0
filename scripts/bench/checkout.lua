-- wrk script: each connection alternates "add a mouse to a new user's cart"
-- and "order that cart" through the gateway. Counts orders created (201).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  n = 0
  created = 0
  refused = 0
  prefix = "bench" .. id .. "-" .. math.random(1, 1e9) .. "-"
end

function request()
  n = n + 1
  local user = prefix .. math.floor((n + 1) / 2)
  if n % 2 == 1 then
    return wrk.format("POST", "/api/cart/cart/" .. user .. "/items",
      {["Content-Type"] = "application/json"}, '{"product_id": 2, "quantity": 1}')
  end
  return wrk.format("POST", "/api/order/orders",
    {["Content-Type"] = "application/json"}, '{"user_id": "' .. user .. '"}')
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status >= 400 then
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total_created, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_created = total_created + thread:get("created")
    total_refused = total_refused + thread:get("refused")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("checkouts: %d orders in %.1f s = %.0f orders/s (%d error answers)\n",
    total_created, seconds, total_created / seconds, total_refused))
end
